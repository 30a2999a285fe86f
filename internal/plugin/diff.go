package plugin

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

type diffOptions struct {
	f         *Factory
	filenames []string
	recursive bool
	output    string
}

func newDiffCommand(f *Factory) *cobra.Command {
	o := &diffOptions{f: f}
	cmd := &cobra.Command{
		Use:   "diff -f FILENAME",
		Short: "Show what the operator would do to the remote accounts for AgentGroup manifests",
		Long: `diff reads AgentGroup manifests and prints what the operator would do to
the live remote accounts once they are applied: create, rename, enable or
disable, members and call receivers added and removed, adopt by name, or the
stall it would hit (NameConflict, DuplicateGroupName, GroupIDInUse,
GroupIDMismatch, RemoteGroupNotFound, AccountChanged, AccountNotAllowed),
with the message the operator would write; a manifest the API server would
refuse is an error naming the rule. It decides with the operator's own
planner and binding rules, and makes only read calls.

Exit status: 0 nothing would change, 2 the operator would write to a remote
account (or adopt a group), 1 an error or an AgentGroup that would stall.`,
		Example: `  # A pull request's manifests against the live cluster and accounts
  kubectl agentgroup diff -f deploy/ -R

  # For tools
  kubectl agentgroup diff -f deploy/agentgroups.yaml -o json

  # From standard input
  kustomize build deploy/ | kubectl agentgroup diff -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().StringSliceVarP(&o.filenames, "filename", "f", nil, "files, directories or URLs of the manifests; - for standard input (repeatable)")
	cmd.Flags().BoolVarP(&o.recursive, "recursive", "R", false, "read the directories given with -f recursively")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "output format: json (default: text)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func (o *diffOptions) run(ctx context.Context) error {
	if o.output != "" && o.output != "json" {
		return fmt.Errorf("--output %q is not supported: use json, or leave it out for text", o.output)
	}
	ns, explicit, err := o.f.Flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return err
	}
	ms, err := readDiffManifests(o.f.Streams.In, o.filenames, o.recursive, ns, explicit)
	if err != nil {
		return err
	}
	var c client.Client
	if len(ms.groups) > 0 {
		if c, err = o.f.Client(); err != nil {
			return err
		}
	}
	return o.report(ctx, c, ms)
}

// report judges the manifests' AgentGroups against the cluster c and
// their accounts, prints the result and ends with the exit code.
func (o *diffOptions) report(ctx context.Context, c client.Client, ms diffManifests) error {
	errOut := o.f.Streams.ErrOut
	switch {
	case ms.ignored == 1:
		fmt.Fprintln(errOut, "1 object that is not an AgentGroup was ignored")
	case ms.ignored > 1:
		fmt.Fprintf(errOut, "%d objects that are not AgentGroups were ignored\n", ms.ignored)
	}
	var verdicts []diffVerdict
	if len(ms.groups) > 0 {
		var err error
		if verdicts, err = o.decide(ctx, c, ms); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(errOut, "the manifests hold no AgentGroup")
	}
	if o.output == "json" {
		if err := printDiffJSON(o.f.Streams.Out, verdicts, ms.ignored); err != nil {
			return err
		}
	} else {
		printDiffText(o.f.Streams.Out, verdicts)
	}
	if code := summarize(verdicts).exitCode(); code != ExitOK {
		return exitCode(code)
	}
	return nil
}

// decide reads the cluster and the accounts the manifests need and judges
// each AgentGroup.
func (o *diffOptions) decide(ctx context.Context, c client.Client, ms diffManifests) ([]diffVerdict, error) {
	var namespaces []string
	for _, m := range ms.groups {
		if !slices.Contains(namespaces, m.group.Namespace) {
			namespaces = append(namespaces, m.group.Namespace)
		}
	}
	slices.Sort(namespaces)
	live, err := readLiveAgentGroups(ctx, c, namespaces, o.f.Streams.ErrOut)
	if err != nil {
		return nil, err
	}
	book := newAccountBook(c, o.f.Streams.ErrOut)
	book.manifestLabels = ms.namespaceLabels
	cluster := &diffCluster{f: o.f, c: c, live: live, book: book, accounts: map[types.NamespacedName]*diffAccount{}, details: map[string]diffDetail{}}
	world := newDiffWorld(cluster, ms.groups, time.Now())
	verdicts := make([]diffVerdict, len(ms.groups))
	for i, m := range ms.groups {
		verdicts[i] = world.decide(ctx, types.NamespacedName{Namespace: m.group.Namespace, Name: m.group.Name})
	}
	return verdicts, nil
}
