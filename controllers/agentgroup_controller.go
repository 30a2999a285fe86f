package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
)

// agentGroupFinalizer lets the operator delete (or deliberately keep) the
// remote group before the AgentGroup goes away.
const agentGroupFinalizer = "deepcall.agentgroups.dev/remote-group"

// AgentGroupReconciler converges remote agent groups to their AgentGroups.
type AgentGroupReconciler struct {
	client.Client
	// APIReader reads past the cache, for decisions a stale object would
	// get wrong.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Accounts  *accounts.Registry
	// AccountChanges delivers Accounts whose client was rebuilt.
	AccountChanges <-chan event.GenericEvent
	// CreateSettle is how long an add call may still land after its answer
	// was lost (the client's request timeout plus a margin). An unresolved
	// create with no trace in the listing is retried only after it.
	CreateSettle time.Duration
	// LookupMaxAge is how old the account's listing may be when a name is
	// checked before a create; one list call serves many creates.
	LookupMaxAge time.Duration
	// MaxConcurrentReconciles bounds parallel reconciles.
	MaxConcurrentReconciles int

	// stalled remembers, per AgentGroup, the generation and client epoch
	// that hit a terminal error, so nothing is retried until one changes.
	stalled sync.Map
}

type stallMark struct{ generation, epoch int64 }

// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=agentgroups,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=agentgroups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=agentgroups/finalizers,verbs=update

// Reconcile observes the remote group, plans the difference and applies it.
func (r *AgentGroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	g := &deepcallv1.AgentGroup{}
	if err := r.Get(ctx, req.NamespacedName, g); err != nil {
		if apierrors.IsNotFound(err) {
			metrics.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !g.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, g)
	}
	if !controllerutil.ContainsFinalizer(g, agentGroupFinalizer) {
		patch := client.MergeFrom(g.DeepCopy())
		controllerutil.AddFinalizer(g, agentGroupFinalizer)
		if err := r.Patch(ctx, g, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	s := &pass{r: r, g: g, base: g.DeepCopy()}
	out := s.reconcileNormal(ctx)
	if out.keepStatus {
		return out.result, out.err
	}
	if err := s.writeStatus(ctx, out); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, fmt.Errorf("patch status: %w", err)
	}
	return out.result, out.err
}

// SetupWithManager watches AgentGroups, the Accounts whose client changed,
// and same-name siblings (a DuplicateGroupName clears when one goes).
func (r *AgentGroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr).
		For(&deepcallv1.AgentGroup{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&deepcallv1.AgentGroup{}, handler.EnqueueRequestsFromMapFunc(r.sameNameSiblings), builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(event.CreateEvent) bool { return false },
			UpdateFunc: func(e event.UpdateEvent) bool {
				return e.ObjectOld.(*deepcallv1.AgentGroup).DesiredName() != e.ObjectNew.(*deepcallv1.AgentGroup).DesiredName()
			},
		})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("agentgroup")
	if r.AccountChanges != nil {
		b = b.WatchesRawSource(source.Channel(r.AccountChanges, handler.EnqueueRequestsFromMapFunc(r.groupsOfAccount)))
	}
	return b.Complete(r)
}

func (r *AgentGroupReconciler) groupsOfAccount(ctx context.Context, o client.Object) []reconcile.Request {
	var list deepcallv1.AgentGroupList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexGroupByAccount: o.GetName()}); err != nil {
		return nil
	}
	return requests(list.Items, "")
}

// sameNameSiblings wakes the AgentGroups that share the old or new name of
// one that was renamed or deleted.
func (r *AgentGroupReconciler) sameNameSiblings(ctx context.Context, o client.Object) []reconcile.Request {
	g := o.(*deepcallv1.AgentGroup)
	var list deepcallv1.AgentGroupList
	if err := r.List(ctx, &list, client.InNamespace(g.Namespace), client.MatchingFields{indexGroupByName: nameKey(g.AccountName(), g.DesiredName())}); err != nil {
		return nil
	}
	return requests(list.Items, g.Name)
}

func requests(items []deepcallv1.AgentGroup, except string) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(items))
	for i := range items {
		if items[i].Name != except {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: items[i].Namespace, Name: items[i].Name}})
		}
	}
	return reqs
}
