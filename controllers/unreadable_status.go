package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// reportUnreadable ends the pass of an AgentGroup whose stored status
// holds a fact this version cannot read (a later version wrote it): it
// says which and does nothing else. The fact may be the group it holds or
// an add in flight, and acting without it could make a second group or
// delete one it never held; deleting the AgentGroup waits too. The
// operator version that wrote it (or a later one) reads it; a person may
// also set it right, then resync.
func (r *AgentGroupReconciler) reportUnreadable(ctx context.Context, g *deepcallv1.AgentGroup, msg string) (ctrl.Result, error) {
	before := g.DeepCopy()
	setReady(&g.Status.Conditions, g.Generation, stalled, deepcallv1.ReasonStatusUnreadable, msg)
	if requested, ok := g.Annotations[deepcallv1.AnnotationResync]; ok {
		g.Status.LastHandledResync = requested // this is the answer
	}
	defer metrics.observe(client.ObjectKeyFromObject(g), g)
	if equality.Semantic.DeepEqual(before.Status, g.Status) {
		return lowPriority(r.stallRetry()), nil
	}
	// A merge patch of what changed: the facts stay as they are stored.
	if err := r.Status().Patch(ctx, g, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("patch status: %w", err))
	}
	if ready := meta.FindStatusCondition(before.Status.Conditions, deepcallv1.ConditionReady); ready == nil || ready.Reason != deepcallv1.ReasonStatusUnreadable {
		ctrl.LoggerFrom(ctx).Info("Stored status unreadable; nothing done")
		r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, deepcallv1.ReasonStatusUnreadable, "Reconcile", "%s", truncate(msg, maxEventNote))
	}
	return lowPriority(r.stallRetry()), nil
}

// rewritingUnreadable is the status patch of obj against base (locked to
// base's resourceVersion) that also removes, with a JSON null, each
// unreadable field the pass did not set again. An update of the whole
// status would do that too, but would also drop any field of a later
// version that this one does not know; a patch leaves those alone.
func rewritingUnreadable(base, obj client.Object, unreadable map[string]string) (client.Patch, error) {
	data, err := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}).Data(obj)
	if err != nil {
		return nil, err
	}
	patch := map[string]any{}
	if err := json.Unmarshal(data, &patch); err != nil {
		return nil, err
	}
	status, _ := patch["status"].(map[string]any)
	if status == nil {
		status = map[string]any{}
		patch["status"] = status
	}
	for field := range unreadable {
		if _, set := status[field]; !set {
			status[field] = nil
		}
	}
	data, err = json.Marshal(patch)
	return client.RawPatch(types.MergePatchType, data), err
}

// rewrittenStatus is the warning for a status whose unreadable fields
// were all what a pass finds again, so the operator wrote them anew.
func rewrittenStatus(unreadable map[string]string) string {
	names := slices.Sorted(maps.Keys(unreadable))
	for i, n := range names {
		names[i] = fmt.Sprintf("%s (%s)", n, unreadable[n])
	}
	return "this version of the operator could not read status." + strings.Join(names, ", status.") + " and wrote the status anew from what it found"
}
