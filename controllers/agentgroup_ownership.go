package controllers

import (
	"context"
	"fmt"
	"sort"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// Who owns what. A binding is (AgentGroup, remote account, remote group
// id). One remote group has at most one holder, and one group name on a
// remote account at most one claimant, across every namespace and Account
// that resolves to that remote account. Decisions made in this process are
// recorded as claims on the shared accounts.Remote (the cache lags our own
// writes); beyond that the rule is the same everywhere: an AgentGroup
// already bound comes first, then the oldest (creationTimestamp, then UID).

// checkRemoteAccount refuses to act for a binding (or pending create) made
// in another remote account than the one the Account resolves to now: new
// credentials must not recreate, delete or unbind anything.
func (s *pass) checkRemoteAccount() *outcome {
	g := s.g
	recorded := g.Status.RemoteAccount
	if p, _ := createIntent(g); p != nil && recorded == "" {
		recorded = p.RemoteAccount
	}
	now := s.remote().ID
	if recorded == "" || recorded == now.String() {
		return nil
	}
	what := fmt.Sprintf("remote group %s", g.Status.GroupID)
	if g.Status.GroupID == "" {
		what = "the pending create of this AgentGroup"
	}
	msg := fmt.Sprintf("%s belongs to remote account %s, but %s now resolves to %s: nothing is created, changed or deleted. "+
		"Point the Account back at %s, or see AccountChanged in docs/reference.md to move", what, recorded, accountName(g), now, recorded)
	if !now.Known() {
		msg = fmt.Sprintf("%s belongs to remote account %s; the ssid credentials of %s cannot be matched to it, because the account they open lists no group: nothing is created, changed or deleted. "+
			"Use userId and token credentials, or see AccountChanged in docs/reference.md", what, recorded, accountName(g))
	}
	return &outcome{final: true, reason: deepcallv1.ReasonAccountChanged, message: msg}
}

// checkHolder refuses a remote group another AgentGroup holds.
func (s *pass) checkHolder(ctx context.Context, id string) *outcome {
	holder, err := s.holderOf(ctx, id)
	if err != nil {
		return &outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
	}
	if holder.UID != s.g.UID {
		return s.inUse(id, holder)
	}
	return nil
}

func (s *pass) inUse(id string, holder accounts.Claim) *outcome {
	return &outcome{final: true, reason: deepcallv1.ReasonGroupIDInUse,
		message: fmt.Sprintf("remote group %s is managed by AgentGroup %s: this AgentGroup makes no change to it, and deleting it leaves the group alone. "+
			"Delete one of the two, or give this one another spec.groupId", id, holder.Owner)}
}

// holderOf returns the AgentGroup holding remote group id, or a zero Claim
// when no AgentGroup claims it.
func (s *pass) holderOf(ctx context.Context, id string) (accounts.Claim, error) {
	rem := s.remote()
	if c, ok := rem.Claimed(id); ok {
		return c, nil
	}
	var list deepcallv1.AgentGroupList
	if err := s.r.List(ctx, &list, client.MatchingFields{indexGroupByGroupID: id}); err != nil {
		return accounts.Claim{}, fmt.Errorf("list AgentGroups by remote group id: %w", err)
	}
	var claimants []*deepcallv1.AgentGroup
	if claimedGroupID(s.g) == id {
		claimants = append(claimants, s.g)
	}
	for i := range list.Items {
		if c := &list.Items[i]; c.UID != s.g.UID && s.sameRemote(ctx, c) {
			claimants = append(claimants, c)
		}
	}
	if len(claimants) == 0 {
		return accounts.Claim{}, nil
	}
	first := senior(claimants, func(c *deepcallv1.AgentGroup) bool { return c.Status.GroupID == id })
	return rem.Claim(id, claimOf(first)), nil
}

// bind makes id this AgentGroup's remote group, unless another holds it.
func (s *pass) bind(id string) *outcome {
	if c := s.remote().Claim(id, claimOf(s.g)); c.UID != s.g.UID {
		return s.inUse(id, c)
	}
	g := s.g
	if g.Status.GroupID != id {
		g.Status.GroupID = id
		s.bindingChanged = true
	}
	g.Status.RemoteAccount = s.remote().ID.String()
	g.Status.PendingCreate = nil
	return nil
}

// unbind lets go of a remote group that is gone. The intent of the add
// that made it is settled first: with no group bound it would count again.
func (s *pass) unbind(ctx context.Context, id string) error {
	if err := s.settleIntent(ctx); err != nil {
		return fmt.Errorf("clear the create intent of remote group %s: %w", id, err)
	}
	s.remote().Changed(groupapi.Group{ID: id}, true)
	s.remote().Release(id, s.g.UID)
	s.r.deletedByHand.Store(s.g.UID, time.Now())
	s.g.Status.GroupID, s.g.Status.RemoteAccount = "", ""
	s.bindingChanged, s.recreating = true, true
	return nil
}

// checkNameHolder refuses a group name another AgentGroup on the same
// remote account claims first. The caller holds the name's lock.
func (s *pass) checkNameHolder(ctx context.Context, name string) *outcome {
	var list deepcallv1.AgentGroupList
	if err := s.r.List(ctx, &list, client.MatchingFields{indexGroupByName: nameKey(name)}); err != nil {
		err = fmt.Errorf("list AgentGroups by name: %w", err)
		return &outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
	}
	claimants := []*deepcallv1.AgentGroup{s.g}
	for i := range list.Items {
		if c := &list.Items[i]; c.UID != s.g.UID && s.sameRemote(ctx, c) {
			claimants = append(claimants, c)
		}
	}
	rem := s.remote()
	first := senior(claimants, func(c *deepcallv1.AgentGroup) bool { return c.Status.GroupID != "" || rem.HoldsAny(c.UID) })
	if first.UID == s.g.UID {
		return nil
	}
	return &outcome{final: true, reason: deepcallv1.ReasonDuplicateGroupName,
		message: fmt.Sprintf("AgentGroup %s/%s already manages the group name %q on remote account %s: give this AgentGroup another spec.groupName",
			first.Namespace, first.Name, name, rem.ID)}
}

// sameRemote reports whether another AgentGroup's binding is, or would be,
// on this pass's remote account. One that names a ClusterAccount not lent
// to its namespace would not be: it claims nothing there.
func (s *pass) sameRemote(ctx context.Context, c *deepcallv1.AgentGroup) bool {
	rem := s.remote()
	if c.Status.RemoteAccount != "" && rem.ID.Known() {
		return c.Status.RemoteAccount == rem.ID.String()
	}
	e, ok := s.r.Accounts.Get(c.AccountKey())
	return ok && e.Remote == rem && s.r.mayUse(ctx, c)
}

// senior is the first claimant: one that is bound, then the oldest, then
// the smallest UID, so every pass decides the same way.
func senior(claimants []*deepcallv1.AgentGroup, bound func(*deepcallv1.AgentGroup) bool) *deepcallv1.AgentGroup {
	sort.SliceStable(claimants, func(i, j int) bool {
		a, b := claimants[i], claimants[j]
		if ba, bb := bound(a), bound(b); ba != bb {
			return ba
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.UID < b.UID
	})
	return claimants[0]
}

func claimOf(g *deepcallv1.AgentGroup) accounts.Claim {
	return accounts.Claim{Owner: client.ObjectKeyFromObject(g), UID: g.UID}
}
