package plugin

import (
	"context"
	"fmt"
	"io"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// diffCluster is what a diff reads of the cluster and of the remote
// accounts, each thing once: the live AgentGroups, the Accounts and the
// namespaces' labels (book), one listing per Account and one read per
// remote group. It only reads.
type diffCluster struct {
	f *Factory
	c client.Client
	// live are the AgentGroups the person may list, by key.
	live map[types.NamespacedName]*deepcallv1.AgentGroup
	book *accountBook
	// accounts are the Accounts and ClusterAccounts connected to, by key.
	accounts map[types.NamespacedName]*diffAccount
	details  map[string]diffDetail // by account key and group id
}

// diffAccount is an Account with its client and its listing of groups.
type diffAccount struct {
	*accountEntry
	// connected: the client was built and the groups listed (or
	// connectErr says why not).
	connected  bool
	connectErr error
	api        groupapi.Interface
	groups     []plan.Remote
}

type diffDetail struct {
	remote *plan.Remote
	err    error
}

// readLiveAgentGroups lists the AgentGroups that may hold names and
// group ids the manifests' AgentGroups want, by key.
func readLiveAgentGroups(ctx context.Context, c client.Client, namespaces []string, errOut io.Writer) (map[types.NamespacedName]*deepcallv1.AgentGroup, error) {
	list, err := listAgentGroups(ctx, c, namespaces, errOut, "names and group ids other AgentGroups hold are")
	if err != nil {
		return nil, err
	}
	live := map[types.NamespacedName]*deepcallv1.AgentGroup{}
	for _, g := range list {
		live[client.ObjectKeyFromObject(g)] = g
	}
	return live, nil
}

// account is the Account (or ClusterAccount) of key, read once.
func (d *diffCluster) account(ctx context.Context, key types.NamespacedName) *diffAccount {
	if a, ok := d.accounts[key]; ok {
		return a
	}
	a := &diffAccount{accountEntry: d.book.get(ctx, key)}
	d.accounts[key] = a
	return a
}

// connect builds the account's client from its Secret and lists its
// groups, once. A remote account the operator has not recorded yet is
// learnt from the listing, as the operator learns an ssid's.
func (d *diffCluster) connect(ctx context.Context, a *diffAccount) {
	if a.err != nil || a.connected {
		return
	}
	a.connected = true
	api, err := d.f.Connect(ctx, d.c, a.account)
	if err != nil {
		a.connectErr = err
		return
	}
	a.api = api
	groups, err := Read(ctx, func(ctx context.Context) ([]groupapi.Group, error) { return api.List(ctx, groupapi.ListOptions{}) })
	if err != nil {
		a.connectErr = fmt.Errorf("%s: list groups: %w", a.account, err)
		return
	}
	a.learn(groups)
	for _, g := range groups {
		a.groups = append(a.groups, plan.Remote{ID: g.ID, Name: g.Name, Enabled: g.Enabled})
	}
}

// read reads one remote group with its agents, once. A group the API
// answers not found for, and the listing lacks, is gone (nil, nil), as
// the operator confirms it.
func (d *diffCluster) read(ctx context.Context, a *diffAccount, id string) (*plan.Remote, error) {
	k := a.key.String() + "#" + id
	if r, ok := d.details[k]; ok {
		return r.remote, r.err
	}
	detail, err := Read(ctx, func(ctx context.Context) (groupapi.GroupDetail, error) { return a.api.GetGroupAgentRelation(ctx, id) })
	var r diffDetail
	switch {
	case err == nil:
		r.remote = &plan.Remote{ID: id, Name: detail.Group.Name, Enabled: detail.Group.Enabled, Members: detail.Members, Receivers: detail.Receivers}
	case !groupapi.IsNotFound(err):
		r.err = fmt.Errorf("read group %s: %w", id, err)
	case slices.ContainsFunc(a.groups, func(g plan.Remote) bool { return g.ID == id }):
		r.err = fmt.Errorf("reading remote group %s answered not found (1503), yet the account lists it: run the diff again", id)
	}
	d.details[k] = r
	return r.remote, r.err
}

// notLent is the operator's AccountNotAllowed for an AgentGroup whose
// ClusterAccount does not lend itself to its namespace, in its words; nil
// when it does, or when the namespace could not be read.
func (d *diffCluster) notLent(ctx context.Context, g *deepcallv1.AgentGroup, a *diffAccount) *plan.Stall {
	allowed, why, known := d.book.lends(ctx, a.accountEntry, g.Namespace)
	if allowed || !known {
		return nil
	}
	return &plan.Stall{Reason: plan.Reason(deepcallv1.ReasonAccountNotAllowed), Message: a.account.ClusterAccount.NotAllowedMessage(g.Namespace, why)}
}

// sameRemote reports whether AgentGroup g's binding is, or would be, on
// remote account a (accountBook.onRemoteOf).
func (d *diffCluster) sameRemote(ctx context.Context, g *deepcallv1.AgentGroup, a *diffAccount) bool {
	return d.book.onRemoteOf(ctx, g, a.accountEntry)
}

// recordedRemote is the remote account g's binding, or its pending
// create, belongs to, as the operator's checkRemoteAccount reads it.
func recordedRemote(g *deepcallv1.AgentGroup) string {
	if p, _ := g.CreateIntent(); p != nil && g.Status.RemoteAccount == "" {
		return p.RemoteAccount
	}
	return g.Status.RemoteAccount
}
