package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// objectMetrics tracks each AgentGroup's last conditions so the gauges are
// counts of objects, not of passes.
type objectMetrics struct {
	conditions     *prometheus.GaugeVec
	pendingCreates prometheus.Gauge
	driftDetected  prometheus.Counter
	driftCorrected prometheus.Counter

	mu      sync.Mutex
	last    map[types.NamespacedName]map[string]string
	pending map[types.NamespacedName]bool
}

var metrics = newObjectMetrics()

func init() {
	ctrlmetrics.Registry.MustRegister(metrics.conditions, metrics.pendingCreates, metrics.driftDetected, metrics.driftCorrected)
}

func newObjectMetrics() *objectMetrics {
	return &objectMetrics{
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
		last:    map[types.NamespacedName]map[string]string{},
		pending: map[types.NamespacedName]bool{},
	}
}

func (m *objectMetrics) observe(key types.NamespacedName, g *deepcallv1.AgentGroup) {
	now := map[string]string{}
	for _, c := range g.Status.Conditions {
		now[c.Type] = string(c.Status)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.replace(key, now)
	if p := pendingCreate(g); p != m.pending[key] {
		m.setPending(key, p)
	}
}

func (m *objectMetrics) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.replace(key, nil)
	m.setPending(key, false)
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

func (m *objectMetrics) setPending(key types.NamespacedName, p bool) {
	if p == m.pending[key] {
		return
	}
	if p {
		m.pendingCreates.Inc()
		m.pending[key] = true
	} else {
		m.pendingCreates.Dec()
		delete(m.pending, key)
	}
}
