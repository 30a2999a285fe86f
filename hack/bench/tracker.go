package main

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// tracker follows every AgentGroup through a watch, so progress is read
// without listing thousands of objects from the API server.
type tracker struct {
	cancel context.CancelFunc

	mu     sync.Mutex
	groups map[types.NamespacedName]seen
	// changed is when the watch last delivered a change of one of the
	// runs' AgentGroups.
	changed time.Time
	// managed is each run Account's status.managedGroups, by namespace.
	managed map[string]int32
}

// seen is what the scenarios ask of one AgentGroup.
type seen struct {
	generation int64
	// ready: Ready is True for the current generation.
	ready bool
	// groupID is the remote group's id (status.groupId).
	groupID string
}

func startTracker(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) (*tracker, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	t := &tracker{cancel: cancel, groups: map[types.NamespacedName]seen{}, managed: map[string]int32{}}
	inf, err := c.GetInformer(ctx, &deepcallv1.AgentGroup{})
	if err != nil {
		cancel()
		return nil, err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    t.record,
		UpdateFunc: func(_, o any) { t.record(o) },
		DeleteFunc: t.forget,
	}); err != nil {
		cancel()
		return nil, err
	}
	accounts, err := c.GetInformer(ctx, &deepcallv1.Account{})
	if err != nil {
		cancel()
		return nil, err
	}
	if _, err := accounts.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    t.recordAccount,
		UpdateFunc: func(_, o any) { t.recordAccount(o) },
	}); err != nil {
		cancel()
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		cancel()
		return nil, ctx.Err()
	}
	return t, nil
}

func (t *tracker) record(o any) {
	g, ok := o.(*deepcallv1.AgentGroup)
	if !ok {
		return
	}
	c := meta.FindStatusCondition(g.Status.Conditions, deepcallv1.ConditionReady)
	s := seen{
		generation: g.Generation,
		ready:      c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == g.Generation && g.Status.ObservedGeneration == g.Generation,
		groupID:    g.Status.GroupID,
	}
	t.mu.Lock()
	t.groups[types.NamespacedName{Namespace: g.Namespace, Name: g.Name}] = s
	if g.Namespace != noisyNamespace {
		t.changed = time.Now()
	}
	t.mu.Unlock()
}

func (t *tracker) forget(o any) {
	if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if g, ok := o.(*deepcallv1.AgentGroup); ok {
		t.mu.Lock()
		delete(t.groups, types.NamespacedName{Namespace: g.Namespace, Name: g.Name})
		if g.Namespace != noisyNamespace {
			t.changed = time.Now()
		}
		t.mu.Unlock()
	}
}

// count returns how many of the harness's AgentGroups exist and how many
// of them match (the noisy neighbour's is not one of them).
func (t *tracker) count(match func(types.NamespacedName, seen) bool) (all, matching int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, s := range t.groups {
		if k.Namespace == noisyNamespace {
			continue
		}
		all++
		if match(k, s) {
			matching++
		}
	}
	return all, matching
}

// get returns what was last seen of one AgentGroup.
func (t *tracker) get(k types.NamespacedName) (seen, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.groups[k]
	return s, ok
}

func (t *tracker) recordAccount(o any) {
	if a, ok := o.(*deepcallv1.Account); ok && a.Namespace != noisyNamespace {
		t.mu.Lock()
		t.managed[a.Namespace] = a.Status.ManagedGroups
		t.mu.Unlock()
	}
}

// accountsCounted reports whether every run Account's managedGroups is the
// number of AgentGroups in its namespace bound to a remote group: its
// last recount has landed.
func (t *tracker) accountsCounted() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	bound := map[string]int32{}
	for k, s := range t.groups {
		if s.groupID != "" {
			bound[k.Namespace]++
		}
	}
	for ns, n := range t.managed {
		if bound[ns] != n {
			return false
		}
	}
	return true
}

// lastChanged is when one of the runs' AgentGroups last changed.
func (t *tracker) lastChanged() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

func (t *tracker) stop() { t.cancel() }
