package packagingtest

import (
	"os"
	"path/filepath"
	"testing"
)

// ThirdPartyCRDs is bin/crds, where `make thirdparty-crds` writes the CRDs
// of the other projects' kinds that the shipped manifests and docs use:
// Prometheus Operator's ServiceMonitor and PrometheusRule, Argo CD's
// Application and AppProject, Flux's HelmRelease, Kustomization,
// HelmRepository, OCIRepository and GitRepository. Install them with
// StartControlPlaneWithCRDs to server-side dry-run such manifests.
func ThirdPartyCRDs(t testing.TB) string {
	t.Helper()
	dir := Bin("crds")
	// SOURCES is written last, after the CRDs.
	if _, err := os.Stat(filepath.Join(dir, "SOURCES")); err != nil {
		t.Fatalf("%s is missing: run `make thirdparty-crds` (make test-packaging does)", dir)
	}
	return dir
}
