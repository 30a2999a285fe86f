// Command kubectl-agentgroup is the kubectl plugin of the operator
// (`kubectl agentgroup ...`): import an existing DeepCall account into
// manifests, diff manifests against the live account, show the tree of an
// Account's AgentGroups, ask for a resync, and check a real brand host.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/agentgroups/agentgroup-operator/internal/plugin"
)

func main() {
	os.Exit(plugin.Run(os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}
