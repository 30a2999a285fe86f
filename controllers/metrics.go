package controllers

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// objectMetrics tracks each AgentGroup's last conditions so the gauges are
// counts of objects, not of passes.
type objectMetrics struct {
	conditions     *prometheus.GaugeVec
	pendingCreates prometheus.Gauge
	pastSettle     prometheus.GaugeFunc
	driftDetected  prometheus.Counter
	driftCorrected prometheus.Counter
	accountReady   *prometheus.GaugeVec
	watchDelay     prometheus.Histogram
	watchPending   prometheus.GaugeFunc

	mu   sync.Mutex
	last map[types.NamespacedName]map[string]string
	// accountReasons holds each Account's reason label, so its series is
	// replaced only when the reason changes (a scrape never finds none).
	accountReasons map[types.NamespacedName]string
	// pending holds when each unresolved add was sent.
	pending map[types.NamespacedName]time.Time
	// settle is the manager's --create-settle.
	settle time.Duration
}

var metrics = newObjectMetrics()

func init() {
	ctrlmetrics.Registry.MustRegister(metrics.conditions, metrics.pendingCreates, metrics.pastSettle,
		metrics.driftDetected, metrics.driftCorrected, metrics.accountReady, metrics.watchDelay, metrics.watchPending)
}

func newObjectMetrics() *objectMetrics {
	m := &objectMetrics{
		conditions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "deepcall_agentgroup_conditions",
			Help: "AgentGroups by condition type and status.",
		}, []string{"type", "status"}),
		pendingCreates: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deepcall_agentgroup_pending_creates",
			Help: "AgentGroups whose add call's outcome is not yet recorded.",
		}),
		driftDetected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deepcall_agentgroup_drift_detected_total",
			Help: "Times a new set of differences made outside the operator was found.",
		}),
		driftCorrected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deepcall_agentgroup_drift_corrected_total",
			Help: "Times such differences were corrected (managementPolicy Manage).",
		}),
		accountReady: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "deepcall_account_ready",
			Help: "1 while an Account (or ClusterAccount) is Ready, else 0; reason is its Ready reason.",
		}, []string{"account", "reason"}),
		watchDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "deepcall_agentgroup_watch_delay_seconds",
			Help:    "Time from sending a status write until this manager's own watch of AgentGroups delivered it: how late the manager sees every AgentGroup change, people's edits included.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120},
		}),
		last:           map[types.NamespacedName]map[string]string{},
		pending:        map[types.NamespacedName]time.Time{},
		accountReasons: map[types.NamespacedName]string{},
	}
	m.watchPending = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "deepcall_agentgroup_watch_pending_seconds",
		Help: "Age of the oldest status write of this manager that its own watch of AgentGroups has not delivered yet (0: none); a stalled watch shows here, not in the delay histogram.",
	}, oldestPendingWrite)
	m.pastSettle = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "deepcall_agentgroup_pending_creates_past_settle",
		Help: "AgentGroups whose add call was sent longer than --create-settle ago and whose outcome is still not recorded.",
	}, m.countPastSettle)
	return m
}

// countPastSettle is computed at each scrape: an add becomes overdue with
// time alone, with no pass to notice it.
func (m *objectMetrics) countPastSettle() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, sent := range m.pending {
		if time.Since(sent) > m.settle {
			n++
		}
	}
	return float64(n)
}

func (m *objectMetrics) setSettle(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.settle = d
}

// observeAccount sets the Account's one series to its Ready condition.
func (m *objectMetrics) observeAccount(key types.NamespacedName, acct *deepcallv1.Account) {
	ready := meta.FindStatusCondition(acct.Status.Conditions, deepcallv1.ConditionReady)
	if ready == nil {
		return
	}
	v := 0.0
	if ready.Status == metav1.ConditionTrue {
		v = 1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	label := accountLabel(key)
	if old, ok := m.accountReasons[key]; ok && old != ready.Reason {
		m.accountReady.DeleteLabelValues(label, old)
	}
	m.accountReasons[key] = ready.Reason
	m.accountReady.WithLabelValues(label, ready.Reason).Set(v)
}

// forgetAccount drops the series of an Account that is gone or going: its
// readiness no longer holds anything up.
func (m *objectMetrics) forgetAccount(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.accountReasons, key)
	m.accountReady.DeletePartialMatch(prometheus.Labels{"account": accountLabel(key)})
}

// accountLabel is the account label of the metrics: "namespace/name", or
// a ClusterAccount's name alone (as the Group API client's metrics).
func accountLabel(key types.NamespacedName) string {
	return strings.TrimPrefix(key.String(), "/")
}

func (m *objectMetrics) observe(key types.NamespacedName, g *deepcallv1.AgentGroup) {
	now := map[string]string{}
	for _, c := range g.Status.Conditions {
		now[c.Type] = string(c.Status)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.replace(key, now)
	m.setPending(key, pendingSince(g))
}

// pendingSince is when g's unresolved add was sent (an unreadable intent
// counts from its AgentGroup's creation); nil when there is none.
func pendingSince(g *deepcallv1.AgentGroup) *time.Time {
	p, err := g.CreateIntent()
	switch {
	case err != nil:
		return &g.CreationTimestamp.Time
	case p == nil:
		return nil
	}
	return &p.StartedAt.Time
}

func (m *objectMetrics) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.replace(key, nil)
	m.setPending(key, nil)
}

func (m *objectMetrics) replace(key types.NamespacedName, now map[string]string) {
	for typ, status := range m.last[key] {
		m.conditions.WithLabelValues(typ, status).Dec()
	}
	for typ, status := range now {
		m.conditions.WithLabelValues(typ, status).Inc()
	}
	if now == nil {
		delete(m.last, key)
	} else {
		m.last[key] = now
	}
}

func (m *objectMetrics) setPending(key types.NamespacedName, since *time.Time) {
	_, was := m.pending[key]
	switch {
	case since != nil:
		if !was {
			m.pendingCreates.Inc()
		}
		m.pending[key] = *since
	case was:
		m.pendingCreates.Dec()
		delete(m.pending, key)
	}
}
