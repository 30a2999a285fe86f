package controllers

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
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
	// CreateSettle is how long after an add was sent, its answer lost or
	// unclear, the group it made may still appear in listings (the API's
	// read-after-write lag included). An unresolved create with no trace in
	// the listing is retried only after it (--create-settle).
	CreateSettle time.Duration
	// MaxConcurrentReconciles bounds parallel reconciles.
	MaxConcurrentReconciles int
	// StallRetry is how long an AgentGroup stalled on a terminal API error
	// waits before it tries again by itself (0: an hour), so that a
	// permission granted on the DeepCall side heals without an edit.
	StallRetry time.Duration
	// RoutineEventBurst and RoutineEventEvery bound the Normal events
	// about one Account's AgentGroups: that many at once, then one per
	// interval, the rest summed up on the Account (0: 10, and a minute).
	RoutineEventBurst int
	RoutineEventEvery time.Duration
	// ClusterAccounts serves AgentGroups that name a ClusterAccount. Off
	// for a manager confined to namespaces (--watch-namespaces): those
	// get AccountNotAllowed.
	ClusterAccounts bool
	// DefaultDeletionPolicy applies to AgentGroups that set no
	// deletionPolicy (--default-deletion-policy; "": Delete).
	DefaultDeletionPolicy deepcallv1.DeletionPolicy

	routine *routineEvents

	// stalled holds, per AgentGroup UID, the stallMark of a terminal error.
	stalled sync.Map
	// readMisses counts, per AgentGroup, reads answered 1503 for a group
	// the account still lists.
	readMisses sync.Map
	// deletedByHand holds, per AgentGroup whose group was deleted by hand
	// and not yet created again, when that was found (a time.Time).
	deletedByHand sync.Map
	// heldCreates holds, per AgentGroup, the generation whose add the
	// rate limit held back after a listing showed the name free.
	heldCreates sync.Map
	// written holds, per AgentGroup, a hash of the status this process
	// last wrote: a pass may skip an unchanged status only when the cache
	// shows that one, not an older copy.
	written sync.Map
	// specSeen holds, per AgentGroup, when this process first saw its
	// current generation: create and rename decisions rest only on a
	// listing begun after it.
	specSeen sync.Map
}

// stallMark is what a terminal error was hit with. Nothing is tried
// again until the generation, the Account's client or the annotations
// change ("any annotation change looks now"), or until the re-poll.
type stallMark struct {
	generation, epoch int64
	annotations       string
	until             time.Time
}

func (m stallMark) holds(g *deepcallv1.AgentGroup, epoch int64) bool {
	return m.generation == g.Generation && m.epoch == epoch && m.annotations == annotationsHash(g) && time.Now().Before(m.until)
}

func annotationsHash(g *deepcallv1.AgentGroup) string {
	annotations := ownAnnotationsIgnored(g.Annotations)
	h := fnv.New64a()
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		fmt.Fprintf(h, "%q=%q;", k, annotations[k])
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

func (r *AgentGroupReconciler) stallRetry() time.Duration {
	if r.StallRetry > 0 {
		return r.StallRetry
	}
	return time.Hour
}

type seenSpec struct {
	generation int64
	at         time.Time
}

// noteSpec records that the AgentGroup's generation was seen now, unless
// it was seen before.
func (r *AgentGroupReconciler) noteSpec(g *deepcallv1.AgentGroup) time.Time {
	now := seenSpec{g.Generation, time.Now()}
	v, loaded := r.specSeen.LoadOrStore(g.UID, now)
	if s := v.(seenSpec); loaded && s.generation < g.Generation {
		r.specSeen.Store(g.UID, now)
		return now.at
	}
	return v.(seenSpec).at
}

// asksSince is the moment a listing must have begun after to decide that a
// name is free for this AgentGroup: when its current spec was first seen,
// or when its group was found deleted by hand.
func (r *AgentGroupReconciler) asksSince(g *deepcallv1.AgentGroup) time.Time {
	since := r.noteSpec(g)
	if at, ok := r.deletedByHand.Load(g.UID); ok && at.(time.Time).After(since) {
		since = at.(time.Time)
	}
	return since
}

// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=agentgroups,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=agentgroups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=agentgroups/finalizers,verbs=update

// Reconcile observes the remote group, plans the difference, applies it and
// writes the status once.
func (r *AgentGroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	// A pass that has begun runs to its end when the manager stops: an add
	// cut off before its answer is recorded would cost a create-settle
	// wait and a lookup. The manager's graceful shutdown timeout bounds it.
	ctx = context.WithoutCancel(ctx)
	g := &deepcallv1.AgentGroup{}
	if err := r.Get(ctx, req.NamespacedName, g); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = groupapi.WithCaller(ctx, string(g.UID))
	if msg := g.Status.UnreadableFacts(); msg != "" {
		return r.reportUnreadable(ctx, g, msg)
	}
	if !g.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, g)
	}
	s := &pass{r: r, g: g, base: g.DeepCopy()}
	out := s.reconcileNormal(ctx)
	if out.remote != nil { // the pass knows the remote group as it is now
		r.Accounts.Checked(s.accountKey(), g.UID, time.Now())
	}
	if out.progress() == stalled && out.result.IsZero() && out.err == nil {
		out.result = lowPriority(r.stallRetry())
	}
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

// holdRemoteGroup adds the finalizer, before the pass first binds a
// remote group: from then on, deleting the AgentGroup goes through
// deletionPolicy. A create writes it with its intent instead
// (recordIntent). A new AgentGroup waiting for its first listing costs no
// write yet, so a thousand applied at once queue no writes ahead of other
// tenants' edits.
func (s *pass) holdRemoteGroup(ctx context.Context) *outcome {
	if controllerutil.ContainsFinalizer(s.g, agentGroupFinalizer) {
		return nil
	}
	err := s.patchMeta(ctx, func(g *deepcallv1.AgentGroup) { controllerutil.AddFinalizer(g, agentGroupFinalizer) })
	if apierrors.IsConflict(err) { // the cache is behind: look again on the newer object
		return &outcome{keepStatus: true, result: ctrl.Result{RequeueAfter: time.Second}}
	}
	if err != nil {
		err = fmt.Errorf("add finalizer: %w", err)
		return &outcome{reason: deepcallv1.ReasonReconciling, message: err.Error(), err: err}
	}
	return nil
}

// forget drops what this process remembers of an AgentGroup that is gone.
func (r *AgentGroupReconciler) forget(g *deepcallv1.AgentGroup) {
	account := g.AccountKey()
	if e, ok := r.Accounts.Get(account); ok {
		e.Remote.Forget(g.UID)
	}
	r.Accounts.Unawait(account, g.UID)
	r.Accounts.Unchecked(g.UID)
	r.stalled.Delete(g.UID)
	r.readMisses.Delete(g.UID)
	r.deletedByHand.Delete(g.UID)
	r.heldCreates.Delete(g.UID)
	r.specSeen.Delete(g.UID)
	r.written.Delete(g.UID)
	writeEchoes.forget(g.UID)
	metrics.forget(client.ObjectKeyFromObject(g))
}

// SetupWithManager watches AgentGroups and their rivals (a
// DuplicateGroupName or GroupIDInUse clears when the holder lets go); the
// registry wakes those that wait for a listing or for their Account.
func (r *AgentGroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.routine = newRoutineEvents(r.Recorder, r.RoutineEventBurst, r.RoutineEventEvery)
	metrics.setSettle(r.CreateSettle)
	b := ctrl.NewControllerManagedBy(mgr).
		For(&deepcallv1.AgentGroup{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, peopleChangedAnnotations))).
		Watches(&deepcallv1.AgentGroup{}, r.rivalsHandler()).
		Watches(&deepcallv1.AgentGroup{}, r.memoryHandler()).
		WatchesRawSource(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			r.Accounts.SetWake(func(k types.NamespacedName, after time.Duration) { addLowPriority(q, k, after) })
			return nil
		})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("agentgroup")
	if r.ClusterAccounts {
		b = r.watchClusterAccountGrants(b)
	}
	return b.Complete(r)
}

// addLowPriority enqueues an AgentGroup after a delay behind every event a
// person caused: wakes for a listing or an Account are the operator's own
// work, and a thousand of them must not queue ahead of another tenant's
// edit.
func addLowPriority(q workqueue.TypedRateLimitingInterface[reconcile.Request], k types.NamespacedName, after time.Duration) {
	req := reconcile.Request{NamespacedName: k}
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		pq.AddWithOpts(priorityqueue.AddOpts{After: after, Priority: ptr.To(handler.LowPriority)}, req)
		return
	}
	q.AddAfter(req, after)
}

// rivalsHandler wakes, when an AgentGroup changes its name or remote id or
// goes, the AgentGroups that want the same name or id.
func (r *AgentGroupReconciler) rivalsHandler() handler.EventHandler {
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	wake := func(ctx context.Context, q queue, g *deepcallv1.AgentGroup) {
		for _, req := range r.rivals(ctx, g) {
			q.Add(req)
		}
	}
	return handler.Funcs{
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			o, n := e.ObjectOld.(*deepcallv1.AgentGroup), e.ObjectNew.(*deepcallv1.AgentGroup)
			if nameKey(o.DesiredName()) != nameKey(n.DesiredName()) || claimedGroupID(o) != claimedGroupID(n) {
				wake(ctx, q, o)
				wake(ctx, q, n)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q queue) {
			if g, ok := e.Object.(*deepcallv1.AgentGroup); ok {
				wake(ctx, q, g)
			}
		},
	}
}

// memoryHandler keeps what this process remembers per AgentGroup (it
// enqueues nothing). It notes when each spec change arrives: that moment,
// not the later reconcile, anchors the listing the create decision needs,
// so a batch applied together shares one listing. And it forgets an
// AgentGroup that is gone, so nothing of it leaks or passes to a new
// object of the same name.
func (r *AgentGroupReconciler) memoryHandler() handler.EventHandler {
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, _ queue) { r.noteSpec(e.Object.(*deepcallv1.AgentGroup)) },
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, _ queue) {
			r.noteSpec(e.ObjectNew.(*deepcallv1.AgentGroup))
			writeEchoes.arrived(e.ObjectNew.GetUID(), e.ObjectNew.GetResourceVersion())
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, _ queue) {
			if g, ok := e.Object.(*deepcallv1.AgentGroup); ok {
				r.forget(g)
			}
		},
	}
}

func (r *AgentGroupReconciler) rivals(ctx context.Context, g *deepcallv1.AgentGroup) []reconcile.Request {
	var reqs []reconcile.Request
	add := func(field, value string) {
		var list deepcallv1.AgentGroupList
		if value == "" || r.List(ctx, &list, client.MatchingFields{field: value}) != nil {
			return
		}
		for i := range list.Items {
			if list.Items[i].UID != g.UID {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
			}
		}
	}
	add(indexGroupByName, nameKey(g.DesiredName()))
	add(indexGroupByGroupID, claimedGroupID(g))
	return reqs
}
