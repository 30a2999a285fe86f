package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

type treeOptions struct {
	f             *Factory
	allNamespaces bool
	noColor       bool
}

func newTreeCommand(f *Factory) *cobra.Command {
	o := &treeOptions{f: f}
	cmd := &cobra.Command{
		Use:   "tree [ACCOUNT] [-n NAMESPACE | -A]",
		Short: "Show Accounts and their AgentGroups, stuck ones first, and why",
		Long: `Show an Account (or ClusterAccount) with its state, remote account and
rate budget, then its AgentGroups as a tree with READY, REASON, DRIFT (the
number of differences in status.drift), LAST SYNC and GROUP ID: stalled
ones first, then those not Ready, each with the message that says why.

ACCOUNT is NAME (the Account of that name in the namespace, else the
ClusterAccount), account/NAME or clusteraccount/NAME. Without it: every
Account of the namespace (of every namespace with -A) and the
ClusterAccounts their AgentGroups use (every ClusterAccount with -A).
A ClusterAccount shows its AgentGroups of the namespace (every namespace
with -A). AgentGroups whose Account does not exist are shown under
"(missing)", those whose Account your kubeconfig may not read under
"(unreadable)".

Reads only the cluster (get and list Accounts, ClusterAccounts and
AgentGroups); never calls the Group API.`,
		Example: `  # The default Account of team-a and its AgentGroups
  kubectl agentgroup tree default -n team-a

  # Every Account and ClusterAccount of the cluster
  kubectl agentgroup tree -A`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arg := ""
			if len(args) == 1 {
				arg = args[0]
			}
			return o.run(cmd, arg)
		},
	}
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "show the Accounts and AgentGroups of every namespace")
	cmd.Flags().BoolVar(&o.noColor, "no-color", false, "never colour the output (it is coloured only on a terminal, and not when NO_COLOR is set)")
	return cmd
}

func (o *treeOptions) run(cmd *cobra.Command, arg string) error {
	c, ns, err := o.f.ClientIn()
	if err != nil {
		return err
	}
	return o.show(cmd.Context(), c, treeScope{Namespace: ns, AllNamespaces: o.allNamespaces}, arg)
}

func (o *treeOptions) show(ctx context.Context, c client.Reader, scope treeScope, arg string) error {
	nodes, err := loadTree(ctx, c, scope, arg)
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		fmt.Fprintf(o.f.Streams.ErrOut, "No Accounts or AgentGroups found in %s.\n", scope)
		return nil
	}
	return renderTree(o.f.Streams.Out, nodes, time.Now(), o.style())
}

// style colours the output only for a person at a terminal who did not
// ask otherwise (--no-color, NO_COLOR: https://no-color.org), and cuts
// messages to the terminal's width.
func (o *treeOptions) style() treeStyle {
	fd, ok := terminalFd(o.f.Streams.Out)
	width := 0
	if ok {
		width, _, _ = term.GetSize(fd)
	}
	return treeStyleFor(ok, width, o.noColor, os.Getenv("NO_COLOR"))
}

func treeStyleFor(terminal bool, width int, noColorFlag bool, noColorEnv string) treeStyle {
	s := treeStyle{Width: treeWidth, Color: terminal && !noColorFlag && noColorEnv == ""}
	if terminal && width > 0 {
		s.Width = width
	}
	return s
}

// terminalFd returns the file descriptor of w when w is a terminal.
func terminalFd(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}
