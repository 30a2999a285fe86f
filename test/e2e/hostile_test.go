//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// TestHostileNeighbours: two namespaces whose Accounts open one remote
// user, a group made by hand a second before an AgentGroup of that name, two
// AgentGroups naming one spec.groupId, a one-shot 1503 on a live group, and
// one namespace's credentials pointed at another user and back. Over two
// full sync intervals after that: no twin, no recreation, no write to a
// group by an AgentGroup that does not own it, every binding unchanged.
func TestHostileNeighbours(t *testing.T) {
	const user, otherUser, interval = "20001", "20002", 30 * time.Second
	mgr := startManager(t)
	defer mgr.Stop()
	for _, ns := range []string{"hostile-a", "hostile-b"} {
		accountEvery(t, ns, user, interval)
	}
	var legacy, front struct {
		ID int64 `json:"group_id"`
	}
	simPostJSON(t, "/_sim/users/"+user+"/groups", `{"name":"Hostile Legacy"}`, &legacy)
	simPostJSON(t, "/_sim/users/"+user+"/groups", `{"name":"Hostile Front"}`, &front)
	time.Sleep(time.Second)
	kubectl(t, strings.Join([]string{
		groupYAML("hostile-a", "desk-a1", "Hostile Desk A1", []string{"1001"}, nil),
		groupYAML("hostile-a", "desk-a2", "Hostile Desk A2", []string{"1002"}, nil),
		groupYAML("hostile-b", "desk-b1", "Hostile Desk B1", []string{"1003"}, nil),
		groupYAML("hostile-a", "legacy", "Hostile Legacy", []string{"1004"}, nil),
		withGroupID(groupYAML("hostile-a", "front", "Hostile Front", []string{"1005"}, nil), front.ID),
	}, "---\n"), "apply", "-f", "-")
	waitReasons(t, map[string]string{"hostile-a/desk-a1": "Synced", "hostile-a/desk-a2": "Synced", "hostile-b/desk-b1": "Synced",
		"hostile-a/legacy": "NameConflict", "hostile-a/front": "Synced"})
	kubectl(t, withGroupID(groupYAML("hostile-b", "front", "Hostile Reception", []string{"1006"}, nil), front.ID), "apply", "-f", "-")
	waitReasons(t, map[string]string{"hostile-b/front": "GroupIDInUse"})
	bindings := bindingsOf(t)
	groupsBefore, _ := remote(t)
	simPost(t, "/_sim/calls/reset", "")

	// A one-shot 1503 on a live group.
	simPost(t, "/_sim/fail-next", fmt.Sprintf(`{"op":"getGroupAgentRelation","n":1,"code":1503,"groupId":%q}`, bindings["hostile-a/desk-a1"]))
	kubectl(t, "", "annotate", "-n", "hostile-a", "agentgroup", "desk-a1", "deepcall.agentgroups.dev/resync="+fmt.Sprint(time.Now().UnixNano()), "--overwrite")

	// hostile-b's credentials point at another user, then back.
	setCreds(t, "hostile-b", otherUser)
	waitReasons(t, map[string]string{"hostile-b/desk-b1": "AccountChanged", "hostile-b/front": "RemoteGroupNotFound"})
	setCreds(t, "hostile-b", user)
	waitReasons(t, map[string]string{"hostile-b/desk-b1": "Synced", "hostile-b/front": "GroupIDInUse"})

	time.Sleep(2*interval + 5*time.Second)
	waitReasons(t, map[string]string{"hostile-a/desk-a1": "Synced", "hostile-a/desk-a2": "Synced", "hostile-b/desk-b1": "Synced",
		"hostile-a/legacy": "NameConflict", "hostile-a/front": "Synced", "hostile-b/front": "GroupIDInUse"})

	groupsAfter, st := remote(t)
	var writes map[string]map[string]int
	simGet(t, "/_sim/writes", &writes)
	if st.Faults["failNext"] != 1 {
		t.Errorf("the one-shot 1503 fired %d times, want 1", st.Faults["failNext"])
	}
	if st.Calls["add"] != 0 || st.Calls["delete"] != 0 {
		t.Errorf("calls %v: want no add (a twin or a recreation) and no delete", st.Calls)
	}
	if len(writes) != 0 {
		t.Errorf("writes by group %v: want none, every group was in sync with its one owner", writes)
	}
	if after := bindingsOf(t); !maps.Equal(after, bindings) {
		t.Errorf("bindings changed: %v, were %v", after, bindings)
	}
	count := func(groups map[string][]sim.Group, u string) int {
		n := 0
		for _, g := range groups[u] {
			if strings.HasPrefix(g.Name, "Hostile") {
				n++
			}
		}
		return n
	}
	if b, a := count(groupsBefore, user), count(groupsAfter, user); a != b || a != 5 {
		t.Errorf("remote groups named Hostile*: %d before, %d after, want the 5 (3 created, 2 by hand)", b, a)
	}
	if n := count(groupsAfter, otherUser); n != 0 {
		t.Errorf("%d Hostile* groups were made for the other user", n)
	}
	t.Logf("hostile neighbours: bindings %v unchanged; calls over two intervals %v; faults %v", bindings, st.Calls, st.Faults)
	kubectl(t, "", "delete", "namespace", "hostile-a", "hostile-b", "--timeout=90s")
}

// accountEvery is account with a syncInterval.
func accountEvery(t *testing.T, ns, user string, every time.Duration) {
	t.Helper()
	account(t, ns, user)
	kubectl(t, "", "patch", "-n", ns, "account", "default", "--type=merge", "-p", fmt.Sprintf(`{"spec":{"syncInterval":%q}}`, every.String()))
}

func setCreds(t *testing.T, ns, user string) {
	t.Helper()
	kubectl(t, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: %s}\nstringData: {userId: %q, token: %q}\n", ns, user, users[user]), "apply", "-f", "-")
}

func withGroupID(manifest string, id int64) string {
	return strings.Replace(manifest, "spec:\n", fmt.Sprintf("spec:\n  groupId: \"%d\"\n", id), 1)
}

// waitReasons waits until each ns/name has that Ready reason at its
// current generation.
func waitReasons(t *testing.T, want map[string]string) {
	t.Helper()
	var namespaces []string
	for k := range want {
		ns, _, _ := strings.Cut(k, "/")
		namespaces = append(namespaces, ns)
	}
	eventually(t, 90*time.Second, func() error {
		got := map[string]string{}
		for _, g := range agentGroups(t, namespaces...) {
			for _, c := range g.Status.Conditions {
				if c.Type == "Ready" && g.Status.ObservedGeneration == g.Metadata.Generation {
					got[g.Metadata.Namespace+"/"+g.Metadata.Name] = c.Reason
				}
			}
		}
		for k, reason := range want {
			if got[k] != reason {
				return fmt.Errorf("%s: Ready reason %q, want %q (all: %v)", k, got[k], reason, got)
			}
		}
		return nil
	})
}

// bindingsOf maps ns/name to status.groupId.
func bindingsOf(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, g := range agentGroups(t, "hostile-a", "hostile-b") {
		out[g.Metadata.Namespace+"/"+g.Metadata.Name] = g.Status.GroupID
	}
	return out
}
