package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/procfs"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/apiwrites"
)

// result is one row of the table.
type result struct {
	run
	scenario string
	// groups is how many AgentGroups the scenario touched (the divisor of
	// calls per group).
	groups int
	wall   time.Duration
	calls  map[string]int
	// floor is the time the calls need at the Accounts' rate limits: the
	// Accounts run side by side, so it is the busiest Account's calls ÷
	// its rate.
	floor time.Duration
	// remoteWrites are the calls among calls that change something.
	remoteWrites int
	// cpu and peakRSS are the manager's; with shards, the managers' CPU
	// summed and the largest peak (each one's in managers).
	cpu      time.Duration
	peakRSS  int64 // bytes
	managers []managerUsage
	// shards is how many managers shared the objects (0: one manager
	// watching all).
	shards int
	// controlPlaneCPU is kube-apiserver's and etcd's, for where time goes.
	controlPlaneCPU time.Duration
	// createsAloneCPU is, for the largest run's unsharded cold start,
	// kube-apiserver's and etcd's CPU for the same creates with no manager
	// up (measureCreatesAlone).
	createsAloneCPU time.Duration
	// reconciles by controller (agentgroup, account).
	reconciles map[string]int
	// api is the API-server writes during the scenario (apiwrites.go).
	api apiWrites
}

// managerUsage is one manager's CPU and peak RSS in a scenario.
type managerUsage struct {
	shard   string
	cpu     time.Duration
	peakRSS int64
}

func (r result) total() int {
	t := 0
	for _, v := range r.calls {
		t += v
	}
	return t
}

func (r result) perGroup() float64 { return float64(r.total()) / float64(max(r.groups, 1)) }

// apiWritesPerGroup is the operator's writes to AgentGroups (the objects
// and their status) per group the scenario touched.
func (r result) apiWritesPerGroup() float64 {
	return r.api.operator.sum(groupResources...) / float64(max(r.groups, 1))
}

// eventsPerGroup is the operator's Event writes per group.
func (r result) eventsPerGroup() float64 {
	return r.api.operator.sum(eventResources...) / float64(max(r.groups, 1))
}

// controlPlaneCPUPer1000 is kube-apiserver's and etcd's CPU-seconds per
// 1,000 groups the scenario touched.
func (r result) controlPlaneCPUPer1000() float64 { return r.per1000(r.controlPlaneCPU) }

// createsAlonePer1000 is createsAloneCPU per 1,000 groups.
func (r result) createsAlonePer1000() float64 { return r.per1000(r.createsAloneCPU) }

// operatorShareOfControlPlanePer1000 is the cold start's control-plane
// CPU-seconds per 1,000 groups beyond what its creates alone cost.
func (r result) operatorShareOfControlPlanePer1000() float64 {
	return r.per1000(r.controlPlaneCPU - r.createsAloneCPU)
}

// per1000 is d in seconds per 1,000 groups the scenario touched.
func (r result) per1000(d time.Duration) float64 {
	return d.Seconds() / (float64(max(r.groups, 1)) / 1000)
}

// overFloor is wall ÷ floor.
func (r result) overFloor() float64 { return r.wall.Seconds() / max(r.floor.Seconds(), 1e-9) }

// readySeries is the cold start's Ready count over time.
type readySeries struct {
	run
	shards int
	points []readyPoint
}

type readyPoint struct {
	at    time.Duration
	ready int
}

// scenario is one measured step: act starts it, done says when it is over.
type scenario struct {
	name   string
	groups int
	act    func(ctx context.Context) error
	done   func(types.NamespacedName, seen) bool
	// want is how many AgentGroups must match done; -1 means none may
	// exist any more.
	want int
}

// runOpts are what one run does besides its four scenarios.
type runOpts struct {
	// profile saves CPU and heap profiles of the manager.
	profile bool
	// noisy edits B's AgentGroup during the noisyPhases.
	noisy bool
	// shards ≥ 2 runs one manager per shard.
	shards int
	// only runs just these scenarios (all if empty).
	only []string
}

// runScenarios runs the four scenarios (or o.only) for one run with a
// fresh manager, or one per shard.
func (h *harness) runScenarios(ctx context.Context, rn run, o runOpts) ([]result, readySeries, []noisyResult, error) {
	n := rn.n
	if err := h.startManagers(ctx, rn.rps, o.shards); err != nil {
		h.stopManagers()
		return nil, readySeries{}, nil, err
	}
	var profiling sync.WaitGroup
	defer func() { profiling.Wait(); h.stopManagers() }()

	var curve readySeries
	// pokes and changed are guarded by the tracker's lock, under which
	// done is called.
	pokes := map[types.NamespacedName]time.Time{}
	changed := map[types.NamespacedName]int64{}
	scenarios := []scenario{{
		name: "cold start", groups: n, want: n,
		act: func(ctx context.Context) error {
			if o.profile {
				profiling.Go(func() { h.cpuProfile(n, 60*time.Second) })
			}
			return parallel(n, func(i int) error { return h.k8s.Create(ctx, h.c.desired(i)) })
		},
		done: func(_ types.NamespacedName, s seen) bool { return s.ready },
	}, {
		name: "no-op resync", groups: n, want: n,
		act: func(ctx context.Context) error {
			return parallel(n, func(i int) error {
				g := h.c.desired(i)
				h.track.mu.Lock()
				pokes[client.ObjectKeyFromObject(g)] = time.Now()
				h.track.mu.Unlock()
				return h.poke(ctx, g)
			})
		},
		// Done when the simulator has answered a getGroupAgentRelation of
		// the group's remote group that arrived after its poke was sent:
		// the re-read, whether or not the operator then writes anything.
		done: func(k types.NamespacedName, s seen) bool {
			t, ok := pokes[k]
			return ok && s.ready && h.reads.since(s.groupID, t)
		},
	}, {
		name: "10% change", groups: n / 10, want: n / 10,
		act: func(ctx context.Context) error {
			// Every 10th group, shifted by 0..9 so they spread over the Accounts.
			return parallel(n/10, func(j int) error {
				g := h.c.desired(j*10 + j%10)
				gen, err := h.changeMembers(ctx, g)
				if err == nil {
					h.track.mu.Lock()
					changed[client.ObjectKeyFromObject(g)] = gen
					h.track.mu.Unlock()
				}
				return err
			})
		},
		done: func(k types.NamespacedName, s seen) bool {
			gen, ok := changed[k]
			return ok && s.ready && s.generation >= gen
		},
	}, {
		name: "delete all", groups: n, want: -1,
		act: func(ctx context.Context) error {
			for i := range h.c.accounts {
				if err := h.k8s.DeleteAllOf(ctx, &deepcallv1.AgentGroup{}, client.InNamespace(namespace(i))); err != nil {
					return err
				}
			}
			return nil
		},
	}}

	var results []result
	var noisyResults []noisyResult
	var w0 *writeProbe
	var rec0 map[string]int
	label := rn.String()
	if o.shards > 1 {
		label += fmt.Sprintf(", %d shards", o.shards)
	}
	for _, sc := range scenarios {
		if len(o.only) > 0 && !slices.Contains(o.only, sc.name) {
			continue
		}
		// The API server's writes and the reconciles are counted from
		// before B's first edit to after the last one, and after the
		// operator's writes settle; one scenario's end is the next one's
		// start.
		if w0 == nil {
			p, err := h.probeWrites(ctx)
			if err != nil {
				return nil, readySeries{}, nil, err
			}
			w0, rec0 = &p, h.reconciles()
		}
		var edits *noisyEdits
		var err error
		if o.noisy && slices.Contains(noisyPhases, sc.name) {
			if edits, err = h.startNoisy(ctx, rn, sc.name); err != nil {
				return nil, readySeries{}, nil, err
			}
		}
		r, points, err := h.measure(ctx, rn, sc)
		settled := make(chan struct{})
		go func() { defer close(settled); h.settle(ctx) }()
		if edits != nil {
			nr, nerr := edits.finish(h)
			if err == nil && nerr != nil {
				err = fmt.Errorf("noisy neighbour: %w", nerr)
			}
			if nerr == nil {
				noisyResults = append(noisyResults, nr)
				fmt.Printf("  %-9v %-13s noisy neighbour: B's edit → Ready p50 %.2fs  p99 %.2fs  max %.2fs  over %d edits, %.1f B calls per edit; p99 until a watch of B alone saw the edit %s, until B's first call %s\n",
					rn, sc.name, nr.p(0.5).Seconds(), nr.p(0.99).Seconds(), nr.p(1).Seconds(), len(nr.samples), nr.callsPerEdit(),
					p99Or(nr.toWatched), p99Or(nr.toFirstCall))
			}
		}
		if err != nil {
			return nil, readySeries{}, nil, fmt.Errorf("%s: %w", sc.name, err)
		}
		<-settled
		w1, err := h.probeWrites(ctx)
		if err != nil {
			return nil, readySeries{}, nil, err
		}
		r.api = writesBetween(*w0, w1)
		rec1 := h.reconciles()
		for ctrlName, v := range rec1 {
			r.reconciles[ctrlName] = v - rec0[ctrlName]
		}
		w0, rec0 = &w1, rec1
		r.shards = o.shards
		if sc.name == "cold start" {
			curve = readySeries{run: rn, shards: o.shards, points: points}
		}
		if o.profile {
			h.heapProfile(n, sc.name)
		}
		// A background, if any, is taken away in the report.
		apiPerGroup := r.api.attributed().sum(groupResources...) / float64(max(r.groups, 1))
		fmt.Printf("  %-9s %-13s %8.1fs  %6d calls (%.2f per group)  floor %6.1fs  ×%.2f  writes %d  API writes %.2f per group  RSS %d MiB  CPU %.1fs  control plane CPU %.1fs  reconciles %v\n",
			label, r.scenario, r.wall.Seconds(), r.total(), r.perGroup(), r.floor.Seconds(), r.overFloor(), r.remoteWrites, apiPerGroup, r.peakRSS>>20, r.cpu.Seconds(), r.controlPlaneCPU.Seconds(), r.reconciles)
		results = append(results, r)
	}
	return results, curve, noisyResults, nil
}

// aloneNamespacePrefix names the namespaces of the creates alone: the
// prefix and the index of the run namespace whose groups they repeat.
const aloneNamespacePrefix = "bench-alone-"

// measureCreatesAlone is the control plane's CPU for a cold start's
// creates made with no manager up, until the harness's watch has seen them
// all: what applying the groups costs a cluster without the operator, the
// part of the cold start's figure the operator cannot change. It runs
// after everything else, in namespaces of its own, so that neither its
// objects nor their deletion weigh on a measured scenario; nothing deletes
// them.
func (h *harness) measureCreatesAlone(ctx context.Context, rn run) (time.Duration, error) {
	alone := func(i int) string { return fmt.Sprintf("%s%02d", aloneNamespacePrefix, i%h.c.accounts) }
	for i := range h.c.accounts {
		if err := h.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: alone(i)}}); err != nil {
			return 0, err
		}
	}
	r, _, err := h.measure(ctx, rn, scenario{
		name: "creates alone", groups: rn.n, want: rn.n,
		act: func(ctx context.Context) error {
			return parallel(rn.n, func(i int) error {
				g := h.c.desired(i)
				g.Namespace, g.Labels = alone(i), nil
				return h.k8s.Create(ctx, g)
			})
		},
		done: func(k types.NamespacedName, _ seen) bool { return strings.HasPrefix(k.Namespace, aloneNamespacePrefix) },
	})
	if err != nil {
		return 0, err
	}
	fmt.Printf("  %-9v creates alone, no manager up: control plane CPU %.1fs (%.1fs per 1,000 groups)\n", rn, r.controlPlaneCPU.Seconds(), r.controlPlaneCPUPer1000())
	return r.controlPlaneCPU, nil
}

// measure runs one scenario and reads the simulator's and the manager's
// counters around it.
func (h *harness) measure(ctx context.Context, rn run, sc scenario) (result, []readyPoint, error) {
	n := rn.n
	cpu0 := make([]time.Duration, len(h.mgrs))
	for i, m := range h.mgrs {
		resetPeakRSS(m.pid())
		cpu0[i] = cpuTime(m.pid())
	}
	cp0 := controlPlaneCPU()
	h.sim.ResetCalls()
	start := time.Now()
	progress := func() (all, matching int) {
		return h.track.count(func(k types.NamespacedName, s seen) bool { return sc.done != nil && sc.done(k, s) })
	}
	// Progress is sampled from the start, while act is still applying.
	var points []readyPoint
	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			_, matching := progress()
			points = append(points, readyPoint{at: time.Since(start), ready: matching})
			select {
			case <-stopSampling:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	err := sc.act(ctx)
	if err == nil {
		timeout := 5*time.Minute + time.Duration(n)*100*time.Millisecond
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
			all, matching := progress()
			if sc.want < 0 {
				return all == 0, nil
			}
			return matching >= sc.want, nil
		})
	}
	wall := time.Since(start)
	close(stopSampling)
	<-sampled
	if err != nil {
		return result{}, nil, err
	}
	_, matching := progress()
	points = append(points, readyPoint{at: wall, ready: matching})
	r := result{run: rn, scenario: sc.name, reconciles: map[string]int{}, groups: sc.groups, wall: wall, calls: h.sim.Calls(),
		controlPlaneCPU: controlPlaneCPU() - cp0}
	for i, m := range h.mgrs {
		u := managerUsage{shard: m.shard, cpu: cpuTime(m.pid()) - cpu0[i], peakRSS: peakRSS(m.pid())}
		r.managers = append(r.managers, u)
		r.cpu += u.cpu
		r.peakRSS = max(r.peakRSS, u.peakRSS)
	}
	for _, op := range writeOps {
		r.remoteWrites += r.calls[string(op)]
	}
	busiest := 0
	for _, c := range h.sim.CallsByUser() {
		busiest = max(busiest, c)
	}
	r.floor = time.Duration(float64(busiest) / float64(rn.rps) * float64(time.Second))
	return r, points, nil
}

func (m *manager) pid() int { return m.proc.Cmd.Process.Pid }

// reconciles reads controller_runtime_reconcile_total from the managers,
// summed over results and managers, by controller.
func (h *harness) reconciles() map[string]int {
	out := map[string]int{}
	for _, m := range h.mgrs {
		m.addReconciles(out)
	}
	return out
}

func (m *manager) addReconciles(out map[string]int) {
	m.eachCounter("controller_runtime_reconcile_total", func(l map[string]string, v float64) {
		out[l["controller"]] += int(v)
	})
}

// clientWrites is how many writes the manager's client has sent to the
// API server (rest_client_requests_total for POST, PUT, PATCH, DELETE).
func (m *manager) clientWrites() int {
	n := 0
	m.eachCounter("rest_client_requests_total", func(l map[string]string, v float64) {
		if apiwrites.MutatingVerbs[l["method"]] {
			n += int(v)
		}
	})
	return n
}

// eachCounter calls f with the labels and value of every counter of one
// metric family on the manager's /metrics.
func (m *manager) eachCounter(name string, f func(labels map[string]string, v float64)) {
	resp, err := http.Get("http://" + m.metricsAddr + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return
	}
	for _, mt := range families[name].GetMetric() {
		l := map[string]string{}
		for _, p := range mt.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		f(l, mt.GetCounter().GetValue())
	}
}

// poke changes an annotation, which makes the operator re-read the group
// at once, as its periodic drift check would.
func (h *harness) poke(ctx context.Context, g *deepcallv1.AgentGroup) error {
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{"bench.agentgroups.dev/poke":%q}}}`, time.Now().Format(time.RFC3339Nano)))
	return h.k8s.Patch(ctx, g, client.RawPatch(types.MergePatchType, patch))
}

// changeMembers swaps the last member (not a receiver) for an agent not in
// the group, and returns the new generation.
func (h *harness) changeMembers(ctx context.Context, want *deepcallv1.AgentGroup) (int64, error) {
	g := &deepcallv1.AgentGroup{}
	if err := h.k8s.Get(ctx, client.ObjectKeyFromObject(want), g); err != nil {
		return 0, err
	}
	in := map[deepcallv1.AgentID]bool{}
	for _, m := range g.Spec.Members {
		in[m] = true
	}
	for _, a := range agents {
		if !in[deepcallv1.AgentID(a)] {
			g.Spec.Members[len(g.Spec.Members)-1] = deepcallv1.AgentID(a)
			break
		}
	}
	if err := h.k8s.Update(ctx, g); err != nil {
		return 0, err
	}
	return g.Generation, nil
}

// cpuTime is the process's user plus system CPU time.
func cpuTime(pid int) time.Duration {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0
	}
	st, err := p.Stat()
	if err != nil {
		return 0
	}
	return time.Duration(st.CPUTime() * float64(time.Second))
}

// controlPlaneCPU sums the CPU time of the kube-apiserver and etcd this
// process started (envtest runs them as its children).
func controlPlaneCPU() time.Duration {
	procs, err := procfs.AllProcs()
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, p := range procs {
		st, err := p.Stat()
		if err == nil && (st.Comm == "kube-apiserver" || st.Comm == "etcd") && st.PPID == os.Getpid() {
			total += time.Duration(st.CPUTime() * float64(time.Second))
		}
	}
	return total
}

// peakRSS is the process's resident high-water mark (VmHWM).
func peakRSS(pid int) int64 {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0
	}
	st, err := p.NewStatus()
	if err != nil {
		return 0
	}
	return int64(st.VmHWM)
}

// resetPeakRSS starts a new high-water mark, so each scenario reports its own.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}
