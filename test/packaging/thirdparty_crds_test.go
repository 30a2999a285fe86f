package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// dryRunServer is a kube-apiserver and etcd (envtest) with the project's CRDs
// and the other projects' CRDs of bin/crds (`make thirdparty-crds`)
// installed and served, for server-side dry-runs of manifests that use
// kinds such as ServiceMonitor, Application or HelmRelease.
type dryRunServer struct {
	root, kubeconfig string
	env              *envtest.Environment
}

// startDryRunServer starts one, stopped when the test ends.
func startDryRunServer(t *testing.T) *dryRunServer {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "crds", "SOURCES")); err != nil {
		t.Fatal("bin/crds is missing: run `make test-packaging` (or `make thirdparty-crds`)")
	}
	a := &dryRunServer{root: root, env: &envtest.Environment{
		BinaryAssetsDirectory: filepath.Join(root, "bin", "k8s"),
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases"), filepath.Join(root, "bin", "crds")},
		ErrorIfCRDPathMissing: true,
	}}
	// Start installs the CRDs and waits until the API server serves them.
	cfg, err := a.env.Start()
	if err != nil {
		_ = a.env.Stop()
		t.Fatalf("start kube-apiserver with the CRDs of config/crd/bases and bin/crds: %v", err)
	}
	t.Cleanup(func() { _ = a.env.Stop() })
	a.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*localenv.Kubeconfig(cfg), a.kubeconfig); err != nil {
		t.Fatal(err)
	}
	return a
}

// kubectl runs bin/k8s/kubectl against the API server, in the repository.
func (a *dryRunServer) kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(a.root, "bin", "k8s", "kubectl"), append([]string{"--kubeconfig", a.kubeconfig}, args...)...)
	cmd.Dir = a.root
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// TestThirdPartyCRDsInstall: every CRD of bin/crds installs on a real API
// server, and the kinds the shipped manifests and docs use are served at
// the versions they use.
func TestThirdPartyCRDsInstall(t *testing.T) {
	a := startDryRunServer(t)

	files, err := filepath.Glob(filepath.Join(a.root, "bin", "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var installed []string
	for _, crd := range a.env.CRDs {
		installed = append(installed, crd.Name)
	}
	for _, f := range files {
		// <group>_<plural>.yaml, as controller-gen names them.
		group, plural, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".yaml"), "_")
		if !slices.Contains(installed, plural+"."+group) {
			t.Errorf("%s: no CRD %s.%s was installed from it (installed: %v)", f, plural, group, installed)
		}
	}

	dc, err := discovery.NewDiscoveryClientForConfig(a.env.Config)
	if err != nil {
		t.Fatal(err)
	}
	for gv, kinds := range map[string][]string{
		"monitoring.coreos.com/v1":          {"ServiceMonitor", "PrometheusRule"},
		"argoproj.io/v1alpha1":              {"Application", "AppProject"},
		"helm.toolkit.fluxcd.io/v2":         {"HelmRelease"},
		"source.toolkit.fluxcd.io/v1":       {"HelmRepository", "OCIRepository", "GitRepository"},
		"kustomize.toolkit.fluxcd.io/v1":    {"Kustomization"},
		"deepcall.agentgroups.dev/v1alpha1": {"AgentGroup", "Account", "ClusterAccount"},
	} {
		list, err := dc.ServerResourcesForGroupVersion(gv)
		if err != nil {
			t.Errorf("%s: %v", gv, err)
			continue
		}
		var served []string
		for _, r := range list.APIResources {
			served = append(served, r.Kind)
		}
		for _, k := range kinds {
			if !slices.Contains(served, k) {
				t.Errorf("%s %s is not served (served: %v)", gv, k, served)
			}
		}
	}
}
