package controllers

import (
	"cmp"
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// reconcileDelete deletes the remote group (deletionPolicy Delete) or
// leaves it, then releases the finalizer.
func (r *AgentGroupReconciler) reconcileDelete(ctx context.Context, g *deepcallv1.AgentGroup) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(g, agentGroupFinalizer) {
		return ctrl.Result{}, nil
	}
	s := &pass{r: r, g: g, base: g.DeepCopy()}
	done, out := s.deleteRemote(ctx)
	if !done && out.keepStatus {
		return out.result, out.err
	}
	if !done {
		if err := s.writeStatus(ctx, out); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("patch status: %w", err)
		}
		return out.result, out.err
	}
	s.emit()
	patch := client.MergeFrom(g.DeepCopy())
	controllerutil.RemoveFinalizer(g, agentGroupFinalizer)
	delete(g.Annotations, deepcallv1.AnnotationCreateIntent) // settled: the AgentGroup goes
	if err := r.Patch(ctx, g, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.forget(g)
	return ctrl.Result{}, nil
}

// deleteRemote reports done once the remote group is gone or deliberately
// left in place. A group another AgentGroup holds, or one in another
// remote account than the Account now resolves to, is never deleted.
func (s *pass) deleteRemote(ctx context.Context) (bool, outcome) {
	g := s.g
	id := claimedGroupID(g)
	switch {
	case id == "" && !pendingCreate(g):
		return true, outcome{}
	case g.Spec.Suspend, g.IsObserveOnly(), s.r.deletionPolicy(g) == deepcallv1.DeletionOrphan:
		s.event(false, deepcallv1.EventOrphaned, "left remote group %s in place (%s)", id, keepReason(g))
		return true, outcome{}
	}
	if out := s.useAccount(ctx, false); out != nil {
		when := "the " + kindOf(s.accountKey()) + " works again"
		if out.reason == deepcallv1.ReasonAccountNotAllowed {
			when = "the namespace may use the ClusterAccount again"
		}
		out.message += "; the remote group is deleted once " + when + " (or set spec.deletionPolicy: Orphan to keep it)"
		out.reason = deepcallv1.ReasonDeleting
		return false, *out
	}
	if out := s.checkRemoteAccount(); out != nil {
		out.message += "; the remote group is deleted once the Account points back at it (or set spec.deletionPolicy: Orphan to keep it)"
		return false, *out
	}
	if id != "" {
		holder, err := s.holderOf(ctx, id)
		if err != nil {
			return false, outcome{reason: deepcallv1.ReasonDeleting, message: err.Error(), err: err}
		}
		if holder.UID != "" && holder.UID != g.UID {
			s.event(false, deepcallv1.EventOrphaned, "left remote group %s in place: AgentGroup %s manages it", id, holder.Owner)
			return true, outcome{}
		}
	} else {
		found, out := s.resolvePending(ctx)
		if out != nil {
			return false, *out
		}
		if found == "" {
			return true, outcome{}
		}
		id = found
	}
	err := s.entry.Client.Delete(ctx, id)
	if groupapi.IsNotFound(err) {
		// 1503 also means "not yours": it counts as gone only while the
		// same credentials can still list, and do not list it.
		listed, lerr := s.listed(ctx, id)
		if lerr != nil {
			return false, s.remoteError(fmt.Sprintf("confirm group %s is gone", id), lerr)
		}
		if listed {
			return false, outcome{reason: deepcallv1.ReasonDeleting, message: fmt.Sprintf("remote group %s answered not found on delete but is still listed", id), result: ctrl.Result{RequeueAfter: 10 * time.Second}}
		}
		err = nil
	}
	if err != nil {
		out := s.remoteError(fmt.Sprintf("delete group %s", id), err)
		if out.progress() == stalled {
			out.message += "; set spec.deletionPolicy: Orphan to delete the AgentGroup and keep the remote group"
		}
		return false, out
	}
	s.remote().Changed(groupapi.Group{ID: id}, true)
	s.remote().Release(id, g.UID)
	ctrl.LoggerFrom(ctx).Info("Deleted remote group", "groupId", id)
	s.event(false, deepcallv1.EventDeleted, "deleted remote group %s", id)
	return true, outcome{}
}

// deletionPolicy is the AgentGroup's own, or the manager's default when it
// sets none.
func (r *AgentGroupReconciler) deletionPolicy(g *deepcallv1.AgentGroup) deepcallv1.DeletionPolicy {
	return cmp.Or(g.Spec.DeletionPolicy, r.DefaultDeletionPolicy, deepcallv1.DeletionDelete)
}

func keepReason(g *deepcallv1.AgentGroup) string {
	switch {
	case g.Spec.Suspend:
		return "suspended"
	case g.IsObserveOnly():
		return "managementPolicy Observe"
	case g.Spec.DeletionPolicy == "":
		return "deletionPolicy unset: the manager's --default-deletion-policy is Orphan"
	}
	return "deletionPolicy Orphan"
}
