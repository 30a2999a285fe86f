package plugin

import (
	"context"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// managedGroups returns, by remote group id, the AgentGroup that already
// manages (status.groupId) or names (spec.groupId) each group of acct's
// remote account, in every namespace the person may list; only in ns,
// said on notes, when they may not list AgentGroups cluster-wide.
func managedGroups(ctx context.Context, c client.Client, acct *Account, ns string, notes io.Writer) (map[string]types.NamespacedName, error) {
	var list deepcallv1.AgentGroupList
	err := c.List(ctx, &list)
	if apierrors.IsForbidden(err) {
		fmt.Fprintf(notes, "note: you may not list AgentGroups in all namespaces: only namespace %s was checked for groups AgentGroups already manage\n", ns)
		err = c.List(ctx, &list, client.InNamespace(ns))
	}
	if err != nil {
		return nil, fmt.Errorf("list AgentGroups to find the groups already managed: %w", err)
	}
	managed := map[string]types.NamespacedName{}
	for i := range list.Items {
		g := &list.Items[i]
		if !onRemoteAccountOf(g, acct) {
			continue
		}
		for _, id := range []string{g.Status.GroupID, g.Spec.GroupID} {
			if _, seen := managed[id]; id != "" && !seen {
				managed[id] = client.ObjectKeyFromObject(g)
			}
		}
	}
	return managed, nil
}

// onRemoteAccountOf reports whether g's group is on acct's remote account:
// the remote accounts both recorded are the same or, while either is not
// known yet, g names acct itself.
func onRemoteAccountOf(g *deepcallv1.AgentGroup, acct *Account) bool {
	if g.Status.RemoteAccount != "" && acct.Status.RemoteAccount != "" {
		return g.Status.RemoteAccount == acct.Status.RemoteAccount
	}
	return g.AccountKey() == acct.Key
}
