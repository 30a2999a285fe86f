//go:build e2e

package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// TestPluginTreeAndResync: on call, a person looks at an Account's tree
// (the stuck AgentGroup first, with why), finds a group changed by hand,
// asks for a resync and waits for it, then resyncs the whole namespace.
func TestPluginTreeAndResync(t *testing.T) {
	const ns, user = "plugin-tree", "20015"
	mgr := startManager(t)
	defer mgr.Stop()
	account(t, ns, user)
	// A group made by hand holds the name one AgentGroup asks for.
	var handMade struct {
		ID int64 `json:"group_id"`
	}
	simPostJSON(t, "/_sim/users/"+user+"/groups", `{"name":"Tree Taken"}`, &handMade)
	var manifests []string
	for i, name := range []string{"alpha", "bravo", "charlie", "delta"} {
		members := []string{fmt.Sprint(1001 + i), fmt.Sprint(1011 + i)}
		manifests = append(manifests, groupYAML(ns, name, "Tree "+name, members, members[:1]))
	}
	manifests = append(manifests, groupYAML(ns, "taken", "Tree Taken", []string{"1020"}, nil))
	kubectl(t, strings.Join(manifests, "---\n"), "apply", "-f", "-")
	defer kubectl(t, "", "delete", "namespace", ns, "--timeout=90s")
	bravoID := ""
	eventually(t, 60*time.Second, func() error {
		var waiting []string
		for _, g := range agentGroups(t, ns) {
			reason := ""
			for _, c := range g.Status.Conditions {
				if c.Type == "Ready" {
					reason = c.Reason
				}
			}
			if g.Metadata.Name == "bravo" {
				bravoID = g.Status.GroupID
			}
			if g.Metadata.Name == "taken" && reason != "NameConflict" || g.Metadata.Name != "taken" && !g.ready() {
				waiting = append(waiting, g.Metadata.Name+" "+reason)
			}
		}
		if len(waiting) > 0 {
			return fmt.Errorf("not converged: %v", waiting)
		}
		return nil
	})

	// The tree: the Account with its remote account and budget, then the
	// stuck group first, with its reason and message.
	stdout, _, code := agentgroup(t, "", "tree", "default", "-n", ns)
	if code != 0 {
		t.Fatalf("tree exited %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 10 {
		t.Fatalf("tree printed %d lines, want the Account's 3, a header and 5 groups with one message", len(lines))
	}
	want := []string{
		"Account/default in " + ns + ": Ready True (Synced), remote account " + user + "@" + simAddr,
		"groups: ", // the Account's counts, as of its last listing
		"budget: 25 requests/s, burst 25; sync every 10m0s",
		"NAME READY REASON DRIFT LAST SYNC GROUP ID",
		"├─ taken False NameConflict - - -",
		fmt.Sprintf(`│ remote group %d "Tree Taken" already exists and was not created by this AgentGroup`, handMade.ID),
	}
	if !accountCounts.MatchString(oneSpaced(lines[1])) {
		t.Errorf("tree line 2 %q, want the Account's counts (%s)", lines[1], accountCounts)
	}
	for i, name := range []string{"alpha", "bravo", "charlie", "delta"} {
		branch := map[bool]string{true: "└─", false: "├─"}[name == "delta"]
		want = append(want, fmt.Sprintf("%s %s True Synced - ", branch, name))
		if got := strings.Fields(lines[6+i]); got[len(got)-1] != groupIDOf(t, ns, name) {
			t.Errorf("tree line %q, want %s's group id last", lines[6+i], name)
		}
	}
	for i, prefix := range want {
		if !strings.HasPrefix(oneSpaced(lines[i]), prefix) {
			t.Errorf("tree line %d:\n%q\nwant (spaces aside) it to start with\n%q", i+1, lines[i], prefix)
		}
	}

	// bravo is changed by hand; resync --wait returns once the operator
	// has corrected it.
	simPatchJSON(t, fmt.Sprintf("/_sim/users/%s/groups/%s", user, bravoID), `{"members":["1002","1012","1099"],"receive_call":["1099"]}`, &sim.Group{})
	stdout, _, code = agentgroup(t, "", "resync", "bravo", "-n", ns, "--wait", "--timeout", "30s")
	if code != 0 {
		t.Errorf("resync bravo --wait exited %d", code)
	}
	groups, _ := remote(t)
	for _, g := range groups[user] {
		if fmt.Sprint(g.ID) == bravoID && (!slices.Equal(g.Members, []string{"1002", "1012"}) || !slices.Equal(g.Receivers, []string{"1002"})) {
			t.Errorf("remote bravo when resync returned: members %v receivers %v, want [1002 1012] [1002]", g.Members, g.Receivers)
		}
	}
	if got, want := resyncLines(stdout)["bravo"], "True Synced corrected: agent 1099 is a member remotely but not in spec"; !strings.HasPrefix(got, want) {
		t.Errorf("resync bravo: %q, want it to start with %q", got, want)
	}

	// Without --wait it only asks: the annotation is set.
	stdout, _, code = agentgroup(t, "", "resync", "alpha", "charlie", "-n", ns)
	if want := "agentgroup/alpha resync requested\nagentgroup/charlie resync requested\n"; code != 0 || stdout != want {
		t.Errorf("resync alpha charlie: exit %d, %q; want 0 and %q", code, stdout, want)
	}
	if got := kubectl(t, "", "get", "agentgroup", "charlie", "-n", ns, "-o", `jsonpath={.metadata.annotations.deepcall\.agentgroups\.dev/resync}`); !resyncValue.MatchString(got) {
		t.Errorf("charlie's resync annotation %q, want the time, RFC 3339 with nanoseconds", got)
	}

	// The whole namespace: every group answers; the stuck one makes it
	// exit 1, and it says which.
	stdout, stderr, code := agentgroup(t, "", "resync", "--all", "--wait", "-n", ns, "--timeout", "30s")
	if code != 1 {
		t.Errorf("resync --all --wait exited %d, want 1 (taken is stuck)", code)
	}
	results := resyncLines(stdout)
	for _, name := range []string{"alpha", "bravo", "charlie", "delta"} {
		if got := results[name]; got != "True Synced in sync" {
			t.Errorf("resync --all for %s: %q, want True Synced in sync", name, got)
		}
	}
	if got, want := results["taken"], fmt.Sprintf(`False NameConflict remote group %d "Tree Taken" already exists`, handMade.ID); !strings.HasPrefix(got, want) {
		t.Errorf("resync --all for taken: %q, want it to start with %q", got, want)
	}
	if want := "error: 1 of 5 AgentGroups not Ready: taken (NameConflict)\n"; stderr != want {
		t.Errorf("resync --all stderr = %q, want %q", stderr, want)
	}
}

var accountCounts = regexp.MustCompile(`^groups: \d+ managed, \d+ unmanaged \(listed \S+ ago\)$`)

var resyncValue = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)

// oneSpaced is line with each run of spaces made one.
func oneSpaced(line string) string { return strings.Join(strings.Fields(line), " ") }

// resyncLines maps each AgentGroup resync printed to the rest of its line
// (READY REASON RESULT), one-spaced.
func resyncLines(stdout string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
		if name, rest, ok := strings.Cut(oneSpaced(line), " "); ok {
			out[name] = rest
		}
	}
	return out
}

func groupIDOf(t *testing.T, ns, name string) string {
	t.Helper()
	for _, g := range agentGroups(t, ns) {
		if g.Metadata.Name == name {
			return g.Status.GroupID
		}
	}
	t.Fatalf("no AgentGroup %s/%s", ns, name)
	return ""
}
