package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// observeByName looks up an unbound AgentGroup's name on the remote
// account: a group of that name is adopted (adoptionPolicy ByName) or a
// conflict; none means the name is free, and the lock that says so is held
// until the add (released by the caller). A create decision rests only on a
// listing that began after this AgentGroup asked for it.
func (s *pass) observeByName(ctx context.Context) (observation, *outcome) {
	g := s.g
	name := g.DesiredName()
	rem := s.remote()
	release := rem.LockName(name)
	held := false
	defer func() {
		if !held {
			release()
		}
	}()
	if out := s.checkNameHolder(ctx, name); out != nil {
		return observation{}, out
	}
	// A create decided on a fresh listing and then held back by the rate
	// limit stands on that decision when its turn comes (the listing
	// began after the spec was seen); it does not ask for a new listing,
	// whose own turn would come later still.
	maxAge := accounts.FreshFor
	if gen, ok := s.r.heldCreates.Load(g.UID); ok && gen.(int64) == g.Generation {
		maxAge = 0
	}
	groups, ok, err := rem.Fresh(g.UID, client.ObjectKeyFromObject(g), s.r.asksSince(g), maxAge, s.entry.Client)
	if err != nil {
		o := s.remoteError("list groups", err)
		return observation{}, &o
	}
	if !ok {
		return observation{}, s.awaitListing()
	}
	lookup := plan.LookUp(name, remotes(groups), g.IsObserveOnly())
	switch {
	case lookup.Stall != nil:
		return observation{}, s.stall(lookup.Stall)
	case lookup.Found != nil:
		found := *lookup.Found
		if out := s.adopt(ctx, found); out != nil {
			return observation{}, out
		}
		remote, err := s.read(ctx, found.ID)
		if err != nil {
			o := s.remoteError(fmt.Sprintf("read group %s", found.ID), err)
			return observation{}, &o
		}
		return observation{remote: remote}, nil
	case !lookup.Create:
		return observation{}, nil
	}
	held = true
	return observation{knownTwins: lookup.KnownTwins, release: release}, nil
}

// adopt takes over the remote group named like this AgentGroup: only with
// adoptionPolicy ByName, only when no other AgentGroup holds it. Our own
// create, which the cache has not shown us yet, is simply ours.
func (s *pass) adopt(ctx context.Context, r plan.Remote) *outcome {
	holder, err := s.holderOf(ctx, r.ID)
	if err != nil {
		return &outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
	}
	adoption, st := plan.Adopt(r, string(s.g.UID), claimant(holder), s.g.Spec.AdoptionPolicy == deepcallv1.AdoptionByName)
	if st != nil {
		return s.stall(st)
	}
	if out := s.bind(r.ID); out != nil {
		return out
	}
	if out := s.holdRemoteGroup(ctx); out != nil {
		return out
	}
	if adoption == plan.Adopted {
		s.event(false, deepcallv1.EventAdopted, "adopted remote group %s %q by name", r.ID, r.Name)
	}
	return nil
}

// awaitListing ends a pass that needs a fresher listing of the account;
// the listing's arrival wakes the AgentGroup (the requeue is a safety net).
// Both come at low priority: a queue entry keeps the highest priority it
// was given, so a safety net at the priority of the event that created the
// AgentGroup would put every woken group of a large apply ahead of other
// tenants' edits.
func (s *pass) awaitListing() *outcome {
	out := &outcome{keepStatus: true, result: lowPriority(30 * time.Second)}
	if s.bindingChanged { // the unbinding must be written
		out.keepStatus = false
		out.reason, out.message = deepcallv1.ReasonCreating, "waiting for a listing of the account that shows the name is free before creating the remote group"
		if s.recreating {
			out.message = "the remote group was deleted outside the operator; " + out.message
		}
	}
	return out
}

// stall ends a pass on a decision to leave the remote group alone until a
// person changes something. A name conflict is looked at again at the
// drift-check interval: the other group may be renamed or deleted by hand.
func (s *pass) stall(st *plan.Stall) *outcome {
	out := &outcome{final: true, reason: string(st.Reason), message: st.Message}
	if st.Reason == plan.ReasonNameConflict {
		out.result = s.resync()
	}
	return out
}

// create records the intent with the finalizer, stamped the moment the add
// is sent (after every rate-limit wait), then sends it; a crash or a lost
// or unclear answer is settled by resolvePending instead of adding a
// second group.
// The caller holds the name's lock.
func (s *pass) create(ctx context.Context, name string, knownTwins []string) (string, *outcome) {
	g := s.g
	_, s.recreating = s.r.deletedByHand.Load(g.UID)
	if len(knownTwins) > 100 {
		knownTwins = knownTwins[:100]
	}
	var intentErr error
	intended := false
	recordIntent := func() error {
		intentErr = s.recordIntent(ctx, &deepcallv1.PendingCreate{Name: name, StartedAt: metav1.NowMicro(), KnownGroupIDs: knownTwins, RemoteAccount: s.remote().ID.String()})
		intended = intentErr == nil
		return intentErr
	}
	id, err := s.entry.Client.Add(groupapi.WithBeforeSend(ctx, recordIntent), name)
	switch {
	case intentErr != nil && apierrors.IsConflict(intentErr):
		return "", &outcome{keepStatus: true, result: ctrl.Result{RequeueAfter: time.Second}}
	case intentErr != nil:
		return "", &outcome{keepStatus: true, err: fmt.Errorf("record create intent: %w", intentErr)}
	case err != nil:
		if intended && (groupapi.NotSent(err) || refused(err)) { // nothing was created
			if serr := s.settleIntent(ctx); serr != nil {
				return "", &outcome{keepStatus: true, err: fmt.Errorf("clear create intent: %w", serr)}
			}
		}
		if _, held := groupapi.HeldUntil(err); held {
			s.r.heldCreates.Store(g.UID, g.Generation)
		}
		o := s.remoteError(fmt.Sprintf("add group %q", name), err)
		return "", &o
	}
	s.r.heldCreates.Delete(g.UID)
	s.r.deletedByHand.Delete(g.UID)
	ctrl.LoggerFrom(ctx).Info("Created remote group", "groupId", id, "groupName", name)
	s.remote().Changed(groupapi.Group{ID: id, Name: name, Enabled: true}, false)
	if out := s.bind(id); out != nil {
		return "", out
	}
	if !s.recreating {
		s.event(false, deepcallv1.EventCreated, "created remote group %s %q", id, name)
	}
	return id, nil
}

// refused reports an add the API answered with a definite error, so it
// certainly made no group: any error code but 1009 ("something went wrong",
// which may come after the change), a 429, or a 307 or 308 (which ask for
// the request to be sent elsewhere; a 301, 302 or 303 may follow a POST
// that was carried out, and is settled like a lost answer).
func refused(err error) bool {
	var apiErr *groupapi.APIError
	return errors.As(err, &apiErr) && ((apiErr.Code != 0 && apiErr.Code != groupapi.CodeGeneric) || apiErr.HTTPStatus == 429 ||
		apiErr.HTTPStatus == http.StatusTemporaryRedirect || apiErr.HTTPStatus == http.StatusPermanentRedirect)
}

// resolvePending settles an add whose answer never arrived: the one new
// group with our name (or a twin of it) is ours; none means the add did not
// happen, once it can no longer show up; several is for a person to decide.
func (s *pass) resolvePending(ctx context.Context) (string, *outcome) {
	g := s.g
	p, err := g.CreateIntent()
	if err != nil {
		return "", &outcome{reason: deepcallv1.ReasonCreatePending, message: err.Error(), err: err}
	}
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
		holder, err := s.holderOf(ctx, c.ID)
		if err != nil {
			return "", &outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
		}
		if holder.UID == "" || holder.UID == g.UID {
			found = append(found, c.ID)
		}
	}
	switch len(found) {
	case 1:
		if out := s.bind(found[0]); out != nil {
			return "", out
		}
		s.event(false, deepcallv1.EventCreated, "found remote group %s, created by an add call whose answer was lost", found[0])
		return found[0], nil
	case 0:
		if wait := s.r.CreateSettle - time.Since(p.StartedAt.Time); wait > 0 {
			return "", &outcome{reason: deepcallv1.ReasonCreatePending,
				message: fmt.Sprintf("an add call for %q got no clear answer and its group is not listed yet; checking again before adding once more", p.Name),
				result:  lowPriority(wait)}
		}
		if err := s.settleIntent(ctx); err != nil {
			err = fmt.Errorf("clear create intent: %w", err)
			return "", &outcome{reason: deepcallv1.ReasonCreatePending, message: err.Error(), err: err}
		}
		g.Status.RemoteAccount = ""
		s.bindingChanged = true
		return "", nil
	default:
		sort.Strings(found)
		return "", &outcome{final: true, reason: deepcallv1.ReasonAmbiguousCreate,
			message: fmt.Sprintf("an add call for %q got no answer and remote groups %s could each be the one it created: set spec.groupId to the right one and delete the others by hand", p.Name, strings.Join(found, ", "))}
	}
}
