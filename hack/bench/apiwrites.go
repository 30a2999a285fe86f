package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/agentgroups/agentgroup-operator/internal/apiwrites"
)

// API-server writes are counted by kube-apiserver itself: its
// apiserver_request_total, scraped from /metrics before and after each
// scenario, for the mutating verbs and the resources below. The metric
// does not say who made a request, so from its delta the harness takes
// away what it knows is not the operator's:
//
//   - its own writes (creates, annotation pokes, member edits, deletes, the
//     noisy neighbour's edits, everything through its client), counted at
//     its HTTP transport (harnessWrites);
//   - the operator's writes for the noisy neighbour's objects (Account B,
//     its AgentGroup, Secret and Events), counted by a watch of B's
//     namespace (noisyWatch), so that the figure is the run's groups';
//   - the control plane's own writes: kube-apiserver renews its identity
//     Lease in kube-system every 10 s, counted by a watch of kube-system's
//     Leases (controlPlaneWatch);
//   - anything else no one in the bench made, at the rate measured while
//     nothing ran (during the naive script, with no manager up); none has
//     been seen.
//
// What is left is the operator's writes for the run's Accounts and
// AgentGroups.

// writeKey is one kind of write (apiwrites.Key).
type writeKey = apiwrites.Key

// writeCounts are writes by kind.
type writeCounts map[writeKey]float64

// groupResources are what "API-server writes per group" counts; events are
// given per group separately.
var (
	groupResources = []string{"agentgroups", "agentgroups/status"}
	eventResources = []string{"events", "core events"}
)

func (w writeCounts) clone() writeCounts {
	if w == nil {
		return writeCounts{}
	}
	return maps.Clone(w)
}

// minus is w − o, key by key, leaving out zeros.
func (w writeCounts) minus(o writeCounts) writeCounts {
	out := w.clone()
	for k, v := range o {
		out[k] -= v
	}
	maps.DeleteFunc(out, func(_ writeKey, v float64) bool { return v == 0 })
	return out
}

// sum is the writes to the given resources (all, if none are given).
func (w writeCounts) sum(resources ...string) float64 {
	t := 0.0
	for k, v := range w {
		if len(resources) == 0 || slices.Contains(resources, k.Resource) {
			t += v
		}
	}
	return t
}

func (w writeCounts) keys() []writeKey {
	return slices.SortedFunc(maps.Keys(w), func(a, b writeKey) int {
		if c := strings.Compare(a.Resource, b.Resource); c != 0 {
			return c
		}
		return strings.Compare(a.Verb, b.Verb)
	})
}

// perGroup is "agentgroups PATCH 1.00, agentgroups/status PATCH 1.00, …"
// with each count ÷ n, leaving out zeros.
func (w writeCounts) perGroup(n int) string {
	var parts []string
	for _, k := range w.keys() {
		if v := w[k]; math.Abs(v) >= 0.5 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, v/float64(max(n, 1))))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// MarshalJSON writes {"agentgroups PATCH": 1000, …}.
func (w writeCounts) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range w.keys() {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%g", k.String(), w[k])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// apiServerMetrics reads kube-apiserver's /metrics.
type apiServerMetrics struct{ rest rest.Interface }

func newAPIServerMetrics(cfg *rest.Config) (*apiServerMetrics, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &apiServerMetrics{rest: dc.RESTClient()}, nil
}

// writes is kube-apiserver's count of writes so far (apiwrites.Read).
func (m *apiServerMetrics) writes(ctx context.Context) (all, failed writeCounts, err error) {
	a, f, err := apiwrites.Read(ctx, m.rest)
	return writeCounts(a), writeCounts(f), err
}

// harnessWrites counts the harness's own writes at its HTTP transport,
// by the same names the API server's metric uses.
type harnessWrites struct {
	mu          sync.Mutex
	all, failed writeCounts
}

func newHarnessWrites() *harnessWrites {
	return &harnessWrites{all: writeCounts{}, failed: writeCounts{}}
}

// wrap is a rest.Config WrapTransport.
func (h *harnessWrites) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if resp != nil {
			if k, ok := requestWriteKey(req); ok {
				h.mu.Lock()
				h.all[k]++
				if resp.StatusCode >= 400 {
					h.failed[k]++
				}
				h.mu.Unlock()
			}
		}
		return resp, err
	})
}

func (h *harnessWrites) snapshot() (all, failed writeCounts) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.all.clone(), h.failed.clone()
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// requestWriteKey names a request as the API server's metric would, if it
// is a write to a counted resource.
func requestWriteKey(req *http.Request) (writeKey, bool) {
	verb := req.Method
	if verb == http.MethodPatch && strings.HasPrefix(req.Header.Get("Content-Type"), "application/apply-patch") {
		verb = "APPLY"
	}
	if !apiwrites.MutatingVerbs[verb] || req.URL.Query().Get("dryRun") != "" {
		return writeKey{}, false
	}
	// /api/v1/… or /apis/<group>/<version>/…, then [namespaces/<ns>/]<resource>[/<name>[/<subresource>]].
	segs := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	group := ""
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		segs = segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		group, segs = segs[1], segs[3:]
	default:
		return writeKey{}, false
	}
	if len(segs) >= 3 && segs[0] == "namespaces" {
		segs = segs[2:]
	}
	resource, sub := segs[0], ""
	if len(segs) > 2 {
		sub = segs[2]
	}
	res := apiwrites.CountedResource(group, resource, sub)
	if res == "" {
		return writeKey{}, false
	}
	return writeKey{Resource: res, Verb: verb}, true
}

// writeProbe is the counters at one moment.
type writeProbe struct {
	at                     time.Time
	api, apiFailed         writeCounts
	harness, harnessFailed writeCounts
	noisy, controlPlane    writeCounts
}

func (h *harness) probeWrites(ctx context.Context) (writeProbe, error) {
	p := writeProbe{}
	var err error
	p.api, p.apiFailed, err = h.apiMetrics.writes(ctx)
	if err != nil {
		return p, err
	}
	p.at = time.Now()
	p.harness, p.harnessFailed = h.harnessWrites.snapshot()
	p.noisy = h.noisyWatch.snapshot()
	p.controlPlane = h.controlPlaneWatch.snapshot()
	return p, nil
}

// apiWrites is what happened between two probes.
type apiWrites struct {
	window time.Duration
	// apiServer: every write the API server counted; harness: the
	// harness's own; noisy: the operator's for the noisy neighbour's
	// objects, controlPlane: kube-apiserver's Lease renewals, as watches
	// saw them.
	apiServer, harness, noisy, controlPlane writeCounts
	// failed: the writes answered with an error (409 Conflict, …), by the
	// API server's count less the harness's.
	failed writeCounts
	// operator is apiServer − harness − noisy − controlPlane − background,
	// set once the background rate is known (setBackground).
	operator writeCounts
}

func writesBetween(a, b writeProbe) apiWrites {
	return apiWrites{
		window:       b.at.Sub(a.at),
		apiServer:    b.api.minus(a.api),
		harness:      b.harness.minus(a.harness),
		noisy:        b.noisy.minus(a.noisy),
		controlPlane: b.controlPlane.minus(a.controlPlane),
		failed:       b.apiFailed.minus(a.apiFailed).minus(b.harnessFailed.minus(a.harnessFailed)),
	}
}

// attributed is the API server's count less the writes known to be
// someone else's than the operator's for the run.
func (w apiWrites) attributed() writeCounts {
	return w.apiServer.minus(w.harness).minus(w.noisy).minus(w.controlPlane)
}

// background is the rate of writes no one in the bench made, per second.
type background writeCounts

// backgroundRate is the writes between two probes with no manager up and
// the harness idle, per second.
func backgroundRate(w apiWrites) background {
	out := background{}
	for k, v := range w.attributed() {
		if v > 0 {
			out[k] = v / w.window.Seconds()
		}
	}
	return out
}

// setBackground computes the operator's writes: the API server's less the
// harness's, the noisy neighbour's, the control plane's and the
// background's over the window (rounded to whole writes), never below 0.
func (w *apiWrites) setBackground(bg background) {
	w.operator = writeCounts{}
	for k, v := range w.attributed() {
		v -= math.Round(bg[k] * w.window.Seconds())
		if v > 0 {
			w.operator[k] = v
		}
	}
}

// settle waits until every run Account's last recount has landed (its
// managedGroups counts the AgentGroups bound in its namespace), and for
// 1 s no AgentGroup of the run has changed (as the harness's watch sees
// them) and no manager has sent a write (by its client's
// rest_client_requests_total), or until 15 s have passed. So the writes
// that follow a scenario's last observed change are counted with it: an
// Account's recount, 2 s after its groups' last binding change as the
// manager's cache sees it; a status write after the read the no-op
// resync waits for; the Events.
func (h *harness) settle(ctx context.Context) {
	const (
		quiet = time.Second
		most  = 15 * time.Second
	)
	start := time.Now()
	last, since := -1, time.Now()
	for time.Since(start) < most {
		writes := 0
		for _, m := range h.mgrs {
			writes += m.clientWrites()
		}
		if writes != last {
			last, since = writes, time.Now()
		}
		if time.Since(since) >= quiet && time.Since(h.track.lastChanged()) >= quiet && h.track.accountsCounted() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
