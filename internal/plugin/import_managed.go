package plugin

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// heldGroups are the AgentGroups that already hold groups of the remote
// account being imported, and the names taken in the namespace imported
// into.
type heldGroups struct {
	// byID is, by remote group id, the AgentGroup that holds
	// (status.groupId) or names (spec.groupId) it, in any namespace seen.
	byID map[string]types.NamespacedName
	// here is, by remote group id, the AgentGroup of the namespace that
	// holds or names it: --all writes the group under that name.
	here map[string]string
	// names are the AgentGroups of the namespace, by name, with the id of
	// the group they hold or name on the remote account ("": none).
	names map[string]string
}

// heldGroupsOf finds which of live hold groups on the remote account of
// a, as the operator judges it (accountBook.onRemoteOf), for an import
// into namespace ns. A group's status holder comes before one that only
// names it in its spec.
func heldGroupsOf(ctx context.Context, book *accountBook, a *accountEntry, live []*deepcallv1.AgentGroup, ns string) heldGroups {
	h := heldGroups{byID: map[string]types.NamespacedName{}, here: map[string]string{}, names: map[string]string{}}
	var onRemote []*deepcallv1.AgentGroup
	for _, g := range live {
		if g.Namespace == ns {
			h.names[g.Name] = ""
		}
		if book.onRemoteOf(ctx, g, a) {
			onRemote = append(onRemote, g)
		}
	}
	for _, claimed := range []func(*deepcallv1.AgentGroup) string{
		func(g *deepcallv1.AgentGroup) string { return g.Status.GroupID },
		func(g *deepcallv1.AgentGroup) string { return g.Spec.GroupID },
	} {
		for _, g := range onRemote {
			id := claimed(g)
			if id == "" {
				continue
			}
			if _, seen := h.byID[id]; !seen {
				h.byID[id] = client.ObjectKeyFromObject(g)
			}
			if g.Namespace != ns {
				continue
			}
			if _, seen := h.here[id]; !seen {
				h.here[id] = g.Name
			}
			if h.names[g.Name] == "" {
				h.names[g.Name] = id
			}
		}
	}
	return h
}

// nameFor is the metadata.name the manifest of group id named name gets: with --all, the name of the AgentGroup of the namespace that
// already holds it, so that applying the manifest changes that AgentGroup
// rather than adding a second one for the group (GroupIDInUse); otherwise
// the name derived from the group's (objectName). A name another
// AgentGroup of the namespace has is an error: applying the manifest
// would rebind that AgentGroup.
func (h heldGroups) nameFor(ns, id, name string, all bool) (string, error) {
	if holder, ok := h.here[id]; ok && all {
		return holder, nil
	}
	obj := objectName(name, id)
	if holds, taken := h.names[obj]; taken && holds != id {
		return "", fmt.Errorf("AgentGroup %s/%s, which does not manage this group, has the name import gives it: rename that AgentGroup, or import into another namespace", ns, obj)
	}
	return obj, nil
}
