package plugin

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// What diff and import read of the cluster to know which AgentGroups
// hold which remote groups: the AgentGroups themselves, and the Accounts,
// ClusterAccounts and namespaces that decide which remote account each
// one is on. Both decide with the same rule, the operator's.

// listAgentGroups lists the AgentGroups of every namespace the person may
// list, in the API server's order; without that right, those of
// namespaces, with a note on notes saying that what is looked for
// (lookedFor, e.g. "group ids other AgentGroups hold are") is looked for
// only there.
func listAgentGroups(ctx context.Context, c client.Client, namespaces []string, notes io.Writer, lookedFor string) ([]*deepcallv1.AgentGroup, error) {
	var out []*deepcallv1.AgentGroup
	add := func(list *deepcallv1.AgentGroupList) {
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
	}
	var all deepcallv1.AgentGroupList
	err := c.List(ctx, &all)
	switch {
	case err == nil:
		add(&all)
		return out, nil
	case !apierrors.IsForbidden(err):
		return nil, fmt.Errorf("list AgentGroups: %w", err)
	}
	fmt.Fprintf(notes, "note: you may not list AgentGroups in all namespaces; %s looked for only in namespace %s\n", lookedFor, strings.Join(namespaces, ", "))
	for _, ns := range namespaces {
		var list deepcallv1.AgentGroupList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("list AgentGroups in namespace %s: %w", ns, err)
		}
		add(&list)
	}
	return out, nil
}

// accountBook reads, each once, the Accounts and ClusterAccounts that
// AgentGroups name and the labels of the namespaces a ClusterAccount may
// lend itself to.
type accountBook struct {
	c     client.Client
	notes io.Writer
	byKey map[types.NamespacedName]*accountEntry
	// labels are the namespaces' labels read, by name; a namespace that
	// could not be read is absent from it, and in unread.
	labels map[string]map[string]string
	unread map[string]bool
	// manifestLabels are the labels of Namespaces the manifests of a diff
	// create or change: the labels the operator will see once applied.
	manifestLabels map[string]map[string]string
	// noted: the note that namespaces cannot be read was written.
	noted bool
}

func newAccountBook(c client.Client, notes io.Writer) *accountBook {
	return &accountBook{c: c, notes: notes, byKey: map[types.NamespacedName]*accountEntry{}, labels: map[string]map[string]string{}, unread: map[string]bool{}}
}

// accountEntry is an Account or ClusterAccount as the book read it.
type accountEntry struct {
	key     types.NamespacedName
	account *Account
	// err: it could not be read.
	err error
	// remote is the remote account it resolves to: its status records it,
	// or a listing of its groups told (learn); "" while unknown.
	remote string
}

// get reads the Account (key with a namespace) or ClusterAccount once.
func (b *accountBook) get(ctx context.Context, key types.NamespacedName) *accountEntry {
	if e, ok := b.byKey[key]; ok {
		return e
	}
	e := &accountEntry{key: key}
	b.byKey[key] = e
	e.account, e.err = GetAccount(ctx, b.c, key)
	if e.err == nil {
		e.remote = e.account.Status.RemoteAccount
	}
	return e
}

// learn takes the remote account from a listing of the account's groups
// when its status does not record one yet, as the operator learns an
// ssid's.
func (e *accountEntry) learn(groups []groupapi.Group) {
	for _, g := range groups {
		if e.remote != "" {
			return
		}
		if g.UserID != "" {
			e.remote = accounts.RemoteAccount{Host: accounts.HostOf(e.account.Spec.BaseURL), User: g.UserID}.String()
		}
	}
}

// lends reports whether AgentGroups of namespace ns may use account e:
// an Account always; a ClusterAccount when its allowedNamespaces selects
// the namespace's labels (ClusterAccount.AllowsNamespace, the operator's
// rule). known is false when the namespace could not be read: the check
// is skipped, with a note.
func (b *accountBook) lends(ctx context.Context, e *accountEntry, ns string) (allowed bool, why string, known bool) {
	ca := e.account.ClusterAccount
	if ca == nil {
		return true, "", true
	}
	labels, known := b.namespaceLabels(ctx, ns)
	if !known {
		return true, "", false
	}
	allowed, why = ca.AllowsNamespace(labels)
	return allowed, why, true
}

// namespaceLabels are the labels namespace ns has, with those its
// manifest sets laid over them; a namespace that does not exist (yet) has
// only its manifest's. ok is false when it could not be read.
func (b *accountBook) namespaceLabels(ctx context.Context, ns string) (map[string]string, bool) {
	if l, ok := b.labels[ns]; ok || b.unread[ns] {
		return l, ok
	}
	n := &corev1.Namespace{}
	err := b.c.Get(ctx, types.NamespacedName{Name: ns}, n)
	switch {
	case err == nil || apierrors.IsNotFound(err):
	case apierrors.IsForbidden(err):
		if !b.noted {
			fmt.Fprintln(b.notes, "note: you may not get namespaces; whether a ClusterAccount's spec.allowedNamespaces lends it to a namespace is not checked")
			b.noted = true
		}
		b.unread[ns] = true
		return nil, false
	default:
		fmt.Fprintf(b.notes, "note: read namespace %s: %v; whether a ClusterAccount's spec.allowedNamespaces lends it to the namespace is not checked\n", ns, err)
		b.unread[ns] = true
		return nil, false
	}
	labels := maps.Clone(n.Labels)
	if m, ok := b.manifestLabels[ns]; ok {
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, m)
	}
	b.labels[ns] = labels
	return labels, true
}

// onRemoteOf reports whether AgentGroup g's binding is, or would be, on
// the remote account of a, as the operator judges it (controllers'
// pass.sameRemote): by the remote account g's status records, else by
// the one g's own Account or ClusterAccount resolves to, which must lend
// itself to g's namespace. While a remote account is not known, only an
// AgentGroup of a itself is on it.
func (b *accountBook) onRemoteOf(ctx context.Context, g *deepcallv1.AgentGroup, a *accountEntry) bool {
	if g.Status.RemoteAccount != "" && a.remote != "" {
		return g.Status.RemoteAccount == a.remote
	}
	own := a
	if key := g.AccountKey(); key != a.key {
		own = b.get(ctx, key)
		if own.err != nil || own.remote == "" || own.remote != a.remote {
			return false
		}
	}
	if own.err != nil {
		return false
	}
	allowed, _, known := b.lends(ctx, own, g.Namespace)
	return allowed || !known
}
