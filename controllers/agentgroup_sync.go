package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// pass is one reconcile of one AgentGroup: observe, plan, apply.
type pass struct {
	r     *AgentGroupReconciler
	g     *deepcallv1.AgentGroup
	base  *deepcallv1.AgentGroup // the object as last written, for patches
	entry *accounts.Entry

	// knownTwins are remote groups already named like ours before a create.
	knownTwins []string
	// recreating is set when the bound group was deleted by hand.
	recreating bool
	// events are emitted after the status is written.
	events []pendingEvent
}

type pendingEvent struct {
	warning      bool
	reason, note string
}

// outcome is what a pass found and did; status and requeue follow from it.
type outcome struct {
	ready, stalled bool
	// final: this generation was fully evaluated (status.observedGeneration).
	final           bool
	reason, message string
	// remote is the remote group as it stands after the pass.
	remote *plan.Remote
	// drift still standing after the pass, when driftKnown.
	drift      []string
	driftKnown bool

	result     ctrl.Result
	err        error
	keepStatus bool
}

func (s *pass) event(warning bool, reason, format string, args ...any) {
	s.events = append(s.events, pendingEvent{warning: warning, reason: reason, note: fmt.Sprintf(format, args...)})
}

func (s *pass) reconcileNormal(ctx context.Context) outcome {
	g := s.g
	if g.Spec.Suspend {
		return outcome{final: true, reason: deepcallv1.ReasonSuspended, message: "spec.suspend is true: no remote calls are made"}
	}
	if other, err := s.duplicateOf(ctx); err != nil {
		return outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
	} else if other != "" {
		return outcome{stalled: true, final: true, reason: deepcallv1.ReasonDuplicateGroupName,
			message: fmt.Sprintf("AgentGroup %s already manages the group name %q in Account %s: give this AgentGroup another spec.groupName", other, g.DesiredName(), g.AccountName())}
	}
	if out := s.useAccount(ctx, true); out != nil {
		return *out
	}
	key := client.ObjectKeyFromObject(g)
	if m, ok := s.r.stalled.Load(key); ok && m.(stallMark) == (stallMark{g.Generation, s.entry.Epoch}) {
		return outcome{keepStatus: true}
	}
	s.r.stalled.Delete(key)

	remote, out := s.observe(ctx)
	if out != nil {
		return *out
	}
	mode := plan.Manage
	if g.IsObserveOnly() {
		mode = plan.Observe
	}
	p := plan.Compute(desired(g), remote, mode)
	if mode == plan.Observe {
		return s.observed(remote, p)
	}
	return s.apply(ctx, remote, p)
}

// useAccount finds the Account's client; for a normal pass the Account must
// be Ready, for a deletion any built client will do.
func (s *pass) useAccount(ctx context.Context, mustBeReady bool) *outcome {
	g := s.g
	key := types.NamespacedName{Namespace: g.Namespace, Name: g.AccountName()}
	acct := &deepcallv1.Account{}
	if err := s.r.Get(ctx, key, acct); err != nil {
		if apierrors.IsNotFound(err) {
			return &outcome{reason: deepcallv1.ReasonAccountNotFound, message: fmt.Sprintf("Account %q not found in namespace %s", key.Name, key.Namespace),
				result: ctrl.Result{RequeueAfter: time.Minute}}
		}
		return &outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
	}
	entry, ok := s.r.Accounts.Get(key)
	ready, why := false, "its credentials have not been checked yet"
	if ok {
		ready, why = entry.Ready()
	}
	if !ok || (mustBeReady && !ready) {
		// The Account controller wakes this group when that changes.
		return &outcome{reason: deepcallv1.ReasonAccountNotReady, message: fmt.Sprintf("Account %s is not ready: %s", key.Name, why), result: ctrl.Result{RequeueAfter: time.Minute}}
	}
	s.entry = entry
	return nil
}

// duplicateOf names an older AgentGroup of the same Account that wants the
// same group name, if any.
func (s *pass) duplicateOf(ctx context.Context) (string, error) {
	g := s.g
	var list deepcallv1.AgentGroupList
	if err := s.r.List(ctx, &list, client.InNamespace(g.Namespace), client.MatchingFields{indexGroupByName: nameKey(g.AccountName(), g.DesiredName())}); err != nil {
		return "", fmt.Errorf("list AgentGroups by name: %w", err)
	}
	for i := range list.Items {
		o := &list.Items[i]
		if o.Name == g.Name {
			continue
		}
		if o.CreationTimestamp.Before(&g.CreationTimestamp) || (o.CreationTimestamp.Equal(&g.CreationTimestamp) && o.Name < g.Name) {
			return o.Name, nil
		}
	}
	return "", nil
}

// claimant names another AgentGroup of the same Account bound to id.
func (s *pass) claimant(ctx context.Context, id string) (string, error) {
	var list deepcallv1.AgentGroupList
	if err := s.r.List(ctx, &list, client.InNamespace(s.g.Namespace), client.MatchingFields{indexGroupByGroupID: groupIDKey(s.g.AccountName(), id)}); err != nil {
		return "", fmt.Errorf("list AgentGroups by group id: %w", err)
	}
	for i := range list.Items {
		if list.Items[i].Name != s.g.Name {
			return list.Items[i].Name, nil
		}
	}
	return "", nil
}

// observe reads the remote group this AgentGroup is bound to, binding it
// first if needed. A nil remote with no outcome means there is none.
func (s *pass) observe(ctx context.Context) (*plan.Remote, *outcome) {
	g := s.g
	id, out := s.bind(ctx)
	if out != nil || id == "" {
		return nil, out
	}
	detail, err := s.entry.Client.GetGroupAgentRelation(ctx, id)
	if groupapi.IsNotFound(err) {
		if g.Spec.GroupID != "" {
			return nil, &outcome{stalled: true, final: true, reason: deepcallv1.ReasonRemoteGroupNotFound,
				message: fmt.Sprintf("remote group %s (spec.groupId) does not exist or is not visible to this account", id)}
		}
		if g.IsObserveOnly() {
			return nil, nil
		}
		// Deleted by hand: create it again, after the same name checks as
		// the first time, against a fresh listing.
		ctrl.LoggerFrom(ctx).Info("Remote group was deleted outside the operator", "groupId", id)
		s.event(true, deepcallv1.ReasonDriftDetected, "remote group %s was deleted outside the operator", id)
		g.Status.GroupID = ""
		s.recreating = true
		if id, out = s.lookup(ctx, 0); out != nil || id == "" {
			return nil, out
		}
		detail, err = s.entry.Client.GetGroupAgentRelation(ctx, id)
	}
	if err != nil {
		o := s.remoteError(fmt.Sprintf("read group %s", id), err)
		return nil, &o
	}
	g.Status.GroupID = id
	g.Status.PendingCreate = nil
	return &plan.Remote{ID: id, Name: detail.Group.Name, Enabled: detail.Group.Enabled, Members: detail.Members, Receivers: detail.Receivers}, nil
}

// bind returns the remote id this AgentGroup manages: the bound one, the
// one an unanswered add created, or one adopted by name; "" when none.
func (s *pass) bind(ctx context.Context) (string, *outcome) {
	if id := boundGroupID(s.g); id != "" {
		return id, nil
	}
	if s.g.Status.PendingCreate != nil {
		id, out := s.resolvePending(ctx)
		if out != nil || id != "" {
			return id, out
		}
		return s.lookup(ctx, 0)
	}
	return s.lookup(ctx, s.r.LookupMaxAge)
}

// lookup finds a remote group by name before a create: adopted with
// adoptionPolicy ByName, a NameConflict otherwise.
func (s *pass) lookup(ctx context.Context, maxAge time.Duration) (string, *outcome) {
	g := s.g
	groups, err := s.entry.Groups(ctx, maxAge)
	if err != nil {
		o := s.remoteError("list groups", err)
		return "", &o
	}
	exact, twins := plan.Candidates(g.DesiredName(), remotes(groups))
	s.knownTwins = ids(twins)
	if len(exact) == 0 {
		return "", nil
	}
	if maxAge > 0 {
		// A conflict is decided on a fresh listing, never a cached one.
		return s.lookup(ctx, 0)
	}
	conflict := func(msg string) (string, *outcome) {
		return "", &outcome{stalled: true, final: true, reason: deepcallv1.ReasonNameConflict, message: msg,
			result: ctrl.Result{RequeueAfter: s.nextSync()}}
	}
	if len(exact) > 1 {
		return conflict(fmt.Sprintf("remote groups %s are all named %q: set spec.groupId to the one to manage", strings.Join(ids(exact), ", "), g.DesiredName()))
	}
	if stale, err := s.staleCache(ctx); err != nil || stale {
		// Our own create, whose record the cache has not seen yet, would
		// look like a conflict: look again once it has.
		return "", &outcome{keepStatus: true, result: ctrl.Result{RequeueAfter: time.Second}, err: err}
	}
	id := exact[0].ID
	other, err := s.claimant(ctx, id)
	if err != nil {
		return "", &outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
	}
	if other != "" {
		return conflict(fmt.Sprintf("remote group %s %q is already managed by AgentGroup %s", id, exact[0].Name, other))
	}
	if g.Spec.AdoptionPolicy != deepcallv1.AdoptionByName {
		return conflict(fmt.Sprintf("remote group %s %q already exists and was not created by this AgentGroup: set spec.adoptionPolicy: ByName or spec.groupId: %q to manage it, or choose another spec.groupName", id, exact[0].Name, id))
	}
	g.Status.GroupID = id
	s.event(false, deepcallv1.EventAdopted, "adopted remote group %s %q by name", id, exact[0].Name)
	return id, nil
}

// staleCache reports whether the API server holds a newer AgentGroup than
// the cache gave this pass (the cache lags the pass's own status writes).
func (s *pass) staleCache(ctx context.Context) (bool, error) {
	if s.r.APIReader == nil {
		return false, nil
	}
	fresh := &deepcallv1.AgentGroup{}
	if err := s.r.APIReader.Get(ctx, client.ObjectKeyFromObject(s.g), fresh); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return fresh.ResourceVersion != s.base.ResourceVersion, nil
}

// resolvePending settles an add call whose answer never arrived: the one
// new group with our name (or a twin of it) is ours; none means the add did
// not happen, once it can no longer land; several is for a person to decide.
func (s *pass) resolvePending(ctx context.Context) (string, *outcome) {
	g := s.g
	p := g.Status.PendingCreate
	groups, err := s.entry.Client.List(ctx, groupapi.ListOptions{Name: p.Name, Quick: true})
	if err != nil {
		o := s.remoteError("list groups", err)
		return "", &o
	}
	exact, twins := plan.Candidates(p.Name, remotes(groups))
	known := map[string]bool{}
	for _, id := range p.KnownGroupIDs {
		known[id] = true
	}
	var found []string
	for _, c := range append(exact, twins...) {
		if known[c.ID] {
			continue
		}
		other, err := s.claimant(ctx, c.ID)
		if err != nil {
			return "", &outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
		}
		if other == "" {
			found = append(found, c.ID)
		}
	}
	switch len(found) {
	case 1:
		g.Status.GroupID, g.Status.PendingCreate = found[0], nil
		s.event(false, deepcallv1.EventCreated, "found remote group %s, created by an add call whose answer was lost", found[0])
		return found[0], nil
	case 0:
		if wait := s.r.CreateSettle - time.Since(p.StartedAt.Time); wait > 0 {
			return "", &outcome{reason: deepcallv1.ReasonCreatePending,
				message: fmt.Sprintf("an add call for %q got no answer and its group is not listed yet; checking again before adding once more", p.Name),
				result:  ctrl.Result{RequeueAfter: wait}}
		}
		g.Status.PendingCreate = nil
		return "", nil
	default:
		sort.Strings(found)
		return "", &outcome{stalled: true, final: true, reason: deepcallv1.ReasonAmbiguousCreate,
			message: fmt.Sprintf("an add call for %q got no answer and remote groups %s could each be the one it created: set spec.groupId to the right one and delete the others by hand", p.Name, strings.Join(found, ", "))}
	}
}

// apply makes one remote call per planned action.
func (s *pass) apply(ctx context.Context, remote *plan.Remote, p plan.Plan) outcome {
	g := s.g
	after := remote
	for _, a := range p.Actions {
		switch a.Kind {
		case plan.Create:
			id, out := s.create(ctx, a.Name)
			if out != nil {
				return *out
			}
			after = &plan.Remote{ID: id, Name: a.Name, Enabled: true}
		case plan.Update:
			if !plan.SameName(after.Name, a.Name) {
				if out := s.checkNameFree(ctx, after.ID, a.Name); out != nil {
					return *out
				}
			}
			if err := s.entry.Client.Update(ctx, groupapi.UpdateRequest{GroupID: after.ID, Name: a.Name, Enabled: a.Enabled}); err != nil {
				return s.remoteError(fmt.Sprintf("update group %s", after.ID), err)
			}
			after.Name, after.Enabled = a.Name, a.Enabled
		case plan.Assign:
			if err := s.entry.Client.SubmitAssignGroupToAgent(ctx, groupapi.AssignRequest{GroupID: after.ID, Members: a.Members, Receivers: a.Receivers}); err != nil {
				return s.remoteError(fmt.Sprintf("assign agents to group %s", after.ID), err)
			}
			after.Members, after.Receivers = a.Members, a.Receivers
		}
	}
	// Differences found while the spec stood still were made by hand.
	if remote != nil && len(p.Actions) > 0 && g.Generation == g.Status.ObservedGeneration {
		s.driftDetected(p.Drift)
		s.event(false, deepcallv1.ReasonDriftCorrected, "corrected: %s", strings.Join(p.Drift, "; "))
		metrics.driftCorrected.Inc()
	}
	if s.recreating && after != nil {
		s.event(false, deepcallv1.EventRecreated, "recreated remote group as %s", after.ID)
		metrics.driftCorrected.Inc()
	}
	msg := fmt.Sprintf("remote group %s matches spec", after.ID)
	return outcome{ready: true, final: true, reason: deepcallv1.ReasonSynced, message: msg, remote: after, driftKnown: true,
		result: ctrl.Result{RequeueAfter: s.nextSync()}}
}

// observed reports, for managementPolicy Observe, without writing.
func (s *pass) observed(remote *plan.Remote, p plan.Plan) outcome {
	s.driftDetected(p.Drift)
	if remote == nil {
		return outcome{final: true, reason: deepcallv1.ReasonRemoteGroupNotFound, drift: p.Drift, driftKnown: true,
			message: fmt.Sprintf("no remote group named %q exists; managementPolicy Observe never creates one", s.g.DesiredName()),
			result:  ctrl.Result{RequeueAfter: s.nextSync()}}
	}
	msg := fmt.Sprintf("observing remote group %s; managementPolicy Observe reports differences without correcting them", remote.ID)
	return outcome{ready: true, final: true, reason: deepcallv1.ReasonObserving, message: msg, remote: remote, drift: p.Drift, driftKnown: true,
		result: ctrl.Result{RequeueAfter: s.nextSync()}}
}

// driftDetected emits one event when the set of differences changes.
func (s *pass) driftDetected(drift []string) {
	if len(drift) == 0 || slices.Equal(drift, s.base.Status.Drift) {
		return
	}
	metrics.driftDetected.Inc()
	s.event(true, deepcallv1.ReasonDriftDetected, "%s", strings.Join(drift, "; "))
}

// create records the intent, then calls add, so a crash or a lost answer
// after it is resolved by resolvePending instead of adding a second group.
func (s *pass) create(ctx context.Context, name string) (string, *outcome) {
	g := s.g
	known := s.knownTwins
	if len(known) > 100 {
		known = known[:100]
	}
	g.Status.PendingCreate = &deepcallv1.PendingCreate{Name: name, StartedAt: metav1.NowMicro(), KnownGroupIDs: known}
	setCondition(&g.Status.Conditions, g.Generation, deepcallv1.ConditionReconciling, metav1.ConditionTrue, deepcallv1.ReasonCreating, fmt.Sprintf("creating remote group %q", name))
	if err := s.patchStatus(ctx); err != nil {
		if apierrors.IsConflict(err) {
			return "", &outcome{keepStatus: true, result: ctrl.Result{RequeueAfter: time.Second}}
		}
		return "", &outcome{keepStatus: true, err: fmt.Errorf("record create intent: %w", err)}
	}
	id, err := s.entry.Client.Add(ctx, name)
	if err != nil {
		if answered(err) {
			// The API answered with an error: nothing was created.
			g.Status.PendingCreate = nil
		}
		o := s.remoteError(fmt.Sprintf("add group %q", name), err)
		return "", &o
	}
	ctrl.LoggerFrom(ctx).Info("Created remote group", "groupId", id, "name", name)
	// The pass's status write records the id. Until it lands, the recorded
	// intent stands: a crash or a failed write is settled by resolvePending.
	g.Status.GroupID, g.Status.PendingCreate = id, nil
	s.entry.AddToListing(groupapi.Group{ID: id, Name: name, Enabled: true})
	if !s.recreating {
		s.event(false, deepcallv1.EventCreated, "created remote group %s %q", id, name)
	}
	return id, nil
}

// checkNameFree refuses a rename onto a name another remote group holds:
// the API would append a number, and every later pass would rename again.
func (s *pass) checkNameFree(ctx context.Context, id, name string) *outcome {
	groups, err := s.entry.Groups(ctx, 0)
	if err != nil {
		o := s.remoteError("list groups", err)
		return &o
	}
	exact, _ := plan.Candidates(name, remotes(groups))
	for _, e := range exact {
		if e.ID != id {
			return &outcome{stalled: true, final: true, reason: deepcallv1.ReasonNameConflict,
				message: fmt.Sprintf("cannot rename remote group %s to %q: remote group %s already has that name; choose another spec.groupName", id, name, e.ID),
				result:  ctrl.Result{RequeueAfter: s.nextSync()}}
		}
	}
	return nil
}

// remoteError turns a failed call into an outcome: terminal errors stall
// until something changes, the rest back off.
func (s *pass) remoteError(call string, err error) outcome {
	msg := fmt.Sprintf("%s: %v", call, err)
	switch {
	case groupapi.IsPermissionDenied(err):
		s.markStalled()
		return outcome{stalled: true, final: true, reason: deepcallv1.ReasonPermissionDenied, err: reconcile.TerminalError(err),
			message: msg + " (grant the account the AGENT_TO_AGENT_CALL permission or fix the credentials Secret)"}
	case groupapi.IsTerminal(err):
		s.markStalled()
		return outcome{stalled: true, final: true, reason: deepcallv1.ReasonInvalidRequest, message: msg, err: reconcile.TerminalError(err)}
	}
	if d, ok := groupapi.RetryAfter(err); ok {
		return outcome{reason: deepcallv1.ReasonRemoteError, message: msg, result: ctrl.Result{RequeueAfter: d}}
	}
	return outcome{reason: deepcallv1.ReasonRemoteError, message: msg, err: err}
}

func (s *pass) markStalled() {
	if s.entry != nil {
		s.r.stalled.Store(client.ObjectKeyFromObject(s.g), stallMark{s.g.Generation, s.entry.Epoch})
	}
}

func (s *pass) nextSync() time.Duration {
	interval := 10 * time.Minute
	if s.entry != nil && s.entry.Interval() > 0 {
		interval = s.entry.Interval()
	}
	return accounts.NextSync(time.Now(), interval, string(s.g.UID))
}

// answered reports whether the API itself answered the call (with an error
// body, or 429), so the call certainly did not take effect.
func answered(err error) bool {
	var apiErr *groupapi.APIError
	return errors.As(err, &apiErr) && (apiErr.Code != 0 || apiErr.HTTPStatus == 429)
}

func desired(g *deepcallv1.AgentGroup) plan.Desired {
	return plan.Desired{Name: g.DesiredName(), Members: agentIDs(g.Spec.Members), Receivers: agentIDs(g.Spec.ReceiveCall), Enabled: g.IsEnabled()}
}

func agentIDs(in []deepcallv1.AgentID) []string {
	out := make([]string, len(in))
	for i, a := range in {
		out[i] = string(a)
	}
	return out
}

func remotes(groups []groupapi.Group) []plan.Remote {
	out := make([]plan.Remote, len(groups))
	for i, g := range groups {
		out[i] = plan.Remote{ID: g.ID, Name: g.Name, Enabled: g.Enabled}
	}
	return out
}

func ids(rs []plan.Remote) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
