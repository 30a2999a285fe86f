//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// agentgroup runs `kubectl agentgroup ARGS` as a person does: kubectl
// finds bin/kubectl-agentgroup on PATH. It returns what the plugin printed
// on stdout and stderr and its exit code.
func agentgroup(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// kubectl takes no flag before a plugin's name: --kubeconfig goes to
	// the plugin, which reads kubectl's flags.
	cmd := exec.Command(env.Bin("k8s/kubectl"), append([]string{"agentgroup", "--kubeconfig", env.Kubeconfig, "--allow-insecure-loopback"}, args...)...)
	cmd.Dir = env.Root
	cmd.Env = append(os.Environ(), "PATH="+env.Bin("")+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("kubectl agentgroup %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("kubectl agentgroup %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

// simCalls is the simulator's count of API requests by operation.
func simCalls(t *testing.T) map[string]int {
	t.Helper()
	var calls map[string]int
	simGet(t, "/_sim/calls", &calls)
	return calls
}

// writeCalls counts the requests that could change a remote group.
func writeCalls(calls map[string]int) int {
	return calls["add"] + calls["update"] + calls["delete"] + calls["submitAssignGroupToAgent"]
}

// nonZero drops the operations with no call.
func nonZero(calls map[string]int) map[string]int {
	out := map[string]int{}
	for op, n := range calls {
		if n != 0 {
			out[op] = n
		}
	}
	return out
}
