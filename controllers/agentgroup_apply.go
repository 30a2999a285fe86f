package controllers

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// apply makes one remote call per planned action.
func (s *pass) apply(ctx context.Context, obs observation, p plan.Plan) outcome {
	g := s.g
	after := obs.remote
	groupapi.ExpectCalls(ctx, len(p.Actions))
	for _, a := range p.Actions {
		switch a.Kind {
		case plan.Create:
			id, out := s.create(ctx, a.Name, obs.knownTwins)
			if out != nil {
				return *out
			}
			after = &plan.Remote{ID: id, Name: a.Name, Enabled: true}
		case plan.Update:
			if out := s.update(ctx, after, a); out != nil {
				return *out
			}
		case plan.Assign:
			if err := s.entry.Client.SubmitAssignGroupToAgent(ctx, groupapi.AssignRequest{GroupID: after.ID, Members: a.Members, Receivers: a.Receivers}); err != nil {
				return s.remoteError(fmt.Sprintf("assign agents to group %s", after.ID), err)
			}
			after.Members, after.Receivers = a.Members, a.Receivers
		}
	}
	// Differences found while the spec stood still were made by hand.
	if obs.remote != nil && len(p.Actions) > 0 && g.Generation == g.Status.ObservedGeneration {
		s.driftDetected(p.Drift)
		s.event(false, deepcallv1.ReasonDriftCorrected, "corrected: %s", driftSummary(p.Drift))
		metrics.driftCorrected.Inc()
	}
	if s.recreating && after != nil {
		s.event(false, deepcallv1.EventRecreated, "recreated remote group as %s", after.ID)
		metrics.driftCorrected.Inc()
	}
	msg := fmt.Sprintf("remote group %s matches spec", after.ID)
	return outcome{final: true, reason: deepcallv1.ReasonSynced, message: msg, remote: after, driftKnown: true,
		result: s.resync()}
}

// update renames and enables or disables the group. A rename takes the
// new name's lock and checks, on a fresh listing, that no other group holds
// the name: the API would append a number, and every later pass would
// rename again.
func (s *pass) update(ctx context.Context, r *plan.Remote, a plan.Action) *outcome {
	renaming := plan.Renames(r.Name, a.Name)
	if renaming {
		defer s.remote().LockName(a.Name)()
		if out := s.checkNameHolder(ctx, a.Name); out != nil {
			return out
		}
		groups, ok, err := s.remote().Fresh(s.g.UID, client.ObjectKeyFromObject(s.g), s.r.asksSince(s.g), accounts.FreshFor, s.entry.Client)
		if err != nil {
			o := s.remoteError("list groups", err)
			return &o
		}
		if !ok {
			return s.awaitListing()
		}
		if st := plan.RenameConflict(r.ID, a.Name, remotes(groups)); st != nil {
			return s.stall(st)
		}
	}
	if err := s.entry.Client.Update(ctx, groupapi.UpdateRequest{GroupID: r.ID, Name: a.Name, Enabled: a.Enabled}); err != nil {
		o := s.remoteError(fmt.Sprintf("update group %s", r.ID), err)
		return &o
	}
	if renaming {
		s.remote().Changed(groupapi.Group{ID: r.ID, Name: a.Name, Enabled: a.Enabled}, false)
	}
	r.Name, r.Enabled = a.Name, a.Enabled
	return nil
}

// observed reports, for managementPolicy Observe, without writing.
func (s *pass) observed(remote *plan.Remote, p plan.Plan) outcome {
	s.driftDetected(p.Drift)
	if remote == nil {
		return outcome{final: true, reason: deepcallv1.ReasonNothingToObserve, drift: p.Drift, driftKnown: true,
			message: fmt.Sprintf("no remote group named %q exists; managementPolicy Observe never creates one", s.g.DesiredName()),
			result:  s.resync()}
	}
	msg := fmt.Sprintf("observing remote group %s; managementPolicy Observe reports differences without correcting them", remote.ID)
	return outcome{final: true, reason: deepcallv1.ReasonObserving, message: msg, remote: remote, drift: p.Drift, driftKnown: true,
		result: s.resync()}
}

// driftDetected emits one event when the set of differences changes.
func (s *pass) driftDetected(drift []string) {
	if len(drift) == 0 || slices.Equal(drift, s.base.Status.Drift) {
		return
	}
	metrics.driftDetected.Inc()
	s.event(true, deepcallv1.ReasonDriftDetected, "%s", driftSummary(drift))
}
