package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// outcome is what a pass found and did; status and requeue follow from it.
// Its reason decides Ready, Reconciling and Stalled (agentGroupProgress).
type outcome struct {
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

func (o outcome) progress() progress { return agentGroupProgress[o.reason] }

type pendingEvent struct {
	warning      bool
	reason, note string
}

func (s *pass) event(warning bool, reason, format string, args ...any) {
	s.events = append(s.events, pendingEvent{warning: warning, reason: reason, note: fmt.Sprintf(format, args...)})
}

// writeStatus computes the status from the pass's outcome, writes it in one
// patch when it changed, then emits the pass's events. A drift check that
// finds the group as the status describes it writes nothing: at 10,000
// groups, a timestamp bumped on every check would be a steady stream of
// etcd writes, each sent to every watcher.
func (s *pass) writeStatus(ctx context.Context, out outcome) error {
	g := s.g
	oldReady := meta.FindStatusCondition(s.base.Status.Conditions, deepcallv1.ConditionReady)
	g.Status.Unreadable = nil // a stored status with fields left out is written anew
	applyOutcome(g, out)
	if equality.Semantic.DeepEqual(g.Status, s.base.Status) && s.r.showsLastWrite(s.base) {
		s.emit()
		metrics.observe(client.ObjectKeyFromObject(g), g)
		return nil
	}
	if out.remote != nil {
		now := metav1.Now()
		g.Status.LastSyncTime = &now
	}
	// On a conflict the caller runs the pass again on a fresher cache; its
	// remote writes are already done, so that costs one read. A binding the
	// pass made (the id an add returned) is not left to that: it is written
	// again on a fresh read of the object.
	err := s.patchStatus(ctx)
	for try := 0; apierrors.IsConflict(err) && s.bindingChanged && s.r.APIReader != nil && try < 5; try++ {
		err = s.rebaseStatus(ctx)
	}
	if err != nil {
		return err
	}
	if (oldReady == nil || oldReady.Reason != out.reason) && failureReasons[out.reason] {
		s.event(true, out.reason, "%s", out.message)
	}
	s.emit()
	metrics.observe(client.ObjectKeyFromObject(g), g)
	return nil
}

// failureReasons are the Ready reasons worth a Warning event when entered.
var failureReasons = map[string]bool{
	deepcallv1.ReasonAccountNotFound: true, deepcallv1.ReasonAccountNotReady: true, deepcallv1.ReasonAmbiguousCreate: true,
	deepcallv1.ReasonNameConflict: true, deepcallv1.ReasonDuplicateGroupName: true, deepcallv1.ReasonRemoteGroupNotFound: true,
	deepcallv1.ReasonPermissionDenied: true, deepcallv1.ReasonInvalidRequest: true, deepcallv1.ReasonRemoteError: true,
	deepcallv1.ReasonGroupIDInUse: true, deepcallv1.ReasonGroupIDMismatch: true, deepcallv1.ReasonAccountChanged: true,
	deepcallv1.ReasonNothingToObserve: true, deepcallv1.ReasonAccountNotAllowed: true, deepcallv1.ReasonInvalidBaseURL: true,
}

// applyOutcome sets the status fields and conditions an outcome implies.
func applyOutcome(g *deepcallv1.AgentGroup, out outcome) {
	gen := g.Generation
	conds := &g.Status.Conditions
	if out.remote != nil {
		g.Status.GroupName = out.remote.Name
		g.Status.Members = int32(len(out.remote.Members))
		g.Status.ReceiveCall = int32(len(out.remote.Receivers))
	}
	if out.driftKnown {
		g.Status.Drift = out.drift
		if len(out.drift) == 0 {
			setCondition(conds, gen, deepcallv1.ConditionInSync, metav1.ConditionTrue, deepcallv1.ReasonInSync, "the remote group matches spec")
		} else {
			setCondition(conds, gen, deepcallv1.ConditionInSync, metav1.ConditionFalse, deepcallv1.ReasonOutOfSync, driftSummary(out.drift))
		}
	}
	setReady(conds, gen, out.progress(), out.reason, out.message)
	if out.final {
		g.Status.ObservedGeneration = gen
	}
	if requested, ok := g.Annotations[deepcallv1.AnnotationResync]; ok && handlesResync(out) {
		g.Status.LastHandledResync = requested
	}
	if g.Status.GroupID == "" && g.Status.PendingCreate == nil {
		g.Status.RemoteAccount = "" // it describes a binding; there is none
	}
}

// handlesResync reports whether a pass that ended so answers a resync
// request (the annotation deepcall.agentgroups.dev/resync): it reached a
// verdict on this generation, or it waits for its Account, which only a
// person or the Account itself changes. A pass that backs off from an
// error or waits for the rate limit runs again soon by itself: the request
// is answered by that later pass. Answering costs one status write per
// request; a pass without a new request writes nothing more than before.
func handlesResync(out outcome) bool {
	switch out.reason {
	case deepcallv1.ReasonAccountNotFound, deepcallv1.ReasonAccountNotReady:
		return true
	}
	return out.final
}

func driftSummary(drift []string) string {
	const shown = 3
	if len(drift) <= shown {
		return strings.Join(drift, "; ")
	}
	return fmt.Sprintf("%s; and %d more (see status.drift)", strings.Join(drift[:shown], "; "), len(drift)-shown)
}

// patchStatus writes the status as a patch against the last written state,
// locked to its resourceVersion: a merge patch against a cache that has not
// seen our previous write would leave out a field changed back to what the
// cache shows, and the server would keep the older value; and two passes
// can never both record a create intent.
//
// Fields of the stored status this version could not read are written
// anew, or removed: they held only what this pass found again (a fact it
// cannot read stops the pass before, UnreadableFacts).
func (s *pass) patchStatus(ctx context.Context) error {
	sent, before := time.Now(), s.g.ResourceVersion
	patch := client.MergeFromWithOptions(s.base, client.MergeFromWithOptimisticLock{})
	unreadable := s.base.Status.Unreadable
	if len(unreadable) > 0 {
		var err error
		if patch, err = rewritingUnreadable(s.base, s.g, unreadable); err != nil {
			return err
		}
	}
	if err := s.r.Status().Patch(ctx, s.g, patch); err != nil {
		return err
	}
	if len(unreadable) > 0 {
		s.event(true, deepcallv1.ReasonStatusUnreadable, "%s", rewrittenStatus(unreadable))
	}
	s.base = s.g.DeepCopy()
	s.r.written.Store(s.g.UID, statusHash(&s.g.Status))
	writeEchoes.wrote(s.g.UID, before, s.g.ResourceVersion, sent)
	return nil
}

// showsLastWrite reports whether the object (as the cache has it) carries
// the status this process last wrote, or this process wrote none: the
// cache may lag our own last write, and a pass that found nothing to
// change must then write anyway (locked to the version it read, so a
// stale read ends in a conflict and a pass on the newer object).
func (r *AgentGroupReconciler) showsLastWrite(g *deepcallv1.AgentGroup) bool {
	h, ok := r.written.Load(g.UID)
	return !ok || h.(uint64) == statusHash(&g.Status)
}

func statusHash(st *deepcallv1.AgentGroupStatus) uint64 {
	raw, _ := json.Marshal(st)
	h := fnv.New64a()
	h.Write(raw)
	return h.Sum64()
}

// rebaseStatus writes the pass's status onto a fresh read of the object.
func (s *pass) rebaseStatus(ctx context.Context) error {
	fresh := &deepcallv1.AgentGroup{}
	if err := s.r.APIReader.Get(ctx, client.ObjectKeyFromObject(s.g), fresh); err != nil {
		return err
	}
	status := s.g.Status
	s.base = fresh.DeepCopy()
	fresh.DeepCopyInto(s.g)
	s.g.Status = status
	return s.patchStatus(ctx)
}

// remoteError turns a failed call into an outcome: a call the budget held
// back or the API throttled comes back when it may; terminal errors stall
// until something changes; the rest back off.
func (s *pass) remoteError(call string, err error) outcome {
	msg := fmt.Sprintf("%s: %v", call, err)
	if until, ok := groupapi.HeldUntil(err); ok {
		return s.held(until, msg)
	}
	switch {
	case groupapi.IsRedirect(err):
		s.markStalled()
		return outcome{final: true, reason: deepcallv1.ReasonInvalidBaseURL, message: msg}
	case groupapi.IsPermissionDenied(err):
		s.markStalled()
		return outcome{final: true, reason: deepcallv1.ReasonPermissionDenied,
			message: msg + " (grant the account the AGENT_TO_AGENT_CALL permission or fix the credentials Secret)"}
	case groupapi.IsTerminal(err):
		s.markStalled()
		return outcome{final: true, reason: deepcallv1.ReasonInvalidRequest, message: msg}
	}
	return outcome{reason: deepcallv1.ReasonRemoteError, message: msg, err: err}
}

// held ends a pass whose call waits for its remote account's budget (its
// turn on the rate limit, or a Retry-After): it comes back then, without
// holding a worker, and behind other tenants' edits (its turn is kept).
// The status is written only when the pass changed it, or to say that a
// new generation of a group with a status waits; a drift check held back
// leaves a Ready group Ready. A new AgentGroup waits without a write, as
// for its first listing: in a 10,000-group apply most wait their turn,
// and one write each is what the API server would pay for it.
func (s *pass) held(until time.Time, msg string) outcome {
	out := outcome{reason: deepcallv1.ReasonThrottled, message: msg, result: lowPriority(time.Until(until))}
	ready := meta.FindStatusCondition(s.g.Status.Conditions, deepcallv1.ConditionReady)
	unchanged := equality.Semantic.DeepEqual(s.g.Status, s.base.Status)
	out.keepStatus = unchanged && (ready == nil || ready.ObservedGeneration == s.g.Generation)
	return out
}

// markStalled remembers that this generation, with this client and these
// annotations, hit a terminal error: passes until the re-poll leave it be,
// and a new client for the Account wakes it.
func (s *pass) markStalled() {
	if s.entry == nil {
		return
	}
	s.r.Accounts.Unchecked(s.g.UID)
	s.r.stalled.Store(s.g.UID, stallMark{generation: s.g.Generation, epoch: s.entry.Epoch, annotations: annotationsHash(s.g), until: time.Now().Add(s.r.stallRetry())})
	s.r.Accounts.Await(s.accountKey(), s.g.UID, client.ObjectKeyFromObject(s.g))
}

// maxEventNote is the longest note events.k8s.io/v1 accepts.
const maxEventNote = 1024

func (s *pass) emit() {
	for _, e := range s.events {
		typ := corev1.EventTypeNormal
		if e.warning {
			typ = corev1.EventTypeWarning
		} else if s.account != nil && s.r.routine != nil && !s.r.routine.allow(s.account, e.reason) {
			continue
		}
		s.r.Recorder.Eventf(s.g, nil, typ, e.reason, "Reconcile", "%s", truncate(e.note, maxEventNote))
	}
	s.events = nil
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = " …"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}
