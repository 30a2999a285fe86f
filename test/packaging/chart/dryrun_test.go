package chart

import (
	"testing"

	"github.com/agentgroups/agentgroup-operator/test/packaging/internal/packagingtest"
)

// Each case, rendered, passes a server-side dry-run of `kubectl apply
// --server-side` on a real kube-apiserver: the API server validates every
// object (schemas, RBAC escalation checks, the CRDs' own structural
// checks) as an install would.
func TestChartAppliesServerSide(t *testing.T) {
	// With the Prometheus Operator's CRDs, for the ServiceMonitor and the
	// PrometheusRule.
	cp := packagingtest.StartControlPlaneWithCRDs(t, packagingtest.ThirdPartyCRDs(t))
	// The release's namespace and the watched ones exist before an install.
	for _, ns := range []string{packagingtest.Namespace, "team-a", "team-b"} {
		if _, err := cp.Kubectl("", "create", "namespace", ns); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			rendered := render(t, name)
			if out, err := cp.Kubectl(rendered, "apply", "--server-side", "--dry-run=server", "--field-manager=helm", "-f", "-"); err != nil {
				t.Errorf("%v", err)
			} else {
				t.Logf("%s", out)
			}
		})
	}
}
