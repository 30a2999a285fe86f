//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// TestNoisyNeighbour: Account A's remote user is throttled (every call 429,
// Retry-After 60) while all 40 of its AgentGroups have an edit to apply, more
// than the manager has workers. Account B, on another remote user, must not
// wait for A: its new AgentGroup is Ready within 5 s while A is still
// throttled. Once the throttle is lifted, all of A's edits land within 2
// minutes.
func TestNoisyNeighbour(t *testing.T) {
	const (
		nsA, userA = "noisy-a", "20003"
		nsB, userB = "noisy-b", "20004"
		groupsA    = 40
		// Fewer workers than throttled groups: a worker that sleeps on
		// A's Retry-After is a worker B does not get.
		workers    = 16
		retryAfter = 60 * time.Second
		bBudget    = 5 * time.Second
		aBudget    = 2 * time.Minute
	)
	mgr := startManager(t, fmt.Sprintf("--max-concurrent-reconciles=%d", workers))
	defer mgr.Stop()
	defer simPost(t, "/_sim/throttle", fmt.Sprintf(`{"user":%q,"retryAfter":"0s"}`, userA))

	account(t, nsA, userA)
	account(t, nsB, userB)
	manifestsA := func(extra ...string) string {
		var m []string
		for i := range groupsA {
			members := append([]string{fmt.Sprint(1000 + i)}, extra...)
			m = append(m, groupYAML(nsA, fmt.Sprintf("g%02d", i), fmt.Sprintf("Noisy A g%02d", i), members, members[:1]))
		}
		return strings.Join(m, "---\n")
	}
	kubectl(t, manifestsA(), "apply", "-f", "-")
	allReady(t, nsA, groupsA, 2*time.Minute)
	kubectl(t, "", "wait", "-n", nsB, "--for=condition=Ready", "account/default", "--timeout=60s")

	// A is throttled, then every one of its groups gets an edit.
	simPost(t, "/_sim/throttle", fmt.Sprintf(`{"user":%q,"retryAfter":%q}`, userA, retryAfter.String()))
	throttledAt := time.Now()
	kubectl(t, manifestsA("1099"), "apply", "-f", "-")
	eventually(t, 30*time.Second, func() error {
		if n := injected(t)["userThrottle"]; n == 0 {
			return fmt.Errorf("no call of A's answered 429 yet")
		}
		return nil
	})
	time.Sleep(2 * time.Second)

	// B's new group, while A is throttled. Its time to Ready is measured
	// past the budget, up to one whole Retry-After and more: B waiting
	// that long is B waiting on A.
	created := time.Now()
	kubectl(t, groupYAML(nsB, "fresh", "Noisy B Fresh", []string{"1001", "1002"}, []string{"1001"}), "apply", "-f", "-")
	bReady, bOK := time.Duration(0), false
	for !bOK && time.Since(created) < retryAfter+30*time.Second {
		time.Sleep(100 * time.Millisecond)
		g := agentGroups(t, nsB)
		bReady, bOK = time.Since(created), len(g) == 1 && g[0].ready()
	}
	var throttles map[string]string
	simGet(t, "/_sim/throttle", &throttles)
	pendingA := groupsA - countReady(agentGroups(t, nsA))
	t.Logf("noisy neighbour: B's new AgentGroup Ready: %v after %.1fs (A throttled %.1fs before its creation; A's 429s so far %d; A's groups still waiting %d of %d; %d workers)",
		bOK, bReady.Seconds(), created.Sub(throttledAt).Seconds(), injected(t)["userThrottle"], pendingA, groupsA, workers)
	if throttles[userA] == "" {
		t.Fatalf("A's throttle is gone (%v): the story measured nothing", throttles)
	}
	if pendingA == 0 {
		t.Errorf("all of A's groups are Ready while A is throttled: the edits never waited on A's account")
	}
	switch {
	case !bOK:
		t.Errorf("B's new AgentGroup was not Ready %.0fs after its creation, want ≤ %v while A (%d throttled groups, %d workers) is throttled: B waits on A's Retry-After",
			bReady.Seconds(), bBudget, groupsA, workers)
	case bReady > bBudget:
		t.Errorf("B's new AgentGroup was Ready %.1fs after its creation, want ≤ %v while A (%d throttled groups, %d workers) is throttled",
			bReady.Seconds(), bBudget, groupsA, workers)
	}

	// The throttle is lifted: every edit of A's lands (and B's group, if
	// it was still waiting).
	simPost(t, "/_sim/throttle", fmt.Sprintf(`{"user":%q,"retryAfter":"0s"}`, userA))
	lifted := time.Now()
	allReady(t, nsA, groupsA, aBudget)
	aReady := time.Since(lifted)
	allReady(t, nsB, 1, 30*time.Second)
	groups, _ := remote(t)
	if !slices.ContainsFunc(groups[userB], func(g sim.Group) bool {
		return g.Name == "Noisy B Fresh" && slices.Equal(g.Members, []string{"1001", "1002"})
	}) {
		t.Errorf("B's remote groups %+v: want Noisy B Fresh with members 1001, 1002", groups[userB])
	}
	byID := map[string]sim.Group{}
	for _, g := range groups[userA] {
		byID[fmt.Sprint(g.ID)] = g
	}
	for _, g := range agentGroups(t, nsA) {
		if r, ok := byID[g.Status.GroupID]; !ok || !slices.Equal(r.Members, sorted(g.Spec.Members)) || !slices.Equal(r.Receivers, sorted(g.Spec.ReceiveCall)) {
			t.Errorf("%s: remote %+v, spec %+v", g.Metadata.Name, r, g.Spec)
		}
	}
	t.Logf("noisy neighbour: A's %d edited AgentGroups all Ready %.1fs after the throttle was lifted (%.1fs after it was set); A's 429s %d",
		groupsA, aReady.Seconds(), time.Since(throttledAt).Seconds(), injected(t)["userThrottle"])
	kubectl(t, "", "delete", "namespace", nsA, nsB, "--timeout=90s")
}

// allReady waits until the namespace has n AgentGroups, all Ready at their
// current generation.
func allReady(t *testing.T, ns string, n int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() error {
		g := agentGroups(t, ns)
		if r := countReady(g); len(g) != n || r != n {
			return fmt.Errorf("%s: %d of %d AgentGroups Ready at their generation, want %d", ns, r, len(g), n)
		}
		return nil
	})
}

func countReady(groups []agentGroup) int {
	n := 0
	for _, g := range groups {
		if g.ready() {
			n++
		}
	}
	return n
}

// injected is the simulator's count of injected faults, by kind.
func injected(t *testing.T) map[string]int {
	t.Helper()
	_, st := remote(t)
	return st.Faults
}
