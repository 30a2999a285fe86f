package controllers

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
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

// The Group API metrics carry the Account a call was made for, and an
// Account's series go with it: the label is bounded by the Accounts.
func TestAPIMetricsCarryTheAccount(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := groupapi.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	s := newStory(t)
	account := s.ns + "/default"
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	if n := seriesOf(t, reg, "deepcall_api_requests_total", account); n == 0 {
		t.Fatalf("no deepcall_api_requests_total series with account=%q", account)
	}
	s.must(k8s.Delete(ctxBG, &deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "default"}}))
	s.eventually(20*time.Second, func() error {
		for _, name := range []string{"deepcall_api_requests_total", "deepcall_api_request_duration_seconds", "deepcall_api_throttled_total"} {
			if n := seriesOf(t, reg, name, account); n != 0 {
				return fmt.Errorf("%d %s series with account=%q after the Account was deleted", n, name, account)
			}
		}
		return nil
	})
}

// seriesOf counts the series of a metric with this account label.
func seriesOf(t *testing.T, reg *prometheus.Registry, name, account string) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "account" && l.GetValue() == account {
					n++
				}
			}
		}
	}
	return n
}
