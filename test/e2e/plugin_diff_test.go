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

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// diffDocument is the part of `kubectl agentgroup diff -o json` the story
// reads.
type diffDocument struct {
	Groups []struct {
		Namespace, Name, Result, GroupID, Reason, Message string
		Actions                                           []struct{ Call, Name string }
		Drift                                             []string
	}
	Summary map[string]int
	Ignored int
}

// TestPluginDiff: a pull request against a converged namespace renames one
// AgentGroup, changes another's members, leaves one as it is and adds one.
// `kubectl agentgroup diff -f DIR` prints exactly those and exits 2,
// without a write call; once the directory is applied and the operator
// converged, it exits 0. A name taken by hand is the NameConflict the
// operator reports, in the same words; a ClusterAccount not lent to the
// namespace is its AccountNotAllowed, in the same words; a group name the
// CRD refuses is an error, not a create.
func TestPluginDiff(t *testing.T) {
	const ns, user = "plugin-diff", "20014"
	mgr := startManager(t)
	defer mgr.Stop()
	account(t, ns, user)
	kubectl(t, strings.Join([]string{
		groupYAML(ns, "diff-renamed", "Diff Renamed", []string{"1001"}, []string{"1001"}),
		groupYAML(ns, "diff-members", "Diff Members", []string{"1001", "1002"}, []string{"1001"}),
		groupYAML(ns, "diff-same", "Diff Same", []string{"1003"}, nil),
		groupYAML(ns, "diff-elsewhere", "Diff Elsewhere", []string{"1004"}, nil),
	}, "---\n"), "apply", "-f", "-")
	converged := func(want int) {
		t.Helper()
		eventually(t, 45*time.Second, func() error {
			groups := agentGroups(t, ns)
			for _, g := range groups {
				if !g.ready() {
					return fmt.Errorf("%s not converged: %+v", g.Metadata.Name, g.Status)
				}
			}
			if len(groups) != want {
				return fmt.Errorf("%d AgentGroups, want %d", len(groups), want)
			}
			return nil
		})
	}
	converged(4)

	// The pull request: one file per AgentGroup, and a ConfigMap the diff
	// ignores.
	dir := t.TempDir()
	for file, manifest := range map[string]string{
		"renamed.yaml":  groupYAML(ns, "diff-renamed", "Diff Renamed Again", []string{"1001"}, []string{"1001"}),
		"members.yaml":  groupYAML(ns, "diff-members", "Diff Members", []string{"1001", "1003"}, []string{"1001"}),
		"same.yaml":     groupYAML(ns, "diff-same", "Diff Same", []string{"1003"}, nil),
		"fresh.yaml":    groupYAML(ns, "diff-fresh", "Diff Fresh", []string{"1005", "1006"}, []string{"1005"}),
		"settings.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: diff-settings, namespace: %s}\ndata: {team: support}\n", ns),
	} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	before := simCalls(t)
	out, errOut, code := agentgroup(t, "", "diff", "-f", dir)
	if code != 2 {
		t.Errorf("diff of a pull request with changes: exit %d, want 2", code)
	}
	for _, want := range []string{
		`change    AgentGroup plugin-diff/diff-renamed: remote group`,
		`update: rename "Diff Renamed" to "Diff Renamed Again"`,
		`change    AgentGroup plugin-diff/diff-members: remote group`,
		`submitAssignGroupToAgent: members +1 -1, receivers +0 -0`,
		`agent 1002 is a member remotely but not in spec`,
		`agent 1003 is in spec but not a member remotely`,
		`create    AgentGroup plugin-diff/diff-fresh: a new remote group "Diff Fresh"`,
		`add: create group "Diff Fresh"`,
		"1 to create, 2 to change, 1 unchanged\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff output lacks %q", want)
		}
	}
	for _, unsaid := range []string{"diff-same", "diff-elsewhere", "Diff Members\" to", "update: enable"} {
		if strings.Contains(out, unsaid) {
			t.Errorf("diff output names %q, which does not change", unsaid)
		}
	}
	if !strings.Contains(errOut, "1 object that is not an AgentGroup was ignored") {
		t.Errorf("stderr does not count the ConfigMap: %q", errOut)
	}

	// A pull request check runs it with the rights the docs list, and
	// sees the same.
	ciOut, ciErr, code := agentgroup(t, "", "--kubeconfig", ciKubeconfig(t, ns), "diff", "-f", dir)
	if code != 2 || ciOut != out || strings.Contains(ciErr, "note:") {
		t.Errorf("diff with the rights of docs/kubectl-agentgroup/diff.md: exit %d, want 2 and the output above, without a note", code)
	}

	jsonOut, _, code := agentgroup(t, "", "diff", "-f", dir, "-o", "json")
	var doc diffDocument
	if err := json.Unmarshal([]byte(jsonOut), &doc); err != nil || code != 2 {
		t.Fatalf("diff -o json: exit %d, %v", code, err)
	}
	results := map[string]string{}
	for _, g := range doc.Groups {
		results[g.Name] = g.Result
	}
	if want := map[string]string{"diff-renamed": "Change", "diff-members": "Change", "diff-same": "Unchanged", "diff-fresh": "Create"}; fmt.Sprint(results) != fmt.Sprint(want) {
		t.Errorf("diff -o json results %v, want %v", results, want)
	}
	if want := map[string]int{"create": 1, "change": 2, "unchanged": 1}; fmt.Sprint(nonZero(doc.Summary)) != fmt.Sprint(want) || doc.Ignored != 1 {
		t.Errorf("diff -o json summary %v, ignored %d; want %v, 1", doc.Summary, doc.Ignored, want)
	}
	after := simCalls(t)
	if writeCalls(after) != writeCalls(before) {
		t.Errorf("the diffs made write calls: %v then %v", before, after)
	}
	if after["list"] < before["list"]+2 || after["getGroupAgentRelation"] < before["getGroupAgentRelation"]+6 {
		t.Errorf("the diffs should have listed the account and read the 3 bound groups, twice: %v then %v", before, after)
	}

	// Merged: the operator converges, and the same diff has nothing to say.
	kubectl(t, "", "apply", "-f", dir)
	converged(5)
	out, _, code = agentgroup(t, "", "diff", "-f", dir)
	if code != 0 || !strings.HasSuffix(out, "0 to create, 0 to change, 4 unchanged\n") {
		t.Errorf("diff after convergence: exit %d, want 0 and all unchanged", code)
	}

	// A group made by hand holds a name a new manifest wants: the diff
	// says NameConflict in the operator's words, and exits 1 (see
	// docs/kubectl-agentgroup/diff.md: a stall fails the check).
	var byHand sim.Group
	simPostJSON(t, "/_sim/users/"+user+"/groups", `{"name":"Diff Made By Hand"}`, &byHand)
	clash := groupYAML(ns, "diff-clash", "Diff Made By Hand", []string{"1007"}, nil)
	out, _, code = agentgroup(t, clash, "diff", "-f", "-")
	if code != 1 || !strings.Contains(out, "stall     AgentGroup plugin-diff/diff-clash: NameConflict") || !strings.HasSuffix(out, "0 to create, 0 to change, 0 unchanged, 1 would stall\n") {
		t.Errorf("diff of a name taken by hand: exit %d, want 1 and a NameConflict", code)
	}
	kubectl(t, clash, "apply", "-f", "-")
	waitReasons(t, map[string]string{ns + "/diff-clash": "NameConflict"})
	message := readyMessage(t, ns, "diff-clash")
	if want := fmt.Sprintf("remote group %d %q already exists", byHand.ID, byHand.Name); !strings.Contains(message, want) || !strings.Contains(out, "\n  "+message+"\n") {
		t.Errorf("the operator says %q; the diff said:\n%s", message, out)
	}

	// A manifest the API server would refuse is an error naming the rule,
	// not a create.
	padded := groupYAML(ns, "diff-padded", "Diff Padded ", []string{"1008"}, nil)
	out, errOut, code = agentgroup(t, padded, "diff", "-f", "-")
	if code != 1 || out != "" || !strings.Contains(errOut, "AgentGroup diff-padded: spec.groupName") {
		t.Errorf("diff of a group name ending in a space: exit %d, stdout %q; want exit 1, nothing on stdout and an error naming spec.groupName's rule", code, out)
	}
	if _, err := env.Kubectl(padded, "apply", "--dry-run=server", "-f", "-"); err == nil || !strings.Contains(err.Error(), "groupName must not start or end with a space") {
		t.Errorf("the API server should refuse what the diff refused: %v", err)
	}

	// A ClusterAccount that does not lend itself to the namespace: the
	// diff says the operator's AccountNotAllowed in its words; once the
	// platform team labels the namespace, the operator creates the group
	// and the diff has nothing to say.
	const lent = "plugin-diff-lent"
	t.Cleanup(func() { _, _ = env.Kubectl("", "delete", "clusteraccount", lent, "--ignore-not-found", "--wait=false") })
	kubectl(t, fmt.Sprintf(`apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: ClusterAccount
metadata: {name: %s}
spec:
  baseURL: http://%s
  credentialsSecretRef: {namespace: %s, name: creds}
  allowedNamespaces: {matchLabels: {e2e.deepcall.example/plugin-diff: "yes"}}
`, lent, simAddr, ns), "apply", "-f", "-")
	borrowed := fmt.Sprintf(`apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata: {name: diff-borrowed, namespace: %s}
spec:
  accountRef: {kind: ClusterAccount, name: %s}
  groupName: Diff Borrowed
  members: ["1009"]
`, ns, lent)
	notAllowed := fmt.Sprintf("ClusterAccount %q does not allow namespace %s: its spec.allowedNamespaces does not select the namespace's labels (ask the platform team that owns it)", lent, ns)
	out, _, code = agentgroup(t, borrowed, "diff", "-f", "-")
	if code != 1 || !strings.Contains(out, "stall     AgentGroup plugin-diff/diff-borrowed: AccountNotAllowed\n  "+notAllowed+"\n") {
		t.Errorf("diff of an AgentGroup whose ClusterAccount does not allow its namespace: exit %d, want 1 and AccountNotAllowed", code)
	}
	kubectl(t, borrowed, "apply", "-f", "-")
	waitReasons(t, map[string]string{ns + "/diff-borrowed": "AccountNotAllowed"})
	message = readyMessage(t, ns, "diff-borrowed")
	if message != notAllowed {
		t.Errorf("the operator says %q; the diff said %q", message, notAllowed)
	}
	kubectl(t, "", "label", "namespace", ns, "e2e.deepcall.example/plugin-diff=yes")
	eventually(t, 30*time.Second, func() error {
		for _, g := range agentGroups(t, ns) {
			if g.Metadata.Name == "diff-borrowed" && g.ready() {
				return nil
			}
		}
		return fmt.Errorf("diff-borrowed is not Ready yet")
	})
	out, _, code = agentgroup(t, borrowed, "diff", "-f", "-")
	if code != 0 || out != "0 to create, 0 to change, 1 unchanged\n" {
		t.Errorf("diff once the namespace is lent and the group made: exit %d, want 0 and unchanged", code)
	}
	// The ClusterAccount holds its Secret, in ns, until it is gone.
	kubectl(t, "", "delete", "agentgroup", "diff-borrowed", "-n", ns, "--timeout=60s")
	kubectl(t, "", "delete", "clusteraccount", lent, "--timeout=60s")
	kubectl(t, "", "delete", "namespace", ns, "--timeout=60s")
}

// ciKubeconfig applies the pull request check's ServiceAccount and rights
// from docs/kubectl-agentgroup/diff.md, in namespace ns for the Secret
// "creds", and returns a kubeconfig of that ServiceAccount.
func ciKubeconfig(t *testing.T, ns string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(env.Root, "docs", "kubectl-agentgroup", "diff.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(raw), "```yaml\n# ci-rbac\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("docs/kubectl-agentgroup/diff.md has no ci-rbac block")
	}
	block = strings.NewReplacer("namespace: ci}", "namespace: "+ns+"}", "namespace: team-a}", "namespace: "+ns+"}", "deepcall-credentials", "creds").Replace(block)
	kubectl(t, block, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = env.Kubectl("", "delete", "clusterrolebinding,clusterrole", "agentgroup-diff", "--ignore-not-found")
	})
	path := filepath.Join(t.TempDir(), "ci.kubeconfig")
	if err := env.ServiceAccountKubeconfig(ns, "agentgroup-diff", path); err != nil {
		t.Fatal(err)
	}
	return path
}

// readyMessage is the message of an AgentGroup's Ready condition.
func readyMessage(t *testing.T, ns, name string) string {
	t.Helper()
	return kubectl(t, "", "get", "agentgroup", name, "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`)
}
