package controllers

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// staleGets answers Gets of one object with an old copy, as an informer
// cache does until it sees the reconciler's own last write.
type staleGets struct {
	client.Client
	key   client.ObjectKey
	stale *deepcallv1.AgentGroup
}

func (c staleGets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if g, ok := obj.(*deepcallv1.AgentGroup); ok && key == c.key {
		c.stale.DeepCopyInto(g)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// After a restart a group is first told the Account is not ready, then
// woken when it is; if the cache has not yet seen the first write, the
// second pass must not leave the server saying AccountNotReady.
func TestStatusIsNotLostToAStaleCache(t *testing.T) {
	s := newStory(t)
	s.group("sales", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	cached := s.waitReady("sales")
	key := client.ObjectKeyFromObject(cached)

	// What the first pass after the restart wrote.
	written := cached.DeepCopy()
	meta.SetStatusCondition(&written.Status.Conditions, metav1.Condition{Type: deepcallv1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: deepcallv1.ReasonAccountNotReady, Message: "Account default is not ready", ObservedGeneration: written.Generation})
	s.must(k8s.Status().Patch(context.Background(), written, client.MergeFrom(cached)))

	r := &AgentGroupReconciler{
		APIReader: k8s, Recorder: events.NewFakeRecorder(10), Accounts: s.registry,
		CreateSettle: 6 * time.Second,
	}
	r.written.Store(written.UID, statusHash(&written.Status)) // that pass was this process's
	// The controller's own loop: the first pass reads the stale copy; a
	// prompt requeue is run (by then the cache has caught up), a
	// resync-length one is not.
	r.Client = staleGets{Client: s.client, key: key, stale: cached}
	for pass := 1; ; pass++ {
		res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: key})
		if err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
		r.Client = s.client
		if pass == 5 || res.RequeueAfter == 0 || res.RequeueAfter > 10*time.Second {
			break
		}
		time.Sleep(res.RequeueAfter)
	}
	got := s.get("sales")
	if c := meta.FindStatusCondition(got.Status.Conditions, deepcallv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("after the passes the server holds Ready %+v, want True", c)
	}
}
