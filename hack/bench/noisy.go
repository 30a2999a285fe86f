package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// The noisy-neighbour measurement: Account B, in a namespace of its own on
// its own remote user, has one AgentGroup, which is edited again and again
// while the largest run's Accounts (the "A" side) do their cold start and
// their no-op resync. Each sample is the time from an edit to Ready at its
// generation. B's remote user lives on a second simulator with the same
// latency, so B's calls stay out of the A side's counts (calls, writes,
// floor); B's reconciles do show in the manager's reconcile counter.
const (
	noisyNamespace = "bench-noisy"
	noisyGroup     = "b"
	noisyUser      = "39001"
	// noisyRPS is B's own rate limit, the same at every run.
	noisyRPS = 50
	// noisyPause is the pause between one edit's Ready and the next edit.
	noisyPause = 250 * time.Millisecond
	// noisyMinEdits is how many edits per phase the figure needs.
	noisyMinEdits = 20
	// noisyTimeout bounds one edit's wait for Ready.
	noisyTimeout = 10 * time.Minute
)

// noisyPhases are the A side's scenarios B is edited during.
var noisyPhases = []string{"cold start", "no-op resync"}

// noisyResult is one phase's samples.
type noisyResult struct {
	run
	phase   string
	samples []time.Duration
	// calls is B's remote calls during the phase.
	calls int
	// Two more figures per edit, from when the edit was sent (the operator
	// can act on it before its answer reaches the harness, so not from the
	// answer, as samples are): until a watch of B's object alone saw it (the
	// API server's own delay), and until B's first remote call (the
	// operator's watch of every AgentGroup and its queue come on top).
	// Separate measurements: their p99s show where the wait is, they do
	// not add up.
	toWatched, toFirstCall []time.Duration
}

// genSeen records when a watch of B's object alone (watchNoisy) first saw
// each generation.
type genSeen struct {
	mu   sync.Mutex
	seen map[int64]time.Time
}

func (g *genSeen) saw(gen int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.seen[gen]; !ok {
		g.seen[gen] = time.Now()
	}
}

func (g *genSeen) at(gen int64) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen[gen]
}

// watchNoisy watches B's AgentGroup alone until ctx ends: a watcher with
// one object's events, so its delay is the API server's, not a consumer's.
func (h *harness) watchNoisy(ctx context.Context) {
	wc, err := client.NewWithWatch(h.env.Config, client.Options{Scheme: h.k8s.Scheme()})
	if err != nil {
		fmt.Printf("bench: no watch of B alone (its column stays n/a): %v\n", err)
		return
	}
	for ctx.Err() == nil {
		w, err := wc.Watch(ctx, &deepcallv1.AgentGroupList{}, client.InNamespace(noisyNamespace), client.MatchingFields{"metadata.name": noisyGroup})
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		for ev := range w.ResultChan() {
			if g, ok := ev.Object.(*deepcallv1.AgentGroup); ok {
				h.noisySeen.saw(g.Generation)
			}
		}
	}
}

func (r noisyResult) p(q float64) time.Duration { return percentile(r.samples, q) }

func (r noisyResult) callsPerEdit() float64 {
	return float64(r.calls) / float64(max(len(r.samples), 1))
}

// budget is the target for p99: 2 s plus B's own calls per edit at the
// simulated latency.
func (r noisyResult) budget(latency time.Duration) time.Duration {
	return 2*time.Second + time.Duration(r.callsPerEdit()*float64(latency))
}

// percentile is the nearest-rank q-quantile (0 < q ≤ 1).
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(d))
	i := int(float64(len(s))*q+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// callTimes records when each of B's remote calls reached its simulator.
type callTimes struct {
	mu  sync.Mutex
	all []time.Time
}

func (ct *callTimes) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct.mu.Lock()
		ct.all = append(ct.all, time.Now())
		ct.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// firstAfter is the first call that arrived at t or later (zero: none).
func (ct *callTimes) firstAfter(t time.Time) time.Time {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	for _, c := range ct.all {
		if !c.Before(t) {
			return c
		}
	}
	return time.Time{}
}

// startNoisySim serves B's remote user on a simulator of its own.
func startNoisySim(c config, calls *callTimes) (*sim.Server, string, func(), error) {
	s := sim.New(sim.Options{Seed: 2, Faults: sim.Faults{Latency: c.latency}})
	s.AddUser(sim.User{ID: noisyUser, Token: "bench-token-noisy", Agents: agents})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	srv := &http.Server{Handler: calls.wrap(s), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return s, "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// noisyMembers is B's membership for edit k: 20 agents of which the last
// alternates, 5 receivers.
func noisyMembers(k int) []deepcallv1.AgentID {
	ids := make([]deepcallv1.AgentID, 0, 20)
	for _, a := range agents[:19] {
		ids = append(ids, deepcallv1.AgentID(a))
	}
	return append(ids, deepcallv1.AgentID(agents[100+k%2]))
}

// createNoisy makes B's namespace, Secret, Account and AgentGroup.
func (h *harness) createNoisy(ctx context.Context) error {
	members := noisyMembers(0)
	labels := h.c.labels(-1)
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: noisyNamespace, Labels: labels}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: noisyNamespace, Name: "deepcall-credentials", Labels: labels},
			StringData: map[string]string{"userId": noisyUser, "token": "bench-token-noisy"}},
		&deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: noisyNamespace, Name: "default", Labels: labels}, Spec: deepcallv1.AccountSpec{
			BaseURL: h.noisyURL, CredentialsSecretRef: deepcallv1.SecretReference{Name: "deepcall-credentials"},
			SyncInterval: metav1.Duration{Duration: 10 * time.Minute}, RequestsPerSecond: noisyRPS, Burst: noisyRPS,
		}},
		&deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: noisyNamespace, Name: noisyGroup, Labels: labels}, Spec: deepcallv1.AgentGroupSpec{
			GroupName: "Bench noisy neighbour B", Members: members, ReceiveCall: members[:5],
		}},
	}
	for _, o := range objs {
		if err := h.k8s.Create(ctx, o); err != nil {
			return fmt.Errorf("create %s: %w", o.GetName(), err)
		}
	}
	return nil
}

// noisyEdits edits B's AgentGroup, waits for it to be Ready at the new
// generation, pauses, and again, until stop is closed; an edit in flight
// then is still waited for. It is the phase's figure.
type noisyEdits struct {
	done chan struct{}
	stop chan struct{}
	res  noisyResult
	err  error
}

func (h *harness) startNoisy(ctx context.Context, rn run, phase string) (*noisyEdits, error) {
	key := types.NamespacedName{Namespace: noisyNamespace, Name: noisyGroup}
	// B's group is Ready before the phase starts (the manager is new).
	if _, err := h.waitNoisyReady(ctx, key, 0, time.Minute); err != nil {
		return nil, fmt.Errorf("B's AgentGroup before %s: %w", phase, err)
	}
	e := &noisyEdits{done: make(chan struct{}), stop: make(chan struct{}), res: noisyResult{run: rn, phase: phase}}
	h.noisySim.ResetCalls()
	go func() {
		defer close(e.done)
		for {
			select {
			case <-e.stop:
				return
			default:
			}
			h.noisyEdits++ // every edit changes the spec, across phases too
			k := h.noisyEdits
			sent := time.Now()
			gen, err := h.editNoisy(ctx, key, k)
			if err != nil {
				e.err = err
				return
			}
			// From the moment the API server has the edit.
			took, err := h.waitNoisyReady(ctx, key, gen, noisyTimeout)
			if err != nil {
				e.err = fmt.Errorf("edit %d of B's AgentGroup: %w", k, err)
				return
			}
			e.res.samples = append(e.res.samples, took)
			if seen := h.noisySeen.at(gen); !seen.IsZero() {
				e.res.toWatched = append(e.res.toWatched, seen.Sub(sent))
			}
			if first := h.noisyCalls.firstAfter(sent); !first.IsZero() {
				e.res.toFirstCall = append(e.res.toFirstCall, first.Sub(sent))
			}
			select {
			case <-e.stop:
				return
			case <-time.After(noisyPause):
			}
		}
	}()
	return e, nil
}

// finish stops the edits and returns the phase's figure.
func (e *noisyEdits) finish(h *harness) (noisyResult, error) {
	close(e.stop)
	<-e.done
	for _, v := range h.noisySim.Calls() {
		e.res.calls += v
	}
	return e.res, e.err
}

// editNoisy sets B's members for edit k (a merge patch: no conflict with
// the operator's status writes) and returns the new generation.
func (h *harness) editNoisy(ctx context.Context, key types.NamespacedName, k int) (int64, error) {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"members": noisyMembers(k)}})
	if err != nil {
		return 0, err
	}
	g := &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := h.k8s.Patch(ctx, g, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return 0, fmt.Errorf("edit B's AgentGroup: %w", err)
	}
	return g.Generation, nil
}

// waitNoisyReady waits until B's group is Ready at generation gen or later
// (0: its current one), and returns how long that took. It reads B's
// object from the API server every 20 ms rather than through the
// tracker's watch of every AgentGroup: during A's scenarios that watch
// carries thousands of A's updates, and B's would wait behind them in the
// harness, not in the operator.
func (h *harness) waitNoisyReady(ctx context.Context, key types.NamespacedName, gen int64, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	g := &deepcallv1.AgentGroup{}
	for {
		err := h.k8s.Get(ctx, key, g)
		if err == nil && readyAt(g, gen) {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("not Ready at generation %d after %v (last read: %v, %+v)", gen, timeout, err, g.Status.Conditions)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readyAt reports Ready=True observed at generation gen or later.
func readyAt(g *deepcallv1.AgentGroup, gen int64) bool {
	c := meta.FindStatusCondition(g.Status.Conditions, deepcallv1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration >= gen && c.ObservedGeneration == g.Generation
}
