package packaging

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/agentgroups/agentgroup-operator/internal/localenv"
	"github.com/agentgroups/agentgroup-operator/test/packaging/internal/packagingtest"
)

// localManager is a local control plane (the project's CRDs installed),
// the Group API simulator and bin/manager running against both, as in
// test/e2e, for the tests that need what a running manager shows.
type localManager struct {
	env *localenv.Env
	// sim is the simulator's address (its API and /_sim/ admin API);
	// metrics the manager's /metrics address, plain HTTP.
	sim, metrics string
	manager      *localenv.Proc
}

// startLocalManager starts everything, stopped when the test ends; the
// logs are kept (and their tails shown) when it fails. users are the
// simulator's users, id to token.
func startLocalManager(t *testing.T, users map[string]string) *localManager {
	t.Helper()
	root := packagingtest.Root()
	for _, bin := range []string{"manager", "groupapi-sim", "k8s/kubectl", "k8s/kube-apiserver", "k8s/etcd", "k8s/kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(root, "bin", bin)); err != nil {
			t.Fatalf("bin/%s is missing: run `make test-packaging`, which builds it", bin)
		}
	}
	dir, err := os.MkdirTemp("", "agentgroup-packaging-")
	if err != nil {
		t.Fatal(err)
	}
	m := &localManager{}
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(dir)
			return
		}
		if m.manager != nil {
			t.Logf("the manager's log ends:\n%s", lastLines(m.manager.Log, 40))
		}
		t.Logf("logs kept in %s", dir)
	})
	if m.env, err = localenv.Start(root, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.env.Stop)

	if m.sim, err = localenv.FreeAddr(); err != nil {
		t.Fatal(err)
	}
	args := []string{"--listen", m.sim, "--agents", "1000-1099"}
	for id, token := range users {
		args = append(args, "--user", id+":"+token)
	}
	if _, err := m.env.Run("groupapi-sim", m.env.Bin("groupapi-sim"), args...); err != nil {
		t.Fatal(err)
	}
	if err := localenv.WaitTCP(m.sim, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	probe, err := localenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if m.metrics, err = localenv.FreeAddr(); err != nil {
		t.Fatal(err)
	}
	// Admin credentials: RBAC is the installer's tests' concern. The
	// simulator is plain http on 127.0.0.1.
	if m.manager, err = m.env.Run("manager", m.env.Bin("manager"),
		"--metrics-bind-address="+m.metrics, "--metrics-secure=false", "--health-probe-bind-address="+probe,
		"--leader-elect=false", "--allow-insecure-loopback", "--request-timeout=5s"); err != nil {
		t.Fatal(err)
	}
	if err := localenv.WaitTCP(m.metrics, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	return m
}

// kubectl runs bin/k8s/kubectl against the control plane.
func (m *localManager) kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := m.env.Kubectl(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// simDo sends a request to the simulator's admin API and fails the test
// on an error answer.
func (m *localManager) simDo(t *testing.T, method, path, body string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+m.sim+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
}

// scrapedSeries is one series of a scrape: its labels, __name__ included,
// and its value.
type scrapedSeries struct {
	labels map[string]string
	value  float64
}

// scrape reads the manager's /metrics as the series Prometheus would
// store: a histogram is its _bucket (with le), _sum and _count series.
func (m *localManager) scrape() ([]scrapedSeries, error) {
	resp, err := http.Get("http://" + m.metrics + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse /metrics: %w", err)
	}
	var out []scrapedSeries
	for name, f := range families {
		for _, metric := range f.GetMetric() {
			series := func(suffix string, v float64, extra ...string) {
				s := scrapedSeries{labels: map[string]string{model.MetricNameLabel: name + suffix}, value: v}
				for _, l := range metric.GetLabel() {
					s.labels[l.GetName()] = l.GetValue()
				}
				for i := 0; i+1 < len(extra); i += 2 {
					s.labels[extra[i]] = extra[i+1]
				}
				out = append(out, s)
			}
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := metric.GetHistogram()
				inf := false
				for _, b := range h.GetBucket() {
					inf = inf || math.IsInf(b.GetUpperBound(), 1)
					series("_bucket", float64(b.GetCumulativeCount()), model.BucketLabel, leValue(b.GetUpperBound()))
				}
				if !inf {
					series("_bucket", float64(h.GetSampleCount()), model.BucketLabel, "+Inf")
				}
				series("_sum", h.GetSampleSum())
				series("_count", float64(h.GetSampleCount()))
			case dto.MetricType_SUMMARY:
				sm := metric.GetSummary()
				for _, q := range sm.GetQuantile() {
					series("", q.GetValue(), model.QuantileLabel, strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64))
				}
				series("_sum", sm.GetSampleSum())
				series("_count", float64(sm.GetSampleCount()))
			case dto.MetricType_COUNTER:
				series("", metric.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				series("", metric.GetGauge().GetValue())
			default:
				series("", metric.GetUntyped().GetValue())
			}
		}
	}
	return out, nil
}

// leValue writes a bucket's bound as Prometheus does ("+Inf", "0.01").
func leValue(bound float64) string {
	if math.IsInf(bound, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(bound, 'g', -1, 64)
}

// seriesTotal adds up the values of the series named name that carry lbls.
func seriesTotal(samples []scrapedSeries, name string, lbls map[string]string) float64 {
	var sum float64
	for _, s := range samples {
		if s.labels[model.MetricNameLabel] != name {
			continue
		}
		ok := true
		for k, v := range lbls {
			ok = ok && s.labels[k] == v
		}
		if ok {
			sum += s.value
		}
	}
	return sum
}

// pollUntil retries f every half second until it succeeds or timeout
// passes, then fails the test with its last error.
func pollUntil(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v: %v", what, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// lastLines is the last n lines of a log file.
func lastLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
