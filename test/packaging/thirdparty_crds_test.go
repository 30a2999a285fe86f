package packaging

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentgroups/agentgroup-operator/test/packaging/internal/packagingtest"
)

// TestThirdPartyCRDsInstall: every CRD `make thirdparty-crds` writes
// installs on a real API server, and the kinds the shipped manifests and
// docs use are served at the versions they use.
func TestThirdPartyCRDsInstall(t *testing.T) {
	dir := packagingtest.ThirdPartyCRDs(t)
	cp := packagingtest.StartControlPlaneWithCRDs(t, dir)

	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := cp.Kubectl("", "get", "crd", "-o", "jsonpath={.items[*].metadata.name}")
	if err != nil {
		t.Fatal(err)
	}
	installed := strings.Fields(out)
	for _, f := range files {
		// <group>_<plural>.yaml, as controller-gen names them.
		group, plural, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".yaml"), "_")
		if !slices.Contains(installed, plural+"."+group) {
			t.Errorf("%s: no CRD %s.%s was installed from it (installed: %v)", f, plural, group, installed)
		}
	}

	for gv, kinds := range map[string][]string{
		"monitoring.coreos.com/v1":       {"ServiceMonitor", "PrometheusRule"},
		"argoproj.io/v1alpha1":           {"Application", "AppProject"},
		"helm.toolkit.fluxcd.io/v2":      {"HelmRelease"},
		"source.toolkit.fluxcd.io/v1":    {"HelmRepository", "OCIRepository", "GitRepository"},
		"kustomize.toolkit.fluxcd.io/v1": {"Kustomization"},
	} {
		raw, err := cp.Kubectl("", "get", "--raw", "/apis/"+gv)
		if err != nil {
			t.Errorf("%s is not served: %v", gv, err)
			continue
		}
		var list metav1.APIResourceList
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			t.Fatalf("%s: %v", gv, err)
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
