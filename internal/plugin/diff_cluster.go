package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// diffCluster is what a diff reads of the cluster and of the remote
// accounts, each thing once: the live AgentGroups, the Accounts, one
// listing per Account and one read per remote group. It only reads.
type diffCluster struct {
	f *Factory
	c client.Client
	// live are the AgentGroups the person may list, by key.
	live map[types.NamespacedName]*deepcallv1.AgentGroup
	// accounts are the Accounts and ClusterAccounts read, by key.
	accounts map[types.NamespacedName]*diffAccount
	details  map[string]diffDetail // by account key and group id
}

// diffAccount is an Account with its client and its listing of groups.
type diffAccount struct {
	key     types.NamespacedName
	account *Account
	// err: the Account could not be read.
	err error
	// remote is the remote account it resolves to ("" while unknown).
	remote string
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

// readLiveAgentGroups lists the AgentGroups in every namespace the person
// may list; without that right, those of namespaces, with a note on
// errOut: holders of names and ids elsewhere are not seen.
func readLiveAgentGroups(ctx context.Context, c client.Client, namespaces []string, errOut io.Writer) (map[types.NamespacedName]*deepcallv1.AgentGroup, error) {
	live := map[types.NamespacedName]*deepcallv1.AgentGroup{}
	add := func(list *deepcallv1.AgentGroupList) {
		for i := range list.Items {
			g := &list.Items[i]
			live[client.ObjectKeyFromObject(g)] = g
		}
	}
	var all deepcallv1.AgentGroupList
	err := c.List(ctx, &all)
	switch {
	case err == nil:
		add(&all)
		return live, nil
	case !apierrors.IsForbidden(err):
		return nil, fmt.Errorf("list AgentGroups: %w", err)
	}
	fmt.Fprintf(errOut, "note: you may not list AgentGroups in all namespaces; names and group ids other AgentGroups hold are looked for only in namespace %s\n", strings.Join(namespaces, ", "))
	for _, ns := range namespaces {
		var list deepcallv1.AgentGroupList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("list AgentGroups in namespace %s: %w", ns, err)
		}
		add(&list)
	}
	return live, nil
}

// account reads an Account (or ClusterAccount) once.
func (d *diffCluster) account(ctx context.Context, key types.NamespacedName) *diffAccount {
	if a, ok := d.accounts[key]; ok {
		return a
	}
	a := &diffAccount{key: key}
	d.accounts[key] = a
	a.account, a.err = GetAccount(ctx, d.c, key)
	if a.err == nil {
		a.remote = a.account.Status.RemoteAccount
	}
	return a
}

// connect builds the account's client from its Secret and lists its
// groups, once. A remote account the operator has not recorded yet is
// learnt from the listing, as the operator learns an ssid's.
func (d *diffCluster) connect(ctx context.Context, key types.NamespacedName) *diffAccount {
	a := d.account(ctx, key)
	if a.err != nil || a.connected {
		return a
	}
	a.connected = true
	api, err := d.f.Connect(ctx, d.c, a.account)
	if err != nil {
		a.connectErr = err
		return a
	}
	a.api = api
	groups, err := Read(ctx, func(ctx context.Context) ([]groupapi.Group, error) { return api.List(ctx, groupapi.ListOptions{}) })
	if err != nil {
		a.connectErr = fmt.Errorf("%s: list groups: %w", a.account, err)
		return a
	}
	for _, g := range groups {
		a.groups = append(a.groups, plan.Remote{ID: g.ID, Name: g.Name, Enabled: g.Enabled})
		if a.remote == "" && g.UserID != "" {
			a.remote = accounts.RemoteAccount{Host: accounts.HostOf(a.account.Spec.BaseURL), User: g.UserID}.String()
		}
	}
	return a
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

// sameRemote reports whether AgentGroup g's binding is, or would be, on
// remote account a, as the operator judges it: by the remote account its
// status records, else by the remote account its Account resolves to. A
// ClusterAccount's allowedNamespaces are not checked.
func (d *diffCluster) sameRemote(ctx context.Context, g *deepcallv1.AgentGroup, a *diffAccount) bool {
	if g.Status.RemoteAccount != "" && a.remote != "" {
		return g.Status.RemoteAccount == a.remote
	}
	if g.AccountKey() == a.key {
		return true
	}
	other := d.account(ctx, g.AccountKey())
	return other.err == nil && other.remote != "" && other.remote == a.remote
}

// recordedRemote is the remote account g's binding, or its pending
// create, belongs to.
func recordedRemote(g *deepcallv1.AgentGroup) string {
	if g.Status.RemoteAccount != "" || g.Status.GroupID != "" {
		return g.Status.RemoteAccount
	}
	if p := diffPendingCreate(g); p != nil {
		return p.RemoteAccount
	}
	return ""
}

// diffPendingCreate is the add the operator sent for g without binding
// its group yet (it settles that first), or nil.
func diffPendingCreate(g *deepcallv1.AgentGroup) *deepcallv1.PendingCreate {
	if g.Status.GroupID != "" {
		return nil
	}
	raw, ok := g.Annotations[deepcallv1.AnnotationCreateIntent]
	if !ok {
		return g.Status.PendingCreate
	}
	p := &deepcallv1.PendingCreate{}
	_ = json.Unmarshal([]byte(raw), p) // unreadable: still pending
	return p
}
