package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// pass is one reconcile of one AgentGroup: observe, plan, apply, then one
// status write.
type pass struct {
	r       *AgentGroupReconciler
	g       *deepcallv1.AgentGroup
	base    *deepcallv1.AgentGroup // the object as last written, for patches
	account client.Object          // the Account or ClusterAccount
	entry   *accounts.Entry

	// bindingChanged is set when the pass changed status.groupId (or the
	// pending create): its status write must land, conflict or not.
	bindingChanged bool
	// recreating is set when the bound group was deleted by hand.
	recreating bool
	// events are emitted after the status is written.
	events []pendingEvent
}

// observation is what one pass learnt of the remote side before planning.
type observation struct {
	// remote is the group as read; nil when none exists for this AgentGroup.
	remote *plan.Remote
	// knownTwins are remote groups already named like ours before a
	// create, so a lost add's group is not mistaken for one of them.
	knownTwins []string
	// release frees the name lock a create holds from the check that the
	// name is free to the add that takes it.
	release func()
}

func (s *pass) reconcileNormal(ctx context.Context) outcome {
	g := s.g
	if g.Spec.Suspend {
		return outcome{final: true, reason: deepcallv1.ReasonSuspended, message: "spec.suspend is true: no remote calls are made"}
	}
	if out := s.useAccount(ctx, true); out != nil {
		return *out
	}
	if m, ok := s.r.stalled.Load(g.UID); ok {
		if m := m.(stallMark); m.holds(g, s.entry.Epoch) {
			return outcome{keepStatus: true, result: lowPriority(time.Until(m.until))}
		}
		s.r.stalled.Delete(g.UID)
	}

	obs, out := s.observe(ctx)
	if obs.release != nil {
		defer obs.release()
	}
	if out != nil {
		return *out
	}
	mode := plan.Manage
	if g.IsObserveOnly() {
		mode = plan.Observe
	}
	p := plan.Compute(desired(g), obs.remote, mode)
	if mode == plan.Observe {
		return s.observed(obs.remote, p)
	}
	return s.apply(ctx, obs, p)
}

func (s *pass) accountKey() types.NamespacedName { return s.g.AccountKey() }

// useAccount finds the Account's client; for a normal pass the Account must
// be Ready, for a deletion any built client will do. Until the Account's
// credentials have been checked (as after a restart) the AgentGroup waits
// without writing: it has nothing new to say. The Account wakes the
// AgentGroups that wait for it once it works.
func (s *pass) useAccount(ctx context.Context, mustBeReady bool) *outcome {
	key := s.accountKey()
	group := client.ObjectKeyFromObject(s.g)
	account, out := s.loadAccount(ctx, key)
	if out != nil {
		return out
	}
	s.account = account
	entry, why := s.r.Accounts.Lookup(key)
	checked := why != "" // an Account with no client says why
	if entry != nil {
		var ready bool
		ready, checked, why = entry.Ready()
		if ready || !mustBeReady {
			s.entry = entry
			return nil
		}
	}
	s.r.Accounts.Await(key, s.g.UID, group)
	if !checked {
		return &outcome{keepStatus: true, result: lowPriority(accountSafetyNet)}
	}
	return &outcome{reason: deepcallv1.ReasonAccountNotReady, message: fmt.Sprintf("%s %s is not ready: %s", kindOf(key), key.Name, why), result: lowPriority(accountSafetyNet)}
}

// loadAccount reads the Account of the AgentGroup, or its ClusterAccount
// if that allows the AgentGroup's namespace. A ClusterAccount that does
// not is never used, not even to delete: a namespace cannot borrow
// credentials it was not lent.
func (s *pass) loadAccount(ctx context.Context, key types.NamespacedName) (client.Object, *outcome) {
	notFound := func(what string) *outcome {
		s.r.Accounts.Await(key, s.g.UID, client.ObjectKeyFromObject(s.g))
		return &outcome{reason: deepcallv1.ReasonAccountNotFound, message: what + " not found", result: lowPriority(accountSafetyNet)}
	}
	failed := func(err error) *outcome {
		return &outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
	}
	if key.Namespace != "" {
		account := &deepcallv1.Account{}
		if err := s.r.Get(ctx, key, account); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, notFound(fmt.Sprintf("Account %q in namespace %s", key.Name, key.Namespace))
			}
			return nil, failed(err)
		}
		return account, nil
	}
	if !s.r.ClusterAccounts {
		return nil, &outcome{final: true, reason: deepcallv1.ReasonAccountNotAllowed, result: lowPriority(accountSafetyNet),
			message: fmt.Sprintf("this operator is confined to some namespaces (--watch-namespaces) and serves no ClusterAccount: use an Account in namespace %s", s.g.Namespace)}
	}
	account := &deepcallv1.ClusterAccount{}
	if err := s.r.Get(ctx, key, account); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notFound(fmt.Sprintf("ClusterAccount %q", key.Name))
		}
		return nil, failed(err)
	}
	allowed, why, err := s.r.namespaceAllowed(ctx, account, s.g.Namespace)
	if err != nil {
		return nil, failed(err)
	}
	if !allowed {
		// No Await: a change of the ClusterAccount's selector or of the
		// namespace's labels wakes the AgentGroup (SetupWithManager).
		return nil, &outcome{final: true, reason: deepcallv1.ReasonAccountNotAllowed, result: lowPriority(accountSafetyNet),
			message: account.NotAllowedMessage(s.g.Namespace, why)}
	}
	return account, nil
}

// accountSafetyNet re-checks an AgentGroup waiting for its Account, in
// case the wake was missed.
const accountSafetyNet = 10 * time.Minute

// observe answers, in this order: does the binding belong to the remote
// account the Account resolves to; which remote group is this AgentGroup's;
// does it hold that group; what does the group look like. For an
// AgentGroup with no group yet it looks the name up (adopt, conflict, or
// free to create).
func (s *pass) observe(ctx context.Context) (observation, *outcome) {
	if out := s.checkRemoteAccount(); out != nil {
		return observation{}, out
	}
	if g := s.g; g.Status.GroupID != "" || g.Spec.GroupID != "" || pendingCreate(g) {
		if out := s.holdRemoteGroup(ctx); out != nil {
			return observation{}, out
		}
	}
	id, out := s.boundID(ctx)
	if out != nil {
		return observation{}, out
	}
	if id == "" {
		return s.observeByName(ctx)
	}
	if out := s.checkHolder(ctx, id); out != nil {
		return observation{}, out
	}
	remote, err := s.read(ctx, id)
	if err == nil {
		return observation{remote: remote}, nil
	}
	if !groupapi.IsNotFound(err) {
		o := s.remoteError(fmt.Sprintf("read group %s", id), err)
		return observation{}, &o
	}
	// 1503 is "not found or not authorized", and may be read-after-write
	// lag: only a listing with the same credentials that lacks the group
	// says it is gone.
	if out := s.confirmGone(ctx, id); out != nil {
		return observation{}, out
	}
	lookUpName, st := plan.Gone(id, s.g.Spec.GroupID != "", s.g.IsObserveOnly())
	if st != nil {
		return observation{}, s.stall(st)
	}
	if !lookUpName {
		return observation{}, nil
	}
	// Deleted by hand: create it again, after the same name checks as the
	// first time.
	ctrl.LoggerFrom(ctx).Info("Remote group was deleted outside the operator", "groupId", id)
	s.event(true, deepcallv1.ReasonDriftDetected, "remote group %s was deleted outside the operator", id)
	if err := s.unbind(ctx, id); err != nil {
		return observation{}, &outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
	}
	return s.observeByName(ctx)
}

// boundID is the remote group this AgentGroup manages: the bound one, the
// one spec.groupId names, or the one an unanswered add made; "" when none.
func (s *pass) boundID(ctx context.Context) (string, *outcome) {
	id, st := plan.BoundID(s.g.Status.GroupID, s.g.Spec.GroupID)
	switch {
	case st != nil:
		return "", s.stall(st)
	case id == "" && pendingCreate(s.g):
		return s.resolvePending(ctx)
	}
	return id, nil
}

// read reads one remote group with its agents; a success proves the group
// belongs to the remote account the credentials resolve to.
func (s *pass) read(ctx context.Context, id string) (*plan.Remote, error) {
	detail, err := s.entry.Client.GetGroupAgentRelation(ctx, id)
	if err != nil {
		return nil, err
	}
	s.r.readMisses.Delete(s.g.UID)
	if s.g.Status.GroupID != id {
		s.g.Status.GroupID = id
		s.bindingChanged = true
	}
	if ra := s.remote().ID; ra.Known() {
		s.g.Status.RemoteAccount = ra.String()
	}
	return &plan.Remote{ID: id, Name: detail.Group.Name, Enabled: detail.Group.Enabled, Members: detail.Members, Receivers: detail.Receivers}, nil
}

// confirmGone returns nil when a fresh listing confirms that the group a
// read answered 1503 for is gone; otherwise the group is read again.
func (s *pass) confirmGone(ctx context.Context, id string) *outcome {
	listed, err := s.listed(ctx, id)
	if err != nil {
		o := s.remoteError(fmt.Sprintf("confirm group %s is gone", id), err)
		return &o
	}
	if !listed {
		s.r.readMisses.Delete(s.g.UID)
		return nil
	}
	misses := 1
	if n, ok := s.r.readMisses.Load(s.g.UID); ok {
		misses += n.(int)
	}
	s.r.readMisses.Store(s.g.UID, misses)
	if misses == 1 {
		ctrl.LoggerFrom(ctx).Info("Remote group answered not found but is still listed; reading it again", "groupId", id)
		return &outcome{keepStatus: true, result: ctrl.Result{RequeueAfter: time.Second}}
	}
	msg := fmt.Sprintf("reading remote group %s answered not found (1503) %d times in a row, yet the account still lists it; reading again", id, misses)
	return &outcome{reason: deepcallv1.ReasonRemoteError, message: msg, err: fmt.Errorf("%s", msg)}
}

// listed reports whether the account's listing still shows the group.
func (s *pass) listed(ctx context.Context, id string) (bool, error) {
	groups, err := s.entry.Client.List(ctx, groupapi.ListOptions{GroupID: id, Quick: true})
	return slices.ContainsFunc(groups, func(l groupapi.Group) bool { return l.ID == id }), err
}

func (s *pass) remote() *accounts.Remote { return s.entry.Remote }

// resync schedules the next drift check, at low priority: a person's edit
// goes before a thousand checks that are due.
func (s *pass) resync() ctrl.Result {
	interval := 10 * time.Minute
	if s.entry != nil && s.entry.Interval() > 0 {
		interval = s.entry.Interval()
	}
	return lowPriority(accounts.NextSync(time.Now(), interval, string(s.g.UID)))
}

// lowPriority requeues after d behind every event a person caused.
func lowPriority(d time.Duration) ctrl.Result {
	return ctrl.Result{RequeueAfter: max(d, 10*time.Millisecond), Priority: ptr.To(handler.LowPriority)}
}

func desired(g *deepcallv1.AgentGroup) plan.Desired {
	return plan.Desired{Name: g.DesiredName(), Members: g.MemberIDs(), Receivers: g.ReceiverIDs(), Enabled: g.IsEnabled()}
}
func remotes(groups []groupapi.Group) []plan.Remote {
	out := make([]plan.Remote, len(groups))
	for i, g := range groups {
		out[i] = plan.Remote{ID: g.ID, Name: g.Name, Enabled: g.Enabled}
	}
	return out
}
