//go:build e2e

package e2e

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// TestHelmChartInstall: the Helm chart, rendered by `helm template` as a
// release in a namespace of its own (its CRDs off: the installer put them
// there already, and a second owner would fight over them) and applied
// server-side, gives its ServiceAccount all the manager needs. A manager
// run as that ServiceAccount (a TokenRequest token), with the chart
// Deployment's own arguments, takes the Lease in the release's namespace,
// brings an Account and an AgentGroup to Ready and the group to the remote
// user, deletes it remotely with its AgentGroup, and serves /metrics to a
// scraper bound to the chart's metrics-reader ClusterRole (its token
// reviewed with the chart's metrics-auth grant); RBAC refuses it nothing.
func TestHelmChartInstall(t *testing.T) {
	const (
		release, releaseNS = "agentgroup-operator", "agentgroup-helm"
		ns, user, group    = "helm-install", "20012", "Helm Desk"
		// The chart names its objects after the release (which says
		// agentgroup-operator already) and the leader-election Lease is
		// the manager's.
		sa, metricsReader = release, release + "-metrics-reader"
		lease             = "agentgroup-operator.deepcall.agentgroups.dev"
	)
	kubectl(t, "", "create", "namespace", releaseNS)
	rendered := helmTemplate(t, release, releaseNS, "--set", "crds.install=false")
	kubectl(t, rendered, "apply", "--server-side", "--field-manager=helm", "-f", "-")
	defer kubectl(t, "", "delete", "namespace", releaseNS, "--timeout=90s")
	defer kubectl(t, rendered, "delete", "--ignore-not-found", "-f", "-")

	kubeconfig := filepath.Join(env.Dir, "helm-"+sa+".kubeconfig")
	if err := env.ServiceAccountKubeconfig(releaseNS, sa, kubeconfig); err != nil {
		t.Fatal(err)
	}
	metricsAddr, err := localenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	probeAddr, err := localenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// The Deployment's arguments, then what differs outside a Pod: the
	// Lease's namespace (in a Pod, its own) and loopback addresses.
	args := append(deploymentArgs(t, rendered), "--leader-election-namespace="+releaseNS,
		"--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+probeAddr)
	mgr := startManagerAs(t, "manager-helm", kubeconfig, args...)
	defer mgr.Stop()

	account(t, ns, user)
	defer kubectl(t, "", "delete", "namespace", ns, "--timeout=90s")
	kubectl(t, groupYAML(ns, "desk", group, []string{"1001", "1002"}, []string{"1002"}), "apply", "-f", "-")
	if _, err := env.Kubectl("", "wait", "-n", ns, "--for=condition=Ready", "agentgroup/desk", "account/default", "--timeout=90s"); err != nil {
		t.Fatalf("%v; the manager's log ends:\n%s", err, tail(mgr.Log))
	}
	groups, _ := remote(t)
	if len(groups[user]) != 1 || groups[user][0].Name != group || !slices.Equal(groups[user][0].Members, []string{"1001", "1002"}) {
		t.Errorf("remote groups of %s: %+v, want %q with members 1001 and 1002", user, groups[user], group)
	}
	if holder, _ := env.Kubectl("", "get", "lease", "-n", releaseNS, lease, "-o", "jsonpath={.spec.holderIdentity}"); holder == "" {
		t.Errorf("Lease %s/%s has no holder: leader election in the release's namespace failed", releaseNS, lease)
	}

	// A scraper bound to the chart's metrics-reader reads /metrics: the
	// manager reviewed its token as the chart's ServiceAccount.
	kubectl(t, "", "-n", releaseNS, "create", "serviceaccount", "scraper")
	kubectl(t, "", "create", "clusterrolebinding", "e2e-helm-scraper", "--clusterrole="+metricsReader, "--serviceaccount="+releaseNS+":scraper")
	defer kubectl(t, "", "delete", "clusterrolebinding", "e2e-helm-scraper")
	token, err := env.ServiceAccountToken(releaseNS, "scraper")
	if err != nil {
		t.Fatal(err)
	}
	if err := localenv.WaitTCP(metricsAddr, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// The manager's own self-signed certificate, as the chart's
	// ServiceMonitor accepts it by default.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+metricsAddr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := client.Do(req); err != nil {
		t.Errorf("GET /metrics: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /metrics as a scraper bound to %s: HTTP %d, want 200; the manager's log ends:\n%s", metricsReader, resp.StatusCode, tail(mgr.Log))
		}
	}

	kubectl(t, "", "delete", "-n", ns, "agentgroup", "desk", "--timeout=60s")
	if groups, _ := remote(t); len(groups[user]) != 0 {
		t.Errorf("remote groups of %s left after its AgentGroup was deleted: %+v", user, groups[user])
	}
	b, err := os.ReadFile(mgr.Log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rbacDenied.MatchString(line) {
			t.Errorf("RBAC refused the chart's ServiceAccount: %.600s", line)
		}
	}
}

// helmTemplate renders the chart as release in namespace with the pinned
// Helm (HELM, which make test-e2e sets, or the one bin/helm-v* there is).
func helmTemplate(t *testing.T, release, namespace string, flags ...string) string {
	t.Helper()
	helm := os.Getenv("HELM")
	if helm == "" {
		found, _ := filepath.Glob(env.Bin("helm-v*"))
		if len(found) != 1 {
			t.Fatalf("want one bin/helm-v*, found %v: run `make test-e2e` (or make helm)", found)
		}
		helm = found[0]
	}
	home := filepath.Join(env.Dir, "helm")
	args := append([]string{"template", release, filepath.Join(env.Root, "charts", "agentgroup-operator"), "--namespace", namespace}, flags...)
	cmd := exec.Command(helm, args...)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// deploymentArgs are the manager container's arguments in the rendered
// chart's Deployment.
func deploymentArgs(t *testing.T, rendered string) []string {
	t.Helper()
	for _, doc := range strings.Split(rendered, "\n---\n") {
		var d struct {
			Kind string
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Name string
							Args []string
						}
					}
				}
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		if d.Kind == "Deployment" {
			for _, c := range d.Spec.Template.Spec.Containers {
				if c.Name == "manager" {
					return c.Args
				}
			}
		}
	}
	t.Fatal("the rendered chart has no Deployment with a manager container")
	return nil
}
