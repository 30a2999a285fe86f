package packaging

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
)

// scenarioLength is how long each scenario's series run, at one sample a
// minute: longer than the longest for: plus its range.
const scenarioLength = 3 * time.Hour

// alertScenarios are series as the manager would expose them in a
// situation, and whether the alert fires on them (its expression returns
// series for at least its for:), as promtool's rule unit tests do. Values
// are promqltest's load notation over 180 one-minute samples: 0+5x180
// grows by 5 a minute, 2+0x180 stays at 2.
var alertScenarios = map[string][]struct {
	name   string
	series []string
	fires  bool
}{
	"AgentGroupStalled": {
		{"two groups stalled", []string{`deepcall_agentgroup_conditions{type="Stalled",status="True"} 2+0x180`}, true},
		{"none stalled any more", []string{`deepcall_agentgroup_conditions{type="Stalled",status="True"} 0+0x180`}, false},
		{"stalled for 10 minutes", []string{`deepcall_agentgroup_conditions{type="Stalled",status="True"} 1+0x10 0+0x170`}, false},
	},
	"AgentGroupNotReady": {
		{"not ready, and no group ever stalled", []string{`deepcall_agentgroup_conditions{type="Ready",status="False"} 3+0x180`}, true},
		{"not ready beside stalled ones", []string{
			`deepcall_agentgroup_conditions{type="Ready",status="False"} 5+0x180`,
			`deepcall_agentgroup_conditions{type="Stalled",status="True"} 2+0x180`}, true},
		{"the not ready ones are the stalled ones", []string{
			`deepcall_agentgroup_conditions{type="Ready",status="False"} 2+0x180`,
			`deepcall_agentgroup_conditions{type="Stalled",status="True"} 2+0x180`}, false},
		{"not ready for 40 minutes (a large apply)", []string{`deepcall_agentgroup_conditions{type="Ready",status="False"} 500+0x40 0+0x140`}, false},
	},
	"AgentGroupCreatePendingTooLong": {
		{"an intent never settled", []string{`deepcall_agentgroup_pending_creates_past_settle 1+0x180`}, true},
		{"past settle for 10 minutes, then listed", []string{`deepcall_agentgroup_pending_creates_past_settle 1+0x10 0+0x170`}, false},
		{"none past settle", []string{`deepcall_agentgroup_pending_creates_past_settle 0+0x180`}, false},
	},
	"AgentGroupDriftCorrectionSpike": {
		{"2 corrections a minute", []string{`deepcall_agentgroup_drift_corrected_total 0+2x180`}, true},
		{"one correction every 5 minutes", []string{`deepcall_agentgroup_drift_corrected_total 0+0.2x180`}, false},
	},
	"DeepCallAccountNotReady": {
		{"credentials refused", []string{`deepcall_account_ready{account="team/default",reason="Unauthorized"} 0+0x180`}, true},
		{"unreachable for 10 minutes, then ready", []string{
			`deepcall_account_ready{account="team/default",reason="Unreachable"} 0+0x10`,
			`deepcall_account_ready{account="team/default",reason="Synced"} _x10 1+0x170`}, false},
		{"not ready throughout, for reasons that change", []string{
			`deepcall_account_ready{account="team/default",reason="Unreachable"} 0+0x10`,
			`deepcall_account_ready{account="team/default",reason="Unauthorized"} _x10 0+0x170`}, true},
		{"ready", []string{`deepcall_account_ready{account="platform",reason="Synced"} 1+0x180`}, false},
	},
	"DeepCallAPIErrorRatioHigh": {
		{"half the calls fail", []string{
			`deepcall_api_requests_total{account="team/default",operation="update",result="retryable"} 0+5x180`,
			`deepcall_api_requests_total{account="team/default",operation="update",result="success"} 0+5x180`}, true},
		{"1% fail", []string{
			`deepcall_api_requests_total{account="team/default",operation="update",result="retryable"} 0+0.1x180`,
			`deepcall_api_requests_total{account="team/default",operation="update",result="success"} 0+10x180`}, false},
		{"half fail, but 15 calls in 15 minutes", []string{
			`deepcall_api_requests_total{account="team/default",operation="update",result="terminal"} 0+0.5x180`,
			`deepcall_api_requests_total{account="team/default",operation="update",result="success"} 0+0.5x180`}, false},
		{"half are not_found answers", []string{
			`deepcall_api_requests_total{account="team/default",operation="getGroupAgentRelation",result="not_found"} 0+5x180`,
			`deepcall_api_requests_total{account="team/default",operation="getGroupAgentRelation",result="success"} 0+5x180`}, false},
	},
	"AgentGroupOperatorWatchBehind": {
		{"a tenth of the writes come back after 10 s", []string{
			`deepcall_agentgroup_watch_delay_seconds_count{namespace="agentgroup-system",pod="m"} 0+20x180`,
			`deepcall_agentgroup_watch_delay_seconds_bucket{namespace="agentgroup-system",pod="m",le="10"} 0+18x180`}, true},
		{"every write back within 10 s", []string{
			`deepcall_agentgroup_watch_delay_seconds_count{namespace="agentgroup-system",pod="m"} 0+20x180`,
			`deepcall_agentgroup_watch_delay_seconds_bucket{namespace="agentgroup-system",pod="m",le="10"} 0+20x180`}, false},
		{"late for 5 minutes, then caught up", []string{
			`deepcall_agentgroup_watch_delay_seconds_count{namespace="agentgroup-system",pod="m"} 0+20x180`,
			`deepcall_agentgroup_watch_delay_seconds_bucket{namespace="agentgroup-system",pod="m",le="10"} 0+10x5 60+20x174`}, false},
		{"one slow write in every 5 minutes", []string{
			`deepcall_agentgroup_watch_delay_seconds_count{namespace="agentgroup-system",pod="m"} 0+0.2x180`,
			`deepcall_agentgroup_watch_delay_seconds_bucket{namespace="agentgroup-system",pod="m",le="10"} 0+0x180`}, false},
		{"one shard late, the other on time", []string{
			`deepcall_agentgroup_watch_delay_seconds_count{namespace="agentgroup-system",pod="shard1"} 0+20x180`,
			`deepcall_agentgroup_watch_delay_seconds_bucket{namespace="agentgroup-system",pod="shard1",le="10"} 0+10x180`,
			`deepcall_agentgroup_watch_delay_seconds_count{namespace="agentgroup-system",pod="shard2"} 0+200x180`,
			`deepcall_agentgroup_watch_delay_seconds_bucket{namespace="agentgroup-system",pod="shard2",le="10"} 0+200x180`}, true},
		{"the watch stalled: nothing comes back, a write waits", []string{
			`deepcall_agentgroup_watch_delay_seconds_count{namespace="agentgroup-system",pod="m"} 100+0x180`,
			`deepcall_agentgroup_watch_pending_seconds{namespace="agentgroup-system",pod="m"} 0+60x180`}, true},
		{"no writes at all", []string{
			`deepcall_agentgroup_watch_delay_seconds_count{namespace="agentgroup-system",pod="m"} 0+0x180`,
			`deepcall_agentgroup_watch_pending_seconds{namespace="agentgroup-system",pod="m"} 0+0x180`}, false},
	},
	"DeepCallAPIThrottled": {
		{"a 429 every minute", []string{`deepcall_api_throttled_total{account="team/default",source="server"} 0+1x180`}, true},
		{"429s long ago", []string{`deepcall_api_throttled_total{account="team/default",source="server"} 3+0x180`}, false},
		{"only the local token bucket", []string{`deepcall_api_throttled_total{account="team/default",source="client"} 0+5x180`}, false},
	},
	"DeepCallRateBudgetSaturated": {
		{"waiting for the bucket for 3 hours", []string{`deepcall_api_throttled_total{account="team/default",source="client"} 0+1x180`}, true},
		{"waiting for the bucket for an hour", []string{`deepcall_api_throttled_total{account="team/default",source="client"} 0+1x60 60+0x120`}, false},
	},
	"AgentGroupOperatorDown": {
		{"no manager scraped", []string{`up{job="something-else"} 1+0x180`}, true},
		{"a manager scraped", []string{`controller_runtime_reconcile_total{controller="agentgroup",result="success"} 0+1x180`}, false},
	},
	"AgentGroupOperatorReconcileErrors": {
		{"half the reconciles fail", []string{
			`controller_runtime_reconcile_errors_total{controller="agentgroup"} 0+5x180`,
			`controller_runtime_reconcile_total{controller="agentgroup",result="error"} 0+5x180`,
			`controller_runtime_reconcile_total{controller="agentgroup",result="success"} 0+5x180`}, true},
		{"none fails", []string{
			`controller_runtime_reconcile_errors_total{controller="agentgroup"} 0+0x180`,
			`controller_runtime_reconcile_total{controller="agentgroup",result="success"} 0+10x180`}, false},
		{"another operator's controller fails", []string{
			`controller_runtime_reconcile_errors_total{controller="deployment"} 0+5x180`,
			`controller_runtime_reconcile_total{controller="deployment",result="error"} 0+5x180`}, false},
	},
	"AgentGroupOperatorWorkqueueBacklog": {
		{"objects wait 10 to 100 s for a worker", []string{
			`workqueue_queue_duration_seconds_bucket{controller="agentgroup",name="agentgroup",le="10"} 0+0x180`,
			`workqueue_queue_duration_seconds_bucket{controller="agentgroup",name="agentgroup",le="100"} 0+10x180`,
			`workqueue_queue_duration_seconds_bucket{controller="agentgroup",name="agentgroup",le="+Inf"} 0+10x180`,
			`workqueue_depth{controller="agentgroup",name="agentgroup",priority=""} 50+0x180`}, true},
		{"objects wait under a second", []string{
			`workqueue_queue_duration_seconds_bucket{controller="agentgroup",name="agentgroup",le="1"} 0+10x180`,
			`workqueue_queue_duration_seconds_bucket{controller="agentgroup",name="agentgroup",le="100"} 0+10x180`,
			`workqueue_queue_duration_seconds_bucket{controller="agentgroup",name="agentgroup",le="+Inf"} 0+10x180`,
			`workqueue_depth{controller="agentgroup",name="agentgroup",priority=""} 50+0x180`}, false},
		{"slow, but the queue is empty", []string{
			`workqueue_queue_duration_seconds_bucket{controller="agentgroup",name="agentgroup",le="10"} 0+0x180`,
			`workqueue_queue_duration_seconds_bucket{controller="agentgroup",name="agentgroup",le="100"} 0+10x180`,
			`workqueue_queue_duration_seconds_bucket{controller="agentgroup",name="agentgroup",le="+Inf"} 0+10x180`,
			`workqueue_depth{controller="agentgroup",name="agentgroup",priority=""} 0+0x180`}, false},
	},
	"AgentGroupOperatorReconcileStuck": {
		{"one reconcile running for 3 hours", []string{`workqueue_longest_running_processor_seconds{controller="agentgroup",name="agentgroup"} 0+60x180`}, true},
		{"reconciles end within seconds", []string{`workqueue_longest_running_processor_seconds{controller="agentgroup",name="agentgroup"} 2+0x180`}, false},
	},
}

// TestAlertsFire: each alert fires in a situation it is meant for and not
// in the nearby ones it is not, evaluated by Prometheus's own engine over
// minute-by-minute series; every alert has at least one scenario of each.
func TestAlertsFire(t *testing.T) {
	engine := promqltest.NewTestEngine(t, false, 0, 10_000_000)
	seen := map[string]bool{}
	for _, g := range alertRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			seen[r.Alert] = true
			scenarios := alertScenarios[r.Alert]
			var fires, quiet int
			for _, s := range scenarios {
				if s.fires {
					fires++
				} else {
					quiet++
				}
				t.Run(r.Alert+"/"+s.name, func(t *testing.T) {
					st := promqltest.LoadedStorage(t, "load 1m\n  "+strings.Join(s.series, "\n  "))
					if got := firesFor(t, engine, st, r.Expr, time.Duration(r.For)); got != s.fires {
						t.Errorf("fires: %v, want %v\n%s", got, s.fires, r.Expr)
					}
				})
			}
			if fires == 0 || quiet == 0 {
				t.Errorf("alert %s has %d scenarios where it fires and %d where it does not, want at least one of each", r.Alert, fires, quiet)
			}
		}
	}
	for alert := range alertScenarios {
		if !seen[alert] {
			t.Errorf("scenarios for %s, which %s does not have", alert, rulePath)
		}
	}
}

// firesFor reports whether expr returns some series at every minute of a
// stretch at least forDur long: when Prometheus would fire the alert.
func firesFor(t *testing.T, engine *promql.Engine, st storage.Queryable, expr string, forDur time.Duration) bool {
	t.Helper()
	start := time.Unix(0, 0).UTC()
	q, err := engine.NewRangeQuery(context.Background(), st, nil, expr, start, start.Add(scenarioLength), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	matrix, err := res.Matrix()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range matrix {
		var from int64
		for i, p := range s.Floats {
			if i == 0 || p.T-s.Floats[i-1].T > time.Minute.Milliseconds() {
				from = p.T
			}
			if time.Duration(p.T-from)*time.Millisecond >= forDur {
				return true
			}
		}
	}
	return false
}
