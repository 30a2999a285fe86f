package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// importOptions are import's flags.
type importOptions struct {
	account        string
	clusterAccount string
	all            bool
	manage         bool
	output         string
	dir            string
}

func newImportCommand(f *Factory) *cobra.Command {
	o := &importOptions{output: "yaml"}
	cmd := &cobra.Command{
		Use:   "import (--account NAME | --cluster-account NAME) [-n NS] [--all] [--manage] [-o yaml|json] [--dir DIR]",
		Short: "Write AgentGroup manifests for the groups an account already has",
		Long: `import reads the groups of a DeepCall account with the credentials of its
Account (or ClusterAccount), whose Secret is read with your own kubeconfig
rights, and writes one AgentGroup per group that no AgentGroup manages yet
(--all: every group), bound to it by spec.groupId. Applied, they are Ready
and InSync with no call that changes anything.

It only reads: one list of the groups, one read of each group it writes.

The AgentGroups are written with managementPolicy: Observe and
deletionPolicy: Orphan: they report drift but never change the group, and
deleting them leaves it. --manage writes Manage and Delete instead.

Names are the group's name as a DNS-1123 label followed by its id
("Sales Team", 12: sales-team-12), the same every run. With --all, a group
an AgentGroup of the namespace already holds keeps that AgentGroup's name,
so that a directory regenerated after a rename in DeepCall applies cleanly.`,
		Example: `  # The groups of the Account "default" in team-a, as files to commit
  kubectl agentgroup import --account default -n team-a --dir groups/

  # Every group of a ClusterAccount, managed, as one JSON List
  kubectl agentgroup import --cluster-account shared -n team-b --all --manage -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), f) },
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *importOptions) addFlags(fl *pflag.FlagSet) {
	fl.StringVar(&o.account, "account", "", "the Account, in the namespace, whose groups to import")
	fl.StringVar(&o.clusterAccount, "cluster-account", "", "the ClusterAccount whose groups to import; the AgentGroups are written for the namespace")
	fl.BoolVar(&o.all, "all", false, "also write the groups AgentGroups already manage (one of the namespace under its own name)")
	fl.BoolVar(&o.manage, "manage", false, "write managementPolicy: Manage and deletionPolicy: Delete (the operator corrects drift; deleting an AgentGroup deletes its group) instead of Observe and Orphan")
	fl.StringVarP(&o.output, "output", "o", o.output, "output format: yaml (a stream of documents) or json (a v1 List)")
	fl.StringVar(&o.dir, "dir", "", "write one file per AgentGroup, DIR/<name>.yaml (.json with -o json), creating DIR if missing, instead of printing them")
}

func (o *importOptions) run(ctx context.Context, f *Factory) error {
	if o.output != "yaml" && o.output != "json" {
		return fmt.Errorf("--output %q: import writes yaml or json", o.output)
	}
	if _, err := o.accountKey(""); err != nil {
		return err
	}
	c, ns, err := f.ClientIn()
	if err != nil {
		return err
	}
	return o.importInto(ctx, f, c, ns)
}

// importInto imports for namespace ns, reading the cluster through c.
func (o *importOptions) importInto(ctx context.Context, f *Factory, c client.Client, ns string) error {
	key, err := o.accountKey(ns)
	if err != nil {
		return err
	}
	notes := f.Streams.ErrOut
	book := newAccountBook(c, notes)
	a := book.get(ctx, key)
	if a.err != nil {
		return a.err
	}
	acct := a.account
	if allowed, why, known := book.lends(ctx, a, ns); known && !allowed {
		fmt.Fprintf(notes, "note: %s: applied, the AgentGroups would stall with AccountNotAllowed\n", acct.ClusterAccount.NotAllowedMessage(ns, why))
	}
	api, err := f.Connect(ctx, c, acct)
	if err != nil {
		return err
	}
	// A quick listing has no user_id, from which a remote account not
	// recorded yet is learnt.
	groups, err := Read(ctx, func(ctx context.Context) ([]groupapi.Group, error) {
		return api.List(ctx, groupapi.ListOptions{Quick: a.remote != ""})
	})
	if err != nil {
		return fmt.Errorf("list the groups of %s: %w", acct, err)
	}
	a.learn(groups)
	live, err := listAgentGroups(ctx, c, []string{ns}, notes, "groups AgentGroups already manage are")
	if err != nil {
		return err
	}
	res, err := collect(ctx, api, acct, ns, groups, heldGroupsOf(ctx, book, a, live, ns), o.all, o.manage)
	if err != nil {
		return err
	}
	if err := o.write(res.objects, f.Streams); err != nil {
		return err
	}
	o.summarize(notes, acct, res)
	if len(res.refused) > 0 {
		return fmt.Errorf("%s of %s cannot be AgentGroups as they are (listed above)", plural(len(res.refused), "group", "groups"), acct)
	}
	return nil
}

// accountKey is the key of the account the flags name.
func (o *importOptions) accountKey(ns string) (types.NamespacedName, error) {
	switch {
	case o.account != "" && o.clusterAccount != "":
		return types.NamespacedName{}, errors.New("--account and --cluster-account name two accounts: give one")
	case o.account != "":
		return types.NamespacedName{Namespace: ns, Name: o.account}, nil
	case o.clusterAccount != "":
		return types.NamespacedName{Name: o.clusterAccount}, nil
	}
	return types.NamespacedName{}, errors.New("name the account to import: --account NAME (an Account in the namespace) or --cluster-account NAME")
}

// importResult is what collect found.
type importResult struct {
	objects []*unstructured.Unstructured // by groupId
	listed  int                          // groups the account has
	skipped []managedGroup               // managed already, by groupId
	gone    []string                     // ids deleted between the list and their read
	refused []refusedGroup               // groups the CRD cannot hold, by groupId
}

type managedGroup struct {
	id    string
	owner types.NamespacedName
}

type refusedGroup struct {
	id, name string
	err      error
}

// relationReads is how many group reads are in flight at once; the
// Account's rate limit paces them.
const relationReads = 4

// collect reads each listed group to write (all of them, or those no
// AgentGroup holds) with its members: read calls only, each repeated
// after a 429 or a retryable error.
func collect(ctx context.Context, api groupapi.Interface, acct *Account, ns string, groups []groupapi.Group, held heldGroups, all, manage bool) (importResult, error) {
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	res := importResult{listed: len(plan.SortedIDs(ids))}
	var wanted []string
	for _, id := range plan.SortedIDs(ids) {
		if owner, ok := held.byID[id]; ok && !all {
			res.skipped = append(res.skipped, managedGroup{id: id, owner: owner})
			continue
		}
		wanted = append(wanted, id)
	}

	details := make([]*groupapi.GroupDetail, len(wanted))
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(relationReads)
	for i, id := range wanted {
		eg.Go(func() error {
			d, err := Read(ectx, func(ctx context.Context) (groupapi.GroupDetail, error) { return api.GetGroupAgentRelation(ctx, id) })
			switch {
			case groupapi.IsNotFound(err):
				return nil // deleted since the list
			case err != nil:
				return fmt.Errorf("read group %s of %s: %w", id, acct, err)
			}
			d.Group.ID = id
			details[i] = &d
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return importResult{}, err
	}
	for i, d := range details {
		if d == nil {
			res.gone = append(res.gone, wanted[i])
			continue
		}
		name, err := held.nameFor(ns, d.Group.ID, d.Group.Name, all)
		var obj *unstructured.Unstructured
		if err == nil {
			obj, err = manifest(ns, name, acct.Ref(), *d, manage)
		}
		if err != nil {
			res.refused = append(res.refused, refusedGroup{id: d.Group.ID, name: d.Group.Name, err: err})
			continue
		}
		res.objects = append(res.objects, obj)
	}
	return res, nil
}
