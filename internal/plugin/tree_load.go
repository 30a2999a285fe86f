package plugin

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// accountNode is one account of the tree with the AgentGroups that name
// it. Account is nil when the account could not be read: Problem says why
// ("" for not found).
type accountNode struct {
	Kind    string
	Key     types.NamespacedName
	Account *Account
	Problem string
	Groups  []deepcallv1.AgentGroup
}

// treeScope is where tree looks: one namespace, or every one (-A).
type treeScope struct {
	Namespace     string
	AllNamespaces bool
}

func (s treeScope) listOptions() []client.ListOption {
	if s.AllNamespaces {
		return nil
	}
	return []client.ListOption{client.InNamespace(s.Namespace)}
}

// loadTree reads the accounts and AgentGroups tree shows: for arg "", every
// Account of the scope and every ClusterAccount its AgentGroups use (every
// ClusterAccount with -A); otherwise the account arg names (NAME,
// account/NAME or clusteraccount/NAME).
func loadTree(ctx context.Context, c client.Reader, scope treeScope, arg string) ([]accountNode, error) {
	groups, accounts, problems, err := readScope(ctx, c, scope)
	if err != nil {
		return nil, err
	}
	if arg == "" {
		clusterAccounts, err := clusterAccountsShown(ctx, c, scope, groups, problems)
		if err != nil {
			return nil, err
		}
		return assembleTree(append(accounts, clusterAccounts...), problems, groups), nil
	}
	kind, name, err := parseAccountArg(arg)
	if err != nil {
		return nil, err
	}
	return loadNamed(ctx, c, scope, kind, name, groups, accounts, problems)
}

// readScope lists the AgentGroups and Accounts of the scope. A person may
// see AgentGroups without the right to read Accounts (the aggregated view
// and edit roles give only AgentGroups): their groups are still shown,
// under an Account that says so (problems).
func readScope(ctx context.Context, c client.Reader, scope treeScope) ([]deepcallv1.AgentGroup, []*Account, map[types.NamespacedName]string, error) {
	var groups deepcallv1.AgentGroupList
	if err := c.List(ctx, &groups, scope.listOptions()...); err != nil {
		return nil, nil, nil, fmt.Errorf("list AgentGroups: %w", err)
	}
	var list deepcallv1.AccountList
	problems := map[types.NamespacedName]string{}
	switch err := c.List(ctx, &list, scope.listOptions()...); {
	case apierrors.IsForbidden(err):
		for _, g := range groups.Items {
			if key := g.AccountKey(); key.Namespace != "" {
				problems[key] = "your kubeconfig may not read Accounts (list accounts)"
			}
		}
	case err != nil:
		return nil, nil, nil, fmt.Errorf("list Accounts: %w", err)
	}
	accounts := make([]*Account, len(list.Items))
	for i := range list.Items {
		accounts[i] = accountFrom(&list.Items[i])
	}
	return groups.Items, accounts, problems, nil
}

// loadNamed is the tree of one account: the Accounts named so (kind
// Account, or "" when there is one), else the ClusterAccount, else the
// AgentGroups that name a missing one.
func loadNamed(ctx context.Context, c client.Reader, scope treeScope, kind, name string,
	groups []deepcallv1.AgentGroup, accounts []*Account, problems map[types.NamespacedName]string) ([]accountNode, error) {
	naming := func(kind string) []deepcallv1.AgentGroup {
		var out []deepcallv1.AgentGroup
		for _, g := range groups {
			if k := g.AccountKey(); k.Name == name && (k.Namespace == "") == (kind == deepcallv1.KindClusterAccount) {
				out = append(out, g)
			}
		}
		return out
	}
	named := slices.DeleteFunc(accounts, func(a *Account) bool { return a.Key.Name != name })
	hidden := len(problems) > 0 && len(naming(deepcallv1.KindAccount)) > 0
	if kind == deepcallv1.KindAccount || kind == "" && (len(named) > 0 || hidden) {
		if len(named) == 0 && len(naming(deepcallv1.KindAccount)) == 0 {
			return nil, fmt.Errorf("Account %q not found in %s", name, scope)
		}
		return assembleTree(named, problems, naming(deepcallv1.KindAccount)), nil
	}
	ca := &deepcallv1.ClusterAccount{}
	switch err := c.Get(ctx, types.NamespacedName{Name: name}, ca); {
	case err == nil:
		return assembleTree([]*Account{clusterAccountFrom(ca)}, nil, naming(deepcallv1.KindClusterAccount)), nil
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("get ClusterAccount %s: %w", name, err)
	}
	// Neither exists: show the AgentGroups that name one, under it.
	using := append(naming(deepcallv1.KindAccount), naming(deepcallv1.KindClusterAccount)...)
	if kind == deepcallv1.KindClusterAccount {
		using = naming(deepcallv1.KindClusterAccount)
	}
	if len(using) == 0 {
		what := "Account or ClusterAccount"
		if kind != "" {
			what = kind
		}
		return nil, fmt.Errorf("no %s named %q in %s", what, name, scope)
	}
	return assembleTree(nil, nil, using), nil
}

func (s treeScope) String() string {
	if s.AllNamespaces {
		return "any namespace"
	}
	return "namespace " + s.Namespace
}

// parseAccountArg reads NAME, account/NAME or clusteraccount/NAME (kind
// "" for a bare NAME: the Account if there is one, else the
// ClusterAccount).
func parseAccountArg(arg string) (kind, name string, err error) {
	prefix, name, typed := strings.Cut(arg, "/")
	if !typed {
		return "", arg, nil
	}
	switch strings.ToLower(prefix) {
	case "account", "accounts", "account.deepcall.agentgroups.dev":
		kind = deepcallv1.KindAccount
	case "clusteraccount", "clusteraccounts", "clusteraccount.deepcall.agentgroups.dev":
		kind = deepcallv1.KindClusterAccount
	default:
		return "", "", fmt.Errorf("%q: name an Account as NAME, account/NAME or clusteraccount/NAME", arg)
	}
	if name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("%q: name an Account as NAME, account/NAME or clusteraccount/NAME", arg)
	}
	return kind, name, nil
}

// clusterAccountsShown reads every ClusterAccount (-A), or those the
// AgentGroups use. One that cannot be read goes into problems with the
// reason.
func clusterAccountsShown(ctx context.Context, c client.Reader, scope treeScope, groups []deepcallv1.AgentGroup, problems map[types.NamespacedName]string) ([]*Account, error) {
	var out []*Account
	if scope.AllNamespaces {
		var list deepcallv1.ClusterAccountList
		switch err := c.List(ctx, &list); {
		case err == nil:
			for i := range list.Items {
				out = append(out, clusterAccountFrom(&list.Items[i]))
			}
			return out, nil
		case !apierrors.IsForbidden(err):
			return nil, fmt.Errorf("list ClusterAccounts: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, g := range groups {
		key := g.AccountKey()
		if key.Namespace != "" || seen[key.Name] {
			continue
		}
		seen[key.Name] = true
		ca := &deepcallv1.ClusterAccount{}
		switch err := c.Get(ctx, key, ca); {
		case err == nil:
			out = append(out, clusterAccountFrom(ca))
		case apierrors.IsNotFound(err):
		case apierrors.IsForbidden(err):
			problems[key] = "your kubeconfig may not read it (get clusteraccounts)"
		default:
			return nil, fmt.Errorf("get ClusterAccount %s: %w", key.Name, err)
		}
	}
	return out, nil
}

func accountFrom(a *deepcallv1.Account) *Account {
	return &Account{Key: client.ObjectKeyFromObject(a), Spec: a.Spec, Status: a.Status}
}

func clusterAccountFrom(ca *deepcallv1.ClusterAccount) *Account {
	return &Account{Key: client.ObjectKeyFromObject(ca), Spec: ca.Spec.AccountSpec, Status: ca.Status}
}

// assembleTree puts each AgentGroup under the account it names; those
// whose account is not among accounts go under a node of their own for
// it (missing, or unreadable as problems says). Accounts come first by
// namespace and name, then ClusterAccounts, then the accounts not found
// in the same order.
func assembleTree(accounts []*Account, problems map[types.NamespacedName]string, groups []deepcallv1.AgentGroup) []accountNode {
	nodes := make([]accountNode, 0, len(accounts))
	index := map[types.NamespacedName]int{}
	for _, a := range accounts {
		index[a.Key] = len(nodes)
		nodes = append(nodes, accountNode{Kind: a.Kind(), Key: a.Key, Account: a})
	}
	for _, g := range groups {
		key := g.AccountKey()
		i, ok := index[key]
		if !ok {
			kind := deepcallv1.KindAccount
			if key.Namespace == "" {
				kind = deepcallv1.KindClusterAccount
			}
			i = len(nodes)
			index[key] = i
			nodes = append(nodes, accountNode{Kind: kind, Key: key, Problem: problems[key]})
		}
		nodes[i].Groups = append(nodes[i].Groups, g)
	}
	rank := func(n accountNode) int {
		r := 0
		if n.Kind == deepcallv1.KindClusterAccount {
			r++
		}
		if n.Account == nil {
			r += 2
		}
		return r
	}
	slices.SortStableFunc(nodes, func(a, b accountNode) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.Key.Namespace, b.Key.Namespace), cmp.Compare(a.Key.Name, b.Key.Name))
	})
	for i := range nodes {
		slices.SortStableFunc(nodes[i].Groups, compareStuckFirst)
	}
	return nodes
}
