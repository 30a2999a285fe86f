package controllers

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
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
	if p, _ := g.CreateIntent(); p != nil && recorded == "" {
		recorded = p.RemoteAccount
	}
	if st := plan.AccountChanged(g.Status.GroupID, recorded, s.remote().ID.String(), g.AccountRefString()); st != nil {
		return s.stall(st)
	}
	return nil
}

// checkHolder refuses a remote group another AgentGroup holds.
func (s *pass) checkHolder(ctx context.Context, id string) *outcome {
	holder, err := s.holderOf(ctx, id)
	if err != nil {
		return &outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
	}
	if holder.UID != s.g.UID {
		return s.stall(plan.InUse(id, holder.Owner.String()))
	}
	return nil
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
		return s.stall(plan.InUse(id, c.Owner.String()))
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
	rem := s.remote()
	bound := func(c *deepcallv1.AgentGroup) bool { return c.Status.GroupID != "" || rem.HoldsAny(c.UID) }
	var others []plan.Claimant
	for i := range list.Items {
		if c := &list.Items[i]; c.UID != s.g.UID && s.sameRemote(ctx, c) {
			others = append(others, claimantOf(c, bound(c)))
		}
	}
	if st := plan.CheckNameHolder(name, rem.ID.String(), claimantOf(s.g, bound(s.g)), others); st != nil {
		return s.stall(st)
	}
	return nil
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

// senior is the first claimant (plan.Senior): one that is bound, then the
// oldest, then the smallest UID, so every pass decides the same way.
func senior(claimants []*deepcallv1.AgentGroup, bound func(*deepcallv1.AgentGroup) bool) *deepcallv1.AgentGroup {
	cs := make([]plan.Claimant, len(claimants))
	for i, c := range claimants {
		cs[i] = claimantOf(c, bound(c))
	}
	return claimants[plan.Senior(cs)]
}

// claimantOf is an AgentGroup as plan's seniority rule sees it.
func claimantOf(g *deepcallv1.AgentGroup, bound bool) plan.Claimant {
	return plan.Claimant{Owner: client.ObjectKeyFromObject(g).String(), UID: string(g.UID), Created: g.CreationTimestamp.Time, Bound: bound}
}

// claimant is the holder of a remote group as plan sees it (zero: none).
func claimant(c accounts.Claim) plan.Claimant {
	if c.UID == "" {
		return plan.Claimant{}
	}
	return plan.Claimant{Owner: c.Owner.String(), UID: string(c.UID)}
}

func claimOf(g *deepcallv1.AgentGroup) accounts.Claim {
	return accounts.Claim{Owner: client.ObjectKeyFromObject(g), UID: g.UID}
}
