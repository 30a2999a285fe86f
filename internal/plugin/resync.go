package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

type resyncOptions struct {
	f             *Factory
	all           bool
	allNamespaces bool
	wait          bool
	timeout       time.Duration
	// poll is how often --wait reads the AgentGroups again.
	poll time.Duration
	// now is the clock (tests set it).
	now func() time.Time
}

func newResyncCommand(f *Factory) *cobra.Command {
	o := &resyncOptions{f: f, poll: time.Second, now: time.Now}
	cmd := &cobra.Command{
		Use:   "resync NAME... | --all [-n NAMESPACE | -A] [--wait [--timeout DURATION]]",
		Short: "Ask the operator for an immediate drift check of AgentGroups",
		Long: `Ask the operator to read the remote groups of AgentGroups now, instead of at
their next periodic drift check, and (with Manage) to correct what differs.

resync sets the annotation deepcall.agentgroups.dev/resync to the current
time (RFC 3339) on each AgentGroup with a merge patch (kubectl annotate
does the same). With --wait it then waits until the operator reports, in
status.lastHandledResync, that it handled that request, and prints each
AgentGroup's result: Ready and its reason, and whether drift was found and
corrected. It never calls the Group API itself.

Exit status with --wait: 0 when every AgentGroup ends Ready, 1 when one
does not, or when the operator did not answer within --timeout.`,
		Example: `  # Check and correct one AgentGroup now, and wait for the result
  kubectl agentgroup resync sales -n team-a --wait

  # Every AgentGroup of the namespace
  kubectl agentgroup resync --all -n team-a --wait --timeout 5m`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(args); err != nil {
				return err
			}
			c, ns, err := f.ClientIn()
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), c, treeScope{Namespace: ns, AllNamespaces: o.allNamespaces}, args)
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "every AgentGroup of the namespace (of every namespace with -A)")
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "with --all: every namespace")
	cmd.Flags().BoolVar(&o.wait, "wait", false, "wait until the operator has handled the request, and print the result")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "with --wait: how long to wait")
	return cmd
}

// resyncTimeFormat is RFC 3339 with nanoseconds always written out, so
// that two requests compare as their times do.
const resyncTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func (o *resyncOptions) validate(names []string) error {
	switch {
	case o.all && len(names) > 0:
		return errors.New("name AgentGroups or pass --all, not both")
	case !o.all && len(names) == 0:
		return errors.New("name at least one AgentGroup, or pass --all")
	case o.allNamespaces && !o.all:
		return errors.New("-A goes with --all: name AgentGroups of one namespace with -n")
	case o.timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return nil
}

func (o *resyncOptions) run(ctx context.Context, c client.Client, scope treeScope, names []string) error {
	targets := make([]types.NamespacedName, 0, len(names))
	for _, name := range names {
		targets = append(targets, types.NamespacedName{Namespace: scope.Namespace, Name: name})
	}
	if o.all {
		var err error
		if targets, err = listTargets(ctx, c, scope); err != nil {
			return err
		}
		if len(targets) == 0 {
			fmt.Fprintf(o.f.Streams.ErrOut, "No AgentGroups found in %s.\n", scope)
			return nil
		}
	}

	var before eventVersions
	if o.wait {
		before = readEventVersions(ctx, c, namespacesOf(targets))
	}
	requested := o.now().UTC().Format(resyncTimeFormat)
	var requests []resyncResult
	var failed []error
	for _, key := range targets {
		if err := requestResync(ctx, c, key, requested); err != nil {
			failed = append(failed, err)
			continue
		}
		requests = append(requests, resyncResult{Key: key})
		if !o.wait {
			fmt.Fprintf(o.f.Streams.Out, "agentgroup/%s resync requested\n", o.displayName(key))
		}
	}
	for _, err := range failed {
		fmt.Fprintln(o.f.Streams.ErrOut, "error:", err)
	}
	if o.wait && len(requests) > 0 {
		results, err := o.waitHandled(ctx, c, requests, requested, before)
		if err != nil {
			return err
		}
		if err := printResyncResults(o.f.Streams.Out, results, o.displayName); err != nil {
			return err
		}
		if err := resyncVerdict(results, o.timeout, o.displayName); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return exitCode(ExitError)
	}
	return nil
}

// displayName names an AgentGroup as the output does: with its namespace
// when several may be shown.
func (o *resyncOptions) displayName(key types.NamespacedName) string {
	if o.allNamespaces {
		return key.String()
	}
	return key.Name
}

// listTargets is every AgentGroup of the scope but those being deleted:
// they no longer sync.
func listTargets(ctx context.Context, c client.Reader, scope treeScope) ([]types.NamespacedName, error) {
	var list deepcallv1.AgentGroupList
	if err := c.List(ctx, &list, scope.listOptions()...); err != nil {
		return nil, fmt.Errorf("list AgentGroups: %w", err)
	}
	var out []types.NamespacedName
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp.IsZero() {
			out = append(out, client.ObjectKeyFromObject(&list.Items[i]))
		}
	}
	return out, nil
}

// requestResync sets the resync annotation with a merge patch: nothing
// else of the object is touched, and no resourceVersion is needed.
func requestResync(ctx context.Context, c client.Client, key types.NamespacedName, requested string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{deepcallv1.AnnotationResync: requested}}})
	if err != nil {
		return err
	}
	g := &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	err = c.Patch(ctx, g, client.RawPatch(types.MergePatchType, patch))
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("AgentGroup %q not found in namespace %s", key.Name, key.Namespace)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("AgentGroup %s/%s: your kubeconfig may not patch it (patch agentgroups): %w", key.Namespace, key.Name, err)
	case err != nil:
		return fmt.Errorf("AgentGroup %s/%s: %w", key.Namespace, key.Name, err)
	}
	return nil
}
