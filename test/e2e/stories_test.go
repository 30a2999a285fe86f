//go:build e2e

package e2e

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// The stories run in this order; the last one reads what all left behind.

func TestHappyPath(t *testing.T) {
	mgr := startManager(t)
	defer mgr.Stop()
	const ns, user = "happy", "20001"
	account(t, ns, user)
	kubectl(t, groupYAML(ns, "sales", "Happy Sales", []string{"1001", "1002"}, []string{"1001"}), "apply", "-f", "-")
	kubectl(t, "", "wait", "-n", ns, "--for=condition=Ready", "agentgroup/sales", "--timeout=60s")
	find := func() *sim.Group {
		groups, _ := remote(t)
		for _, g := range groups[user] {
			if g.Name == "Happy Sales" {
				return &g
			}
		}
		return nil
	}
	if g := find(); g == nil || !slices.Equal(g.Members, []string{"1001", "1002"}) {
		t.Fatalf("remote group after apply: %+v", g)
	}

	// An edit (what `kubectl edit` saves) converges.
	kubectl(t, "", "patch", "-n", ns, "agentgroup", "sales", "--type=merge", "-p", `{"spec":{"members":["1001","1003"],"receiveCall":["1003"]}}`)
	eventually(t, 30*time.Second, func() error {
		if g := find(); g == nil || !slices.Equal(g.Members, []string{"1001", "1003"}) || !slices.Equal(g.Receivers, []string{"1003"}) {
			return fmt.Errorf("remote group after edit: %+v", g)
		}
		return nil
	})

	// Invalid manifests are refused by the API server, with a message,
	// and never reach the remote API.
	_, before := remote(t)
	for manifest, message := range map[string]string{
		groupYAML(ns, "bad", "Bad", []string{"1001"}, []string{"1009"}): "receiveCall entries must also be listed in members",
		groupYAML(ns, "bad", " Bad", []string{"1001"}, nil):             "groupName must not start or end with a space",
		strings.Replace(groupYAML(ns, "sales", "Happy Sales", []string{"1001", "1003"}, []string{"1003"}), "spec:\n", "spec:\n  groupId: \"999\"\n", 1):                                                       "",
		fmt.Sprintf("apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: Account\nmetadata: {name: bad, namespace: %s}\nspec: {baseURL: \"http://example.com\", credentialsSecretRef: {name: creds}}\n", ns): "baseURL must use https://",
	} {
		if message == "" {
			continue // binding from empty is allowed: covered by the envtest suite
		}
		out, err := env.Kubectl(manifest, "apply", "--dry-run=server", "-f", "-")
		if err == nil || !strings.Contains(out, message) {
			t.Errorf("dry-run of an invalid manifest: %v\n%s\nwant %q", err, out, message)
		}
	}
	_, after := remote(t)
	if fmt.Sprint(before.Calls) != fmt.Sprint(after.Calls) {
		t.Errorf("refused manifests reached the API: calls %v then %v", before.Calls, after.Calls)
	}

	kubectl(t, "", "delete", "-n", ns, "agentgroup", "sales", "--timeout=60s")
	if g := find(); g != nil {
		t.Errorf("remote group left after delete: %+v", g)
	}
	kubectl(t, "", "delete", "namespace", ns, "--timeout=90s")
}

// TestChaos: 200 AgentGroups in 4 namespaces on 2 remote accounts, with
// errors, lost answers, throttling and latency injected, and the manager
// killed 5 times; then the faults stop and everything must be exactly right.
func TestChaos(t *testing.T) {
	const perNamespace, kills = 50, 5
	namespaces := map[string]string{"chaos-1": "20001", "chaos-2": "20001", "chaos-3": "20002", "chaos-4": "20002"}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	var manifests []string
	for ns, user := range namespaces {
		account(t, ns, user)
		for i := range perNamespace {
			members := []string{fmt.Sprint(1000 + rng.Intn(50)), fmt.Sprint(1050 + rng.Intn(50))}
			manifests = append(manifests, groupYAML(ns, fmt.Sprintf("g%02d", i), fmt.Sprintf("%s g%02d", ns, i), members, members[:1]))
		}
	}
	simPost(t, "/_sim/calls/reset", "")
	simPost(t, "/_sim/faults", `{"errorRate":0.1,"lostResponseRate":0.05,"throttleRate":0.05,"retryAfter":"1s","latency":"20ms","latencyJitter":"15ms"}`)
	start := time.Now()
	mgr := startManager(t)
	kubectl(t, strings.Join(manifests, "---\n"), "apply", "-f", "-")
	for k := range kills {
		time.Sleep(time.Duration(2000+rng.Intn(4000)) * time.Millisecond)
		mgr.Kill()
		t.Logf("kill %d: manager SIGKILLed after %v", k+1, time.Since(start).Round(time.Millisecond))
		mgr = startManager(t)
	}
	simPost(t, "/_sim/faults", `{}`)
	faultsStopped := time.Now()
	defer func() { mgr.Stop() }()

	nsList := []string{"chaos-1", "chaos-2", "chaos-3", "chaos-4"}
	eventually(t, 3*time.Minute, func() error {
		var notReady []string
		for _, g := range agentGroups(t, nsList...) {
			if !g.ready() {
				notReady = append(notReady, fmt.Sprintf("%s/%s %+v", g.Metadata.Namespace, g.Metadata.Name, g.Status))
			}
		}
		if len(notReady) > 0 {
			return fmt.Errorf("%d AgentGroups not Ready: %s", len(notReady), strings.Join(notReady, "; "))
		}
		return nil
	})
	converged := time.Since(start)

	// Exactly one remote group per AgentGroup, none unclaimed, memberships
	// equal to spec.
	groups, st := remote(t)
	byID := map[string]sim.Group{}
	names := map[string]int{}
	for _, user := range []string{"20001", "20002"} {
		for _, g := range groups[user] {
			byID[fmt.Sprint(g.ID)] = g
			names[strings.ToLower(g.Name)]++
		}
	}
	duplicates, leaks, wrong := 0, 0, 0
	claimed := map[string]bool{}
	for _, g := range agentGroups(t, nsList...) {
		r, ok := byID[g.Status.GroupID]
		switch {
		case !ok:
			wrong++
			t.Errorf("%s/%s: groupId %s is not a remote group", g.Metadata.Namespace, g.Metadata.Name, g.Status.GroupID)
		case r.Name != g.Spec.GroupName || !slices.Equal(r.Members, sorted(g.Spec.Members)) || !slices.Equal(r.Receivers, sorted(g.Spec.ReceiveCall)):
			wrong++
			t.Errorf("%s/%s: remote %+v, spec %+v", g.Metadata.Namespace, g.Metadata.Name, r, g.Spec)
		}
		claimed[g.Status.GroupID] = true
	}
	for id, r := range byID {
		if !claimed[id] && strings.HasPrefix(r.Name, "chaos-") {
			leaks++
			t.Errorf("remote group %s %q belongs to no AgentGroup", id, r.Name)
		}
	}
	for name, n := range names {
		if n > 1 {
			duplicates += n - 1
			t.Errorf("%d remote groups named %q", n, name)
		}
	}

	kubectl(t, "", "delete", "namespace", "chaos-1", "chaos-2", "chaos-3", "chaos-4", "--wait=false")
	deleteStart := time.Now()
	eventually(t, 3*time.Minute, func() error {
		out, _ := env.Kubectl("", "get", "namespaces", "-o", "name")
		if strings.Contains(out, "chaos-") {
			return fmt.Errorf("namespaces left: %s", out)
		}
		return nil
	})
	left := 0
	groups, _ = remote(t)
	for _, user := range []string{"20001", "20002"} {
		for _, g := range groups[user] {
			if strings.HasPrefix(g.Name, "chaos-") {
				left++
			}
		}
	}
	if left != 0 {
		t.Errorf("%d remote groups left after the namespaces were deleted", left)
	}
	report := fmt.Sprintf(`chaos figures:
  AgentGroups             %d (4 namespaces, 2 remote accounts)
  API calls               %d %v
  faults injected         %v
  manager SIGKILLs        %d
  time to converge        %v (faults stopped after %v)
  duplicates found        %d
  leaks (unclaimed)       %d
  wrong memberships/ids   %d
  namespace deletion      %v, remote groups left %d
`, len(nsList)*perNamespace, total(st.Calls), st.Calls, st.Faults, kills, converged.Round(time.Second), faultsStopped.Sub(start).Round(time.Second),
		duplicates, leaks, wrong, time.Since(deleteStart).Round(time.Second), left)
	fmt.Print(report)
	t.Log(report)
}

func TestLeaderElection(t *testing.T) {
	const ns, user = "leader", "20002"
	account(t, ns, user)
	args := []string{"--leader-elect", "--leader-election-namespace=" + installNS}
	first := startManager(t, args...)
	eventually(t, 60*time.Second, func() error {
		out, _ := env.Kubectl("", "get", "lease", "-n", installNS, "agentgroup-operator.deepcall.agentgroups.dev", "-o", "jsonpath={.spec.holderIdentity}")
		if out == "" {
			return fmt.Errorf("no leader yet")
		}
		return nil
	})
	second := startManager(t, args...)
	defer second.Stop()
	kubectl(t, groupYAML(ns, "before", "Leader Before", []string{"1001"}, nil), "apply", "-f", "-")
	kubectl(t, "", "wait", "-n", ns, "--for=condition=Ready", "agentgroup/before", "--timeout=60s")

	first.Kill()
	kubectl(t, groupYAML(ns, "after", "Leader After", []string{"1002"}, nil), "apply", "-f", "-")
	// The lease (15s) must expire before the second manager leads.
	kubectl(t, "", "wait", "-n", ns, "--for=condition=Ready", "agentgroup/after", "--timeout=90s")
	groups, _ := remote(t)
	found := 0
	for _, g := range groups[user] {
		if strings.HasPrefix(g.Name, "Leader ") {
			found++
		}
	}
	if found != 2 {
		t.Errorf("remote groups %+v, want Leader Before and Leader After", groups[user])
	}
	kubectl(t, "", "delete", "namespace", ns, "--timeout=90s")
}

// TestSecretsNeverLeak reads every log, Event and status the other stories
// produced, looking for the credential values.
func TestSecretsNeverLeak(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(env.Dir, "*.log"))
	haystacks := readLogs(t, logs)
	haystacks = append(haystacks,
		"events\n"+kubectl(t, "", "get", "events", "-A", "-o", "json"),
		"statuses\n"+kubectl(t, "", "get", "agentgroups,accounts", "-A", "-o", "json"))
	checked := noCredentialIn(t, haystacks)
	if checked < 1000 {
		t.Fatalf("only %d bytes of logs, events and statuses to check: the stories left nothing to read", checked)
	}
	t.Logf("%d files and listings, %d bytes: no credential value", len(haystacks), checked)
}

// readLogs reads each file as "path\ncontents".
func readLogs(t *testing.T, files []string) []string {
	t.Helper()
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f+"\n"+string(b))
	}
	return out
}

// noCredentialIn fails for each haystack ("name\ntext") that holds a
// credential value, and returns how many bytes it read.
func noCredentialIn(t *testing.T, haystacks []string) int {
	t.Helper()
	checked := 0
	for _, h := range haystacks {
		name, _, _ := strings.Cut(h, "\n")
		for _, token := range users {
			if strings.Contains(h, token) {
				t.Errorf("%s contains a credential value", name)
			}
		}
		checked += len(h)
	}
	return checked
}

// rbacDenied is how the API server words an RBAC refusal (not the other
// "forbidden" answers, such as a write into a terminating namespace).
var rbacDenied = regexp.MustCompile(`forbidden: User \\?"[^"\\]*\\?" cannot `)

// TestNothingForbidden reads every manager's log the other stories left:
// running as the shipped ServiceAccount, no manager was refused anything
// by RBAC, not even a write the stories do not look at (an Event, the
// leader-election Lease).
func TestNothingForbidden(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(env.Dir, "manager*.log"))
	if len(logs) == 0 {
		t.Skip("no manager log to read: no story ran a manager (run it with the others)")
	}
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rbacDenied.MatchString(line) {
				t.Errorf("%s: %.600s", filepath.Base(f), line)
			}
		}
	}
	t.Logf("%d manager logs: no RBAC refusal", len(logs))
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
