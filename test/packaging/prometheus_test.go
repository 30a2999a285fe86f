package packaging

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/agentgroups/agentgroup-operator/internal/localenv"
	"github.com/agentgroups/agentgroup-operator/test/packaging/internal/packagingtest"
)

// The alerts, the dashboard, and where the alerts' runbooks are.
const (
	promDir       = "config/prometheus"
	rulePath      = promDir + "/prometheus_rule.yaml"
	dashboardPath = "config/grafana/agentgroup-operator.json"
	runbooks      = "https://github.com/agentgroups/agentgroup-operator/blob/main/docs/operations.md#"
)

var promqlParser = parser.NewParser(parser.Options{})

// promExpr is one PromQL expression of the alerts or the dashboard, and
// where it is (for messages).
type promExpr struct{ where, expr string }

// TestAlertRules: the PrometheusRule's spec is a valid Prometheus rule
// file (rulefmt, as `promtool check rules` reads it: unknown fields,
// expressions, durations, label names and annotation templates), and each
// alert can be acted on: a for:, a severity, a summary, a description and
// a runbook in docs/operations.md named after it.
func TestAlertRules(t *testing.T) {
	groups := alertRules(t)
	operations, err := os.ReadFile(filepath.Join(packagingtest.Root(), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" {
				t.Errorf("group %s: a rule without an alert name (recording rules belong elsewhere): %s", g.Name, r.Expr)
				continue
			}
			if r.For <= 0 {
				t.Errorf("alert %s: no for:, so one bad scrape pages", r.Alert)
			}
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			if got, want := r.Annotations["runbook_url"], runbooks+strings.ToLower(r.Alert); got != want {
				t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, got, want)
			}
			if !strings.Contains(string(operations), "\n### "+r.Alert+"\n") {
				t.Errorf("alert %s: docs/operations.md has no section \"### %s\", its runbook", r.Alert, r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s has no rules", rulePath)
	}
}

// TestDashboard: every panel queries the dashboard's datasource variable
// and every expression parses with the PromQL parser once Grafana's
// variables are replaced.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if i := slices.IndexFunc(d.Templating.List, func(v dashboardVar) bool { return v.Name == "datasource" }); i < 0 || d.Templating.List[i].Type != "datasource" || string(d.Templating.List[i].Query) != `"prometheus"` {
		t.Errorf("no template variable datasource of type datasource querying prometheus")
	}
	ids := map[int]string{}
	for _, p := range d.allPanels() {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %q, want ${datasource}", p.Title, p.Datasource.UID)
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %s: datasource %q, want ${datasource}", p.Title, tg.RefID, tg.Datasource.UID)
			}
		}
	}
	exprs := dashboardExprs(t, d)
	if len(exprs) == 0 {
		t.Fatalf("%s has no queries", dashboardPath)
	}
	for _, e := range exprs {
		if _, err := promqlParser.ParseExpr(e.expr); err != nil {
			t.Errorf("%s: %v\n%s", e.where, err, e.expr)
		}
	}
}

// TestPrometheusManifestsDryRun: config/prometheus (ServiceMonitor and
// PrometheusRule) passes a server-side dry-run on an API server with the
// Prometheus Operator's CRDs, whose schemas check its fields.
func TestPrometheusManifestsDryRun(t *testing.T) {
	built := packagingtest.Kustomize(t, promDir)
	objs := packagingtest.Objects(t, built)
	for _, k := range []string{"ServiceMonitor", "PrometheusRule"} {
		packagingtest.One(t, objs, k)
	}
	cp := packagingtest.StartControlPlaneWithCRDs(t, packagingtest.ThirdPartyCRDs(t))
	namespaces := map[string]bool{}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && !namespaces[ns] {
			namespaces[ns] = true
			if _, err := cp.Kubectl("", "create", "namespace", ns); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := cp.Kubectl(built, "apply", "--server-side", "--dry-run=server", "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server-side dry-run:\n%s", out)
}

// TestAlertsAndDashboardUseExposedMetrics: every series selector of the
// alerts and the dashboard selects series a running manager exposes,
// scraped from its /metrics after driving it through what makes them
// appear (a vector has no series until a label set is observed): an
// Account with a tight rate budget (client throttling), AgentGroups in
// sync, one stalled on a name taken by hand, a failed listing, drift made
// by hand and corrected, and a 429 with Retry-After. A misspelt metric or
// label, a label value the manager never sets, or a by/on label its series
// lack, matches nothing.
func TestAlertsAndDashboardUseExposedMetrics(t *testing.T) {
	exprs := append(ruleExprs(t), dashboardExprs(t, loadDashboard(t))...)
	sels := selectors(t, exprs)

	const user, token, ns = "30001", "packaging-token-7d1e", "alerts"
	m := startLocalManager(t, map[string]string{user: token})
	m.kubectl(t, localenv.AccountYAML(ns, user, token, m.sim, 1), "apply", "-f", "-")
	m.kubectl(t, "", "-n", ns, "wait", "--for=condition=Ready", "account/default", "--timeout=60s")

	// A group made by hand takes the name "taken": its AgentGroup stalls
	// (NameConflict). The others wait for the budget of 1 call a second.
	m.simDo(t, "POST", "/_sim/users/"+user+"/groups", `{"name":"taken"}`)
	groups := []string{"sales", "support", "taken"}
	for _, g := range groups {
		m.kubectl(t, agentGroupYAML(ns, g), "apply", "-f", "-")
	}
	m.kubectl(t, "", "-n", ns, "wait", "--for=condition=Ready", "agentgroup/sales", "agentgroup/support", "--timeout=90s")
	m.kubectl(t, "", "-n", ns, "wait", "--for=condition=Stalled", "agentgroup/taken", "--timeout=60s")

	// A listing fails (1009): the next create's.
	m.simDo(t, "POST", "/_sim/fail-next", `{"op":"list","n":1}`)
	m.kubectl(t, agentGroupYAML(ns, "billing"), "apply", "-f", "-")
	m.kubectl(t, "", "-n", ns, "wait", "--for=condition=Ready", "agentgroup/billing", "--timeout=90s")

	// Drift by hand, corrected when the operator looks again.
	id := m.kubectl(t, "", "-n", ns, "get", "agentgroup/sales", "-o", "jsonpath={.status.groupId}")
	m.simDo(t, "PATCH", "/_sim/users/"+user+"/groups/"+id, `{"members":["1099"]}`)
	resync(t, m, ns, "sales")
	waitForSeries(t, m, "drift corrected", "deepcall_agentgroup_drift_corrected_total", nil)

	// A 429 with Retry-After pauses the remote account; then lifted.
	m.simDo(t, "POST", "/_sim/throttle", fmt.Sprintf(`{"user":%q,"retryAfter":"2s"}`, user))
	resync(t, m, ns, "support")
	waitForSeries(t, m, "a 429 counted", "deepcall_api_throttled_total", map[string]string{"source": "server"})
	m.simDo(t, "POST", "/_sim/throttle", fmt.Sprintf(`{"user":%q,"retryAfter":"0s"}`, user))

	pollUntil(t, 60*time.Second, "every selector of the alerts and the dashboard selects scraped series", func() error {
		samples, err := m.scrape()
		if err != nil {
			return err
		}
		var unmatched []string
		for _, s := range sels {
			if !s.selects(samples) {
				unmatched = append(unmatched, s.String())
			}
		}
		if len(unmatched) > 0 {
			return fmt.Errorf("%d selectors select no series:\n%s\nthe manager exposes:\n%s", len(unmatched), strings.Join(unmatched, "\n"), metricNames(samples))
		}
		return nil
	})
	t.Logf("%d selectors of %d expressions select series the manager exposes", len(sels), len(exprs))
}

func agentGroupYAML(ns, name string) string {
	return fmt.Sprintf(`apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata: {name: %s, namespace: %s}
spec:
  groupName: %q
  members: ["1001", "1002"]
  receiveCall: ["1001"]
`, name, ns, name)
}

// resync makes the operator look at an AgentGroup at once (any change of
// its annotations does).
func resync(t *testing.T, m *localManager, ns, name string) {
	t.Helper()
	m.kubectl(t, "", "-n", ns, "annotate", "agentgroup/"+name, fmt.Sprintf("deepcall.agentgroups.dev/resync=%d", time.Now().UnixNano()), "--overwrite")
}

// waitForSeries waits until the series of name with these labels add up
// to more than 0.
func waitForSeries(t *testing.T, m *localManager, what, name string, lbls map[string]string) {
	t.Helper()
	pollUntil(t, 60*time.Second, what, func() error {
		samples, err := m.scrape()
		if err != nil {
			return err
		}
		if v := seriesTotal(samples, name, lbls); v <= 0 {
			return fmt.Errorf("%s%v is %v", name, lbls, v)
		}
		return nil
	})
}

// alertRules reads the PrometheusRule and parses its spec as a rule file.
func alertRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(packagingtest.Root(), rulePath))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Metadata   json.RawMessage `json:"metadata"`
		Spec       json.RawMessage `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(b, &pr); err != nil {
		t.Fatalf("%s: %v", rulePath, err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Fatalf("%s: %s %s, want a monitoring.coreos.com/v1 PrometheusRule", rulePath, pr.APIVersion, pr.Kind)
	}
	spec, err := yaml.JSONToYAML(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, promqlParser, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Errorf("%s: %v", rulePath, err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	return groups
}

func ruleExprs(t *testing.T) []promExpr {
	t.Helper()
	var out []promExpr
	for _, g := range alertRules(t).Groups {
		for _, r := range g.Rules {
			out = append(out, promExpr{"alert " + r.Alert + r.Record, r.Expr})
		}
	}
	return out
}

// dashboard is what these tests read of a Grafana dashboard.
type dashboard struct {
	Templating struct {
		List []dashboardVar `json:"list"`
	} `json:"templating"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboardVar struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": ...}
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

type dashboardPanel struct {
	ID         int           `json:"id"`
	Type       string        `json:"type"`
	Title      string        `json:"title"`
	Datasource datasourceRef `json:"datasource"`
	Targets    []struct {
		RefID      string        `json:"refId"`
		Expr       string        `json:"expr"`
		Datasource datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(packagingtest.Root(), dashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// allPanels is every panel, those in collapsed rows included.
func (d dashboard) allPanels() []dashboardPanel {
	var out []dashboardPanel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

var (
	// grafanaVar is $name, ${name} or ${name:format}.
	grafanaVar = regexp.MustCompile(`\$(?:\{(\w+)(?::\w+)?\}|(\w+))`)
	// labelValues is a query variable's label_values(selector, label).
	labelValues = regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
)

// grafanaBuiltins stand for Grafana's interval variables: any duration
// parses the same.
var grafanaBuiltins = map[string]string{"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

// dashboardExprs is every query of the dashboard (panels', and the
// selectors of its query variables), with each variable replaced by what
// its "All" sends (its allValue, or .*), so that the query parses and
// selects what it would select.
func dashboardExprs(t *testing.T, d dashboard) []promExpr {
	t.Helper()
	values := maps.Clone(grafanaBuiltins)
	var out []promExpr
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		values[v.Name] = cmp.Or(v.AllValue, ".*")
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("variable %s: query %s: %v", v.Name, v.Query, err)
			}
		}
		sel := labelValues.FindStringSubmatch(q.Query)
		if sel == nil {
			t.Fatalf("variable %s: query %q, want label_values(selector, label)", v.Name, q.Query)
		}
		out = append(out, promExpr{"variable " + v.Name, sel[1]})
	}
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			out = append(out, promExpr{fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), tg.Expr})
		}
	}
	for i, e := range out {
		out[i].expr = grafanaVar.ReplaceAllStringFunc(e.expr, func(s string) string {
			m := grafanaVar.FindStringSubmatch(s)
			v, ok := values[m[1]+m[2]]
			if !ok {
				t.Errorf("%s: %s is not a variable of the dashboard", e.where, s)
			}
			return v
		})
	}
	return out
}

// seriesSelector is one series selector of an expression, and the labels
// the expression groups or matches its series by (sum by (account), and
// on (account)), which those series must carry.
type seriesSelector struct {
	where, text string
	matchers    []*labels.Matcher
	by          []string
}

func (s seriesSelector) String() string {
	if len(s.by) == 0 {
		return s.where + ": " + s.text
	}
	return fmt.Sprintf("%s: %s with labels %v", s.where, s.text, s.by)
}

// selectors parses each expression and returns its series selectors.
func selectors(t *testing.T, exprs []promExpr) []seriesSelector {
	t.Helper()
	var out []seriesSelector
	for _, e := range exprs {
		expr, err := promqlParser.ParseExpr(e.expr)
		if err != nil {
			t.Fatalf("%s: %v\n%s", e.where, err, e.expr)
		}
		parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			var by []string
			for _, p := range path {
				switch p := p.(type) {
				case *parser.AggregateExpr:
					if !p.Without {
						by = append(by, p.Grouping...)
					}
				case *parser.BinaryExpr:
					if p.VectorMatching != nil && p.VectorMatching.On {
						by = append(by, p.VectorMatching.MatchingLabels...)
					}
				}
			}
			slices.Sort(by)
			out = append(out, seriesSelector{e.where, vs.String(), vs.LabelMatchers, slices.Compact(by)})
			return nil
		})
	}
	if len(out) == 0 {
		t.Fatal("the alerts and the dashboard select no series")
	}
	return out
}

// selects reports whether some series matches every matcher (a label a
// series lacks matches as the empty string, as in Prometheus) and carries
// every label of by.
func (s seriesSelector) selects(series []scrapedSeries) bool {
	return slices.ContainsFunc(series, func(ss scrapedSeries) bool {
		for _, m := range s.matchers {
			if !m.Matches(ss.labels[m.Name]) {
				return false
			}
		}
		for _, l := range s.by {
			if ss.labels[l] == "" {
				return false
			}
		}
		return true
	})
}

// metricNames lists the metric names in samples, for failure messages.
func metricNames(samples []scrapedSeries) string {
	var out []string
	for _, s := range samples {
		out = append(out, s.labels[model.MetricNameLabel])
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), " ")
}
