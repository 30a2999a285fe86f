package main

import (
	"context"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// watchCounter counts writes as a watch sees them: each change it
// delivers is one successful write.
type watchCounter struct {
	cancel context.CancelFunc

	mu     sync.Mutex
	writes writeCounts
}

func (w *watchCounter) count(resource, verb string) {
	w.mu.Lock()
	w.writes[writeKey{Resource: resource, Verb: verb}]++
	w.mu.Unlock()
}

func (w *watchCounter) snapshot() writeCounts {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes.clone()
}

func (w *watchCounter) stop() { w.cancel() }

// startWatchCounter watches the given kinds in one namespace and counts a
// new object (not one of the first listing) as a POST of resource,
// a change as changed says: a write of the object itself (main), of its
// status, or neither. verb is the verb a change is counted as.
func startWatchCounter(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, namespace, verb string, kinds []watchedKind) (*watchCounter, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{namespace: {}}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &watchCounter{cancel: cancel, writes: writeCounts{}}
	for _, k := range kinds {
		inf, err := c.GetInformer(ctx, k.obj)
		if err == nil {
			_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
				AddFunc: func(_ any, initial bool) {
					if !initial {
						w.count(k.resource, "POST")
					}
				},
				UpdateFunc: func(old, new any) {
					main, status := k.changed(old, new)
					switch {
					case main:
						w.count(k.resource, verb)
					case status:
						w.count(k.resource+"/status", verb)
					}
				},
			})
		}
		if err != nil {
			cancel()
			return nil, err
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		cancel()
		return nil, ctx.Err()
	}
	return w, nil
}

// watchedKind is one kind a watchCounter counts the writes of.
type watchedKind struct {
	obj      client.Object
	resource string
	changed  func(old, new any) (main, status bool)
}

// rvChanged: every change of the object is a write of it.
func rvChanged(old, new any) (bool, bool) {
	return old.(metav1.Object).GetResourceVersion() != new.(metav1.Object).GetResourceVersion(), false
}

// metaChanged: what a write of the object itself (not its status) changes.
func metaChanged(old, new any) bool {
	a, b := old.(metav1.Object), new.(metav1.Object)
	return !equality.Semantic.DeepEqual(a.GetLabels(), b.GetLabels()) || !equality.Semantic.DeepEqual(a.GetAnnotations(), b.GetAnnotations()) ||
		!equality.Semantic.DeepEqual(a.GetFinalizers(), b.GetFinalizers()) || !equality.Semantic.DeepEqual(a.GetOwnerReferences(), b.GetOwnerReferences()) ||
		!equality.Semantic.DeepEqual(a.GetDeletionTimestamp(), b.GetDeletionTimestamp())
}

// startControlPlaneWatch counts kube-apiserver's own writes: the renewals
// of its identity Lease in kube-system (an update, PUT). The manager runs
// without leader election, and would not keep its Lease there.
func startControlPlaneWatch(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) (*watchCounter, error) {
	return startWatchCounter(ctx, cfg, scheme, "kube-system", "PUT", []watchedKind{{&coordinationv1.Lease{}, "leases", rvChanged}})
}

// startNoisyWatch counts the operator's writes for the noisy neighbour's
// objects (namespace bench-noisy), so they can be taken out of the API
// server's count: B's edits make the operator write B's status and
// Events during the A side's scenarios, and the API server's metric does
// not say which namespace a write was for.
//
// Each change a watch delivers is one successful write. The operator
// writes with merge patches and the events.k8s.io recorder, so a change
// is counted as a PATCH (a new Event as a POST), to the status
// subresource when only the status changed. A change of an AgentGroup's
// spec is the harness's edit, which its transport counts already. A write
// that changed nothing or failed is not seen: those stay in the run's
// figure.
func startNoisyWatch(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) (*watchCounter, error) {
	return startWatchCounter(ctx, cfg, scheme, noisyNamespace, "PATCH", []watchedKind{
		{&deepcallv1.AgentGroup{}, "agentgroups", func(old, new any) (bool, bool) {
			a, b := old.(*deepcallv1.AgentGroup), new.(*deepcallv1.AgentGroup)
			if !equality.Semantic.DeepEqual(a.Spec, b.Spec) {
				return false, false // the harness's edit
			}
			return metaChanged(a, b), !equality.Semantic.DeepEqual(a.Status, b.Status)
		}},
		{&deepcallv1.Account{}, "accounts", func(old, new any) (bool, bool) {
			a, b := old.(*deepcallv1.Account), new.(*deepcallv1.Account)
			return metaChanged(a, b) || !equality.Semantic.DeepEqual(a.Spec, b.Spec), !equality.Semantic.DeepEqual(a.Status, b.Status)
		}},
		{&corev1.Secret{}, "secrets", rvChanged},
		{&eventsv1.Event{}, "events", rvChanged},
	})
}
