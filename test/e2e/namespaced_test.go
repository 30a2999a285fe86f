//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNamespacedInstall: config/namespaced, applied as shipped but for a
// name prefix of its own (so that its ServiceAccount is not the one
// config/default binds cluster-wide), gives its manager a Role in team-a
// and team-b, a leader-election Role in agentgroup-system and, cluster-wide,
// only the metrics token reviews. A manager running as that
// ServiceAccount, with --watch-namespaces=team-a and leader election in
// agentgroup-system (where it watches nothing), brings team-a's Account and
// AgentGroup to Ready; team-b's, applied at the same moment on another
// remote user, stay untouched although the Role there would allow it: no
// finalizer, no status, no remote group, and the manager's log never
// names team-b. No other manager runs meanwhile (the stories run one at a
// time and each stops its managers).
func TestNamespacedInstall(t *testing.T) {
	const (
		prefix               = "nsinstall-"
		watched, unwatched   = "team-a", "team-b"
		watchedU, unwatchedU = "20008", "20009"
		watchedG, unwatchedG = "Team A Desk", "Team B Desk"
	)
	// The overlay's Roles live in team-a and team-b: they exist first.
	account(t, watched, watchedU)
	account(t, unwatched, unwatchedU)
	applyPrefixed(t, "config/namespaced", prefix)
	sa := prefix + managerSA
	user := "system:serviceaccount:" + installNS + ":" + sa

	// The ServiceAccount may do what the operator does in team-a and
	// team-b and in nothing else.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "agentgroups.deepcall.agentgroups.dev", "-n", watched}, "yes"},
		{[]string{"patch", "secrets", "-n", unwatched}, "yes"},
		{[]string{"create", "leases.coordination.k8s.io", "-n", installNS}, "yes"},
		{[]string{"create", "tokenreviews.authentication.k8s.io"}, "yes"},
		{[]string{"list", "agentgroups.deepcall.agentgroups.dev", "--all-namespaces"}, "no"},
		{[]string{"list", "secrets", "-n", "default"}, "no"},
		{[]string{"list", "accounts.deepcall.agentgroups.dev", "-n", installNS}, "no"},
	} {
		// The answer is the last line, after any warning.
		out, _ := env.Kubectl("", append([]string{"auth", "can-i", "--as=" + user}, c.args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if got := lines[len(lines)-1]; got != c.want {
			t.Errorf("%s: can %s? %q, want %q", sa, strings.Join(c.args, " "), got, c.want)
		}
	}

	kubeconfig := filepath.Join(env.Dir, sa+".kubeconfig")
	if err := env.ServiceAccountKubeconfig(installNS, sa, kubeconfig); err != nil {
		t.Fatal(err)
	}
	mgr := startManagerAs(t, "manager-namespaced", kubeconfig, "--watch-namespaces="+watched,
		"--leader-elect", "--leader-election-namespace="+installNS)
	defer mgr.Stop()

	kubectl(t, groupYAML(watched, "desk", watchedG, []string{"1001", "1002"}, []string{"1001"})+"---\n"+
		groupYAML(unwatched, "desk", unwatchedG, []string{"1003"}, nil), "apply", "-f", "-")
	if _, err := env.Kubectl("", "wait", "-n", watched, "--for=condition=Ready", "agentgroup/desk", "account/default", "--timeout=90s"); err != nil {
		t.Fatalf("%v; the manager's log ends:\n%s", err, tail(mgr.Log))
	}
	// team-b's objects were there as long as team-a's: a manager that saw
	// them would have acted by now. Give it a few more seconds.
	time.Sleep(5 * time.Second)

	for _, kind := range []string{"agentgroup/desk", "account/default", "secret/creds"} {
		var obj struct {
			Metadata struct{ Finalizers []string }
			Status   struct {
				GroupID    string `json:"groupId"`
				Conditions []any
			}
		}
		if err := json.Unmarshal([]byte(kubectl(t, "", "get", "-n", unwatched, kind, "-o", "json")), &obj); err != nil {
			t.Fatal(err)
		}
		if len(obj.Metadata.Finalizers) > 0 || obj.Status.GroupID != "" || len(obj.Status.Conditions) > 0 {
			t.Errorf("%s/%s was touched: finalizers %v, groupId %q, conditions %v", unwatched, kind, obj.Metadata.Finalizers, obj.Status.GroupID, obj.Status.Conditions)
		}
	}
	groups, _ := remote(t)
	if n := len(groups[unwatchedU]); n != 0 {
		t.Errorf("%s's remote user has %d groups, want none: %+v", unwatched, n, groups[unwatchedU])
	}
	if n := len(groups[watchedU]); n != 1 || groups[watchedU][0].Name != watchedG {
		t.Errorf("%s's remote user has groups %+v, want %q alone", watched, groups[watchedU], watchedG)
	}
	if b, err := os.ReadFile(mgr.Log); err != nil || strings.Contains(string(b), unwatched) {
		t.Errorf("the namespaced manager's log names %s (%v):\n%s", unwatched, err, tail(mgr.Log))
	}

	// The AgentGroup goes before its namespace: deleting the namespace at
	// once would delete the Role with it, and the manager could not remove
	// its finalizers (docs/security.md).
	kubectl(t, "", "delete", "-n", watched, "agentgroup", "desk", "--timeout=60s")
	if groups, _ := remote(t); len(groups[watchedU]) != 0 {
		t.Errorf("remote groups of %s left after its AgentGroup was deleted: %+v", watched, groups[watchedU])
	}
	kubectl(t, "", "delete", "-n", watched, "account", "default", "--timeout=60s")
	kubectl(t, "", "delete", "namespace", watched, unwatched, "--timeout=90s")
}

// applyPrefixed applies the kustomization dir (relative to the
// repository) with namePrefix prefix in front of its own names, through a
// kustomization in a temporary directory that references it.
func applyPrefixed(t *testing.T, dir, prefix string) {
	t.Helper()
	tmp := filepath.Join(env.Dir, strings.TrimSuffix(prefix, "-"))
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(tmp, filepath.Join(env.Root, dir))
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf("namePrefix: %s\nresources:\n- %s\n", prefix, rel)
	if err := os.WriteFile(filepath.Join(tmp, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := env.Apply(tmp); err != nil {
		t.Fatal(err)
	}
}
