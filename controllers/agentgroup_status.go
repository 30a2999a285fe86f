package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// writeStatus computes the status from the pass's outcome, writes it in one
// patch, then emits the pass's events.
func (s *pass) writeStatus(ctx context.Context, out outcome) error {
	g := s.g
	oldReady := meta.FindStatusCondition(s.base.Status.Conditions, deepcallv1.ConditionReady)
	applyOutcome(g, out)
	// On a conflict the caller runs the pass again on a fresher cache; its
	// remote writes are already done, so that costs one read.
	if err := s.patchStatus(ctx); err != nil {
		return err
	}
	if !out.ready && (oldReady == nil || oldReady.Reason != out.reason) && failureReasons[out.reason] {
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
}

// applyOutcome sets the status fields and conditions an outcome implies.
// Reconciling and Stalled exist only while True (the kstatus convention).
func applyOutcome(g *deepcallv1.AgentGroup, out outcome) {
	gen := g.Generation
	conds := &g.Status.Conditions
	if out.remote != nil {
		now := metav1.Now()
		g.Status.GroupName = out.remote.Name
		g.Status.Members = int32(len(out.remote.Members))
		g.Status.ReceiveCall = int32(len(out.remote.Receivers))
		g.Status.LastSyncTime = &now
	}
	if out.driftKnown {
		g.Status.Drift = out.drift
		if len(out.drift) == 0 {
			setCondition(conds, gen, deepcallv1.ConditionInSync, metav1.ConditionTrue, deepcallv1.ReasonInSync, "the remote group matches spec")
		} else {
			setCondition(conds, gen, deepcallv1.ConditionInSync, metav1.ConditionFalse, deepcallv1.ReasonOutOfSync, driftSummary(out.drift))
		}
	}
	if out.ready {
		setCondition(conds, gen, deepcallv1.ConditionReady, metav1.ConditionTrue, out.reason, out.message)
	} else {
		setCondition(conds, gen, deepcallv1.ConditionReady, metav1.ConditionFalse, out.reason, out.message)
	}
	if out.stalled {
		setCondition(conds, gen, deepcallv1.ConditionStalled, metav1.ConditionTrue, out.reason, out.message)
	} else {
		meta.RemoveStatusCondition(conds, deepcallv1.ConditionStalled)
	}
	if !out.ready && !out.stalled && out.reason != deepcallv1.ReasonSuspended && !(out.final && out.reason == deepcallv1.ReasonRemoteGroupNotFound) {
		setCondition(conds, gen, deepcallv1.ConditionReconciling, metav1.ConditionTrue, out.reason, out.message)
	} else {
		meta.RemoveStatusCondition(conds, deepcallv1.ConditionReconciling)
	}
	if out.final {
		g.Status.ObservedGeneration = gen
	}
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
func (s *pass) patchStatus(ctx context.Context) error {
	if err := s.r.Status().Patch(ctx, s.g, client.MergeFromWithOptions(s.base, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	s.base = s.g.DeepCopy()
	return nil
}

func (s *pass) emit() {
	for _, e := range s.events {
		typ := corev1.EventTypeNormal
		if e.warning {
			typ = corev1.EventTypeWarning
		}
		s.r.Recorder.Eventf(s.g, nil, typ, e.reason, "Reconcile", "%s", e.note)
	}
	s.events = nil
}
