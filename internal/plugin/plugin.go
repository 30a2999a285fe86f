// Package plugin is `kubectl agentgroup`: the commands, kubectl's flags and
// config loading (k8s.io/cli-runtime), and the Group API client of an
// Account built from its Secret with the person's own kubeconfig rights.
package plugin

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/version"
)

// Exit codes, as kubectl diff's: 0 nothing to report, 1 an error, 2
// differences found.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitChanges = 2
)

// exitCode ends a command with a code other than 1 and no error message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// Run runs the plugin with args (without the program name) and returns the
// process's exit code.
func Run(args []string, streams genericiooptions.IOStreams) int {
	cmd := NewCommand(streams)
	cmd.SetArgs(args)
	err := cmd.Execute()
	var code exitCode
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &code):
		return int(code)
	}
	fmt.Fprintln(streams.ErrOut, "error:", err)
	return ExitError
}

// Factory is what every command shares: kubectl's flags and the streams.
type Factory struct {
	Flags   *genericclioptions.ConfigFlags
	Streams genericiooptions.IOStreams
	// AllowInsecureLoopback lets Accounts with an http:// loopback baseURL
	// be called (the simulator; the manager's flag of the same name).
	AllowInsecureLoopback bool
}

// NewCommand is the root command with every subcommand.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	f := &Factory{Flags: genericclioptions.NewConfigFlags(true), Streams: streams}
	cmd := &cobra.Command{
		Use:   "kubectl-agentgroup",
		Short: "Work with DeepCall agent groups managed by agentgroup-operator",
		Long: `kubectl agentgroup imports an existing DeepCall account into AgentGroup
manifests, shows what the operator would do for manifests before they are
applied, shows an Account's AgentGroups and why any is stuck, asks for an
immediate drift check, and checks a brand host's API against what the
operator expects.`,
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl agentgroup"},
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	f.Flags.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().BoolVar(&f.AllowInsecureLoopback, "allow-insecure-loopback", false,
		"call Accounts whose baseURL is plain http:// to a loopback host (the simulator)")
	cmd.AddCommand(newImportCommand(f), newDiffCommand(f), newTreeCommand(f), newResyncCommand(f), newDoctorCommand(f))
	return cmd
}

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(deepcallv1.AddToScheme(s))
	return s
}()

// Client is a client of the cluster the flags select.
func (f *Factory) Client() (client.Client, error) {
	cfg, err := f.Flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// ClientIn is Client and Namespace together, as most commands need both.
func (f *Factory) ClientIn() (client.Client, string, error) {
	ns, err := f.Namespace()
	if err != nil {
		return nil, "", err
	}
	c, err := f.Client()
	return c, ns, err
}

// Namespace is the namespace the flags or the kubeconfig's context select.
func (f *Factory) Namespace() (string, error) {
	ns, _, err := f.Flags.ToRawKubeConfigLoader().Namespace()
	return ns, err
}
