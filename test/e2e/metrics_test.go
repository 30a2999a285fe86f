//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// metricsReaderRole is the shipped ClusterRole a scraper is bound to
// (config/rbac/metrics_reader_role.yaml under config/default's prefix).
const metricsReaderRole = "agentgroup-metrics-reader"

// TestSecureMetrics: a manager running as the shipped ServiceAccount, with
// only the shipped RBAC, serves /metrics over HTTPS to Kubernetes users
// allowed to read them: 401 without a token, 403 with the token of a
// ServiceAccount not bound to the shipped metrics-reader ClusterRole, 200
// with the token of one bound to it (tokens from the TokenRequest API).
// pprof is not on that address but on its own loopback one, and a
// non-loopback --pprof-bind-address stops the manager at start.
func TestSecureMetrics(t *testing.T) {
	const ns = "metrics-e2e"
	kubectl(t, "", "get", "clusterrole", metricsReaderRole)
	kubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: scraper, namespace: %[1]s}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: stranger, namespace: %[1]s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-metrics-scraper}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %[2]s}
subjects:
- {kind: ServiceAccount, name: scraper, namespace: %[1]s}
`, ns, metricsReaderRole), "apply", "-f", "-")
	defer kubectl(t, "", "delete", "clusterrolebinding", "e2e-metrics-scraper")
	defer kubectl(t, "", "delete", "namespace", ns, "--timeout=90s")
	scraper, err := env.ServiceAccountToken(ns, "scraper")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := env.ServiceAccountToken(ns, "stranger")
	if err != nil {
		t.Fatal(err)
	}

	addr, err := localenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	pprofAddr, err := localenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	mgr := startManagerNamed(t, "manager-metrics", "--metrics-bind-address="+addr, "--pprof-bind-address="+pprofAddr)
	defer mgr.Stop()
	if err := localenv.WaitTCP(addr, 60*time.Second); err != nil {
		t.Fatalf("%v; the manager's log ends:\n%s", err, tail(mgr.Log))
	}

	// The certificate is the self-signed one the shipped Deployment
	// serves; config/prometheus's ServiceMonitor skips its verification
	// the same way.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(url, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	metrics := "https://" + addr + "/metrics"
	for _, c := range []struct {
		who, token string
		want       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"ServiceAccount " + ns + "/stranger (not bound to " + metricsReaderRole + ")", stranger, http.StatusForbidden},
		{"ServiceAccount " + ns + "/scraper (bound to " + metricsReaderRole + ")", scraper, http.StatusOK},
	} {
		if code, body := get(metrics, c.token); code != c.want {
			t.Errorf("GET /metrics with %s: HTTP %d %q, want %d; the manager's log ends:\n%s", c.who, code, firstLine(body), c.want, tail(mgr.Log))
		}
	}
	eventually(t, 30*time.Second, func() error {
		if _, body := get(metrics, scraper); !strings.Contains(body, "controller_runtime_reconcile_total{") {
			return fmt.Errorf("/metrics for the scraper has no controller_runtime_reconcile_total: %q", firstLine(body))
		}
		return nil
	})
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("/metrics answered 200 over plain HTTP, want HTTPS only")
		}
	}

	// pprof: not beside the metrics, even for the scraper; on its own
	// loopback address.
	if code, _ := get("https://"+addr+"/debug/pprof/", scraper); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ on the metrics address: HTTP %d, want 404", code)
	}
	if code, body := get("http://"+pprofAddr+"/debug/pprof/cmdline", ""); code != http.StatusOK || !strings.Contains(body, "--pprof-bind-address") {
		t.Errorf("GET /debug/pprof/cmdline on --pprof-bind-address: HTTP %d %q, want 200 and the command line", code, firstLine(body))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.Bin("manager"), "--pprof-bind-address=:6060", "--metrics-bind-address=0", "--health-probe-bind-address=0")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+managerKubeconfig)
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil || !strings.Contains(string(out), "not a loopback address") {
		t.Errorf("manager --pprof-bind-address=:6060: %v\n%s\nwant it to stop at once, saying the address is not a loopback address", err, out)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
