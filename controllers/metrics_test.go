package controllers

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// The gauges count objects, not passes: observing an object again replaces
// its previous contribution, forgetting it removes it.
func TestObjectMetricsCountObjects(t *testing.T) {
	m := newObjectMetrics()
	group := func(ready metav1.ConditionStatus, pending bool) *deepcallv1.AgentGroup {
		g := &deepcallv1.AgentGroup{}
		g.Status.Conditions = []metav1.Condition{{Type: deepcallv1.ConditionReady, Status: ready}}
		if pending {
			g.Status.PendingCreate = &deepcallv1.PendingCreate{Name: "x"}
		}
		return g
	}
	a, b := types.NamespacedName{Name: "a"}, types.NamespacedName{Name: "b"}
	m.observe(a, group(metav1.ConditionFalse, true))
	m.observe(b, group(metav1.ConditionFalse, false))
	m.observe(a, group(metav1.ConditionFalse, true))
	check := func(step string, readyTrue, readyFalse, pending float64) {
		t.Helper()
		if got := testutil.ToFloat64(m.conditions.WithLabelValues("Ready", "True")); got != readyTrue {
			t.Errorf("%s: Ready=True %v, want %v", step, got, readyTrue)
		}
		if got := testutil.ToFloat64(m.conditions.WithLabelValues("Ready", "False")); got != readyFalse {
			t.Errorf("%s: Ready=False %v, want %v", step, got, readyFalse)
		}
		if got := testutil.ToFloat64(m.pendingCreates); got != pending {
			t.Errorf("%s: pending creates %v, want %v", step, got, pending)
		}
	}
	check("two not ready, one pending", 0, 2, 1)
	m.observe(a, group(metav1.ConditionTrue, false))
	check("a ready", 1, 1, 0)
	m.forget(a)
	m.forget(b)
	check("both gone", 0, 0, 0)
}
