package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// reportUnreadable ends the pass of an AgentGroup whose stored status
// this version cannot fully read (a later version wrote it, or a person):
// it says which fields and does nothing else. The missing fields may
// record a create in flight or the group it holds, and acting without
// them could make a twin or delete the wrong group; deleting the
// AgentGroup waits too. The operator version that wrote them (or a later
// one) reads them; a person may also remove them, then resync.
func (r *AgentGroupReconciler) reportUnreadable(ctx context.Context, g *deepcallv1.AgentGroup, msg string) (ctrl.Result, error) {
	before := g.DeepCopy()
	setReady(&g.Status.Conditions, g.Generation, stalled, deepcallv1.ReasonStatusUnreadable, msg)
	if equality.Semantic.DeepEqual(before.Status.Conditions, g.Status.Conditions) {
		return lowPriority(r.stallRetry()), nil
	}
	// The patch holds the conditions only: the fields this version cannot
	// read stay as they are stored.
	if err := r.Status().Patch(ctx, g, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("patch status: %w", err))
	}
	ctrl.LoggerFrom(ctx).Info("Stored status unreadable; nothing done", "fields", len(g.Status.Unreadable))
	r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, deepcallv1.ReasonStatusUnreadable, "Reconcile", "%s", truncate(msg, maxEventNote))
	return lowPriority(r.stallRetry()), nil
}
