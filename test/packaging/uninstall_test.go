package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentgroups/agentgroup-operator/test/packaging/internal/packagingtest"
)

// TestUninstallStopsBeforeDeletingRemoteGroups: a person runs `make
// uninstall` while AgentGroups still exist. Removing the CRDs deletes
// them all, and with the operator running, each one whose deletion policy
// is Delete takes its remote group with it: the target stops, naming
// those, until they are orphaned or the person says YES=1.
func TestUninstallStopsBeforeDeletingRemoteGroups(t *testing.T) {
	cp := packagingtest.StartControlPlane(t)
	apply := func(manifest string) {
		t.Helper()
		if out, err := cp.Kubectl(manifest, "apply", "--server-side", "-f", "-"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	apply(packagingtest.Kustomize(t, filepath.Join("config", "crd")))
	if out, err := cp.Kubectl("", "wait", "--for=condition=Established", "crd/agentgroups.deepcall.agentgroups.dev"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	apply(`apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata: {name: unsaid, namespace: team-a}
spec: {groupName: Unsaid}
---
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata: {name: kept, namespace: team-a}
spec: {groupName: Kept, deletionPolicy: Orphan}
---
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata: {name: watched, namespace: team-a}
spec: {groupName: Watched, managementPolicy: Observe}
`)
	out, err := makeUninstall(t, cp)
	if err == nil {
		t.Fatalf("make uninstall went ahead with an AgentGroup that deletes its remote group:\n%s", out)
	}
	if !strings.Contains(out, "team-a/unsaid") || strings.Contains(out, "team-a/kept") || strings.Contains(out, "team-a/watched") {
		t.Errorf("the warning should name team-a/unsaid only:\n%s", out)
	}
	if _, err := cp.Kubectl("", "get", "crd", "agentgroups.deepcall.agentgroups.dev"); err != nil {
		t.Fatalf("the CRD went although make uninstall stopped: %v", err)
	}

	apply(`apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata: {name: unsaid, namespace: team-a}
spec: {groupName: Unsaid, deletionPolicy: Orphan}
`)
	if out, err := makeUninstall(t, cp); err != nil {
		t.Fatalf("make uninstall with every AgentGroup orphaned: %v\n%s", err, out)
	}
	if _, err := cp.Kubectl("", "get", "crd", "agentgroups.deepcall.agentgroups.dev"); err == nil {
		t.Error("the AgentGroup CRD is still there after make uninstall")
	}
}

// makeUninstall runs `make uninstall` against env, as a person would with
// their kubeconfig and without YES=1.
func makeUninstall(t *testing.T, cp *packagingtest.ControlPlane) (string, error) {
	t.Helper()
	// -o manifests: regenerating config/ and the chart's copy of it here
	// would pull files from under the tests running beside this one.
	cmd := exec.Command("make", "--no-print-directory", "-o", "manifests", "uninstall", "KUBECTL="+packagingtest.Kubectl(t))
	cmd.Dir = packagingtest.Root()
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cp.Kubeconfig, "YES=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
