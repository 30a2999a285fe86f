package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

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

// An add whose outcome is unrecorded past --create-settle is counted at
// each scrape, with no pass needed to notice the time gone by.
func TestPendingCreatesPastSettle(t *testing.T) {
	m := newObjectMetrics()
	m.setSettle(time.Minute)
	sent := func(ago time.Duration) *deepcallv1.AgentGroup {
		g := &deepcallv1.AgentGroup{}
		g.Status.PendingCreate = &deepcallv1.PendingCreate{Name: "x", StartedAt: metav1.NewMicroTime(time.Now().Add(-ago))}
		return g
	}
	m.observe(types.NamespacedName{Name: "old"}, sent(2*time.Minute))
	m.observe(types.NamespacedName{Name: "new"}, sent(time.Second))
	if got := testutil.ToFloat64(m.pastSettle); got != 1 {
		t.Errorf("pending creates past settle %v, want 1 (the one sent 2m ago)", got)
	}
	if got := testutil.ToFloat64(m.pendingCreates); got != 2 {
		t.Errorf("pending creates %v, want 2", got)
	}
	m.setSettle(time.Millisecond)
	if got := testutil.ToFloat64(m.pastSettle); got != 2 {
		t.Errorf("pending creates past a 1ms settle %v, want 2", got)
	}
	m.forget(types.NamespacedName{Name: "old"})
	if got := testutil.ToFloat64(m.pastSettle); got != 1 {
		t.Errorf("pending creates past settle after one resolved %v, want 1", got)
	}
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
	if v := accountReady(t, account); v != "Synced=1" {
		t.Errorf("deepcall_account_ready of %s: %s, want Synced=1", account, v)
	}
	s.must(k8s.Delete(ctxBG, &deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "default"}}))
	s.eventually(20*time.Second, func() error {
		for _, name := range []string{"deepcall_api_requests_total", "deepcall_api_request_duration_seconds", "deepcall_api_throttled_total"} {
			if n := seriesOf(t, reg, name, account); n != 0 {
				return fmt.Errorf("%d %s series with account=%q after the Account was deleted", n, name, account)
			}
		}
		if v := accountReady(t, account); v != "" {
			return fmt.Errorf("deepcall_account_ready of %s after the Account was deleted: %s", account, v)
		}
		return nil
	})
}

// accountReady is the Account's deepcall_account_ready series, as
// reason=value ("" when it has none).
func accountReady(t *testing.T, account string) string {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != "deepcall_account_ready" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["account"] == account {
				out = append(out, fmt.Sprintf("%s=%v", labels["reason"], m.GetGauge().GetValue()))
			}
		}
	}
	return strings.Join(out, ",")
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

// A person who applies a group can tell from the metrics how far the
// manager's watch lags its own writes: each status write is timed until
// the manager's watch of AgentGroups delivers it.
func TestWatchDelayIsMeasured(t *testing.T) {
	before := watchDelayCount(t)
	s := newStory(t)
	s.group("desk", nil)
	s.waitReady("desk")
	s.eventually(10*time.Second, func() error {
		if n := watchDelayCount(t); n <= before {
			return fmt.Errorf("deepcall_agentgroup_watch_delay_seconds counted %d, %d before the group was applied", n, before)
		}
		return nil
	})
}

func watchDelayCount(t *testing.T) uint64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "deepcall_agentgroup_watch_delay_seconds" {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}
