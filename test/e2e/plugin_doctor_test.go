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
	"github.com/google/go-cmp/cmp"
)

// A person points `kubectl agentgroup doctor` at an Account before trusting
// the operator with it: every check is a line saying what it saw. By
// default doctor only reads (no update, delete, submitAssignGroupToAgent or
// add reaches the simulator) and says how to check the write endpoints;
// with --probe-write-endpoints it probes them with a group id that does not
// exist, and no group changes. A Secret with a wrong token fails naming the
// credentials, without printing any token.
func TestPluginDoctor(t *testing.T) {
	const ns, user = "plugin-doctor", "20016"
	account(t, ns, user)
	for _, name := range []string{"Doctor Sales", "Doctor Support", "Doctor Night Shift"} {
		simPost(t, "/_sim/users/"+user+"/groups", fmt.Sprintf(`{"name":%q}`, name))
	}
	ids := groupIDs(t, user)
	simPatchJSON(t, fmt.Sprintf("/_sim/users/%s/groups/%d", user, ids[0]), `{"members":["1001","1002"],"receive_call":["1001"]}`, &sim.Group{})
	mgr := startManager(t)
	defer mgr.Stop()
	// The operator's own check of the Account records the remote account
	// the doctor compares with what the API answers; then it stops, so
	// that every call counted below is the doctor's.
	eventually(t, 30*time.Second, func() error {
		if got := kubectl(t, "", "get", "account", "default", "-n", ns, "-o", "jsonpath={.status.remoteAccount}"); got != user+"@"+simAddr {
			return fmt.Errorf("Account status.remoteAccount %q, want %s@%s", got, user, simAddr)
		}
		return nil
	})
	mgr.Stop()
	before, _ := remote(t)
	absent := fmt.Sprint(slices.Max(ids) + 1_000_000_000)
	reads := []string{
		`  ok    account: Account plugin-doctor/default, baseURL http://` + simAddr + ` \(plain http to a loopback host, allowed by --allow-insecure-loopback\)`,
		`  ok    credentials: Secret plugin-doctor/creds holds userId and token \(user 20016\)`,
		`  ok    list: 200 OK in [\d.]+ ms, 3 groups, wrapped in response\[\], ids are numbers under group_id, names under name, status 1 \(numbers\)`,
		`  ok    user: the records' user_id 20016 is the Account's remoteAccount 20016@` + simAddr,
		`  ok    AGENT_TO_AGENT_CALL: list with forward: false answered 200 OK in [\d.]+ ms`,
		fmt.Sprintf(`  ok    getGroupAgentRelation %d: 200 OK in [\d.]+ ms, groupData an object, relationData\[2\], agentData\[2\], receive_call 0/1 \(numbers\)`, ids[0]),
		`  ok    getGroupAgentRelation ` + absent + ` \(absent\): 1503 "Group not found or not authorized" with HTTP 200 in [\d.]+ ms`,
		`  ok    list groupid ` + absent + ` \(absent\): 200 OK in [\d.]+ ms, no record`,
		`  skip  add: not checked, it creates a group`,
		`  ok    latency list: 3 calls, min [\d.]+ ms, median [\d.]+ ms, max [\d.]+ ms`,
		`  ok    latency getGroupAgentRelation: 2 calls, min [\d.]+ ms, median [\d.]+ ms, max [\d.]+ ms`,
		`  ok    Retry-After: no 429 answered`,
		`  ok    redirects: none`,
	}
	// doctor runs doctor on the Account "default" with extra flags, and
	// checks its exit code, its lines, that it printed no token, that the
	// simulator saw exactly the calls want and that no group changed.
	doctor := func(want map[string]int, lines []string, flags ...string) {
		t.Helper()
		simPost(t, "/_sim/calls/reset", "")
		out, errOut, code := agentgroup(t, "", append([]string{"doctor", "--account", "default", "-n", ns}, flags...)...)
		if code != 0 {
			t.Fatalf("doctor %v: exit %d, want 0\n%s%s", flags, code, out, errOut)
		}
		for _, line := range lines {
			if !regexp.MustCompile(`(?m)^` + line + `$`).MatchString(out) {
				t.Errorf("doctor %v: no line matches %s", flags, line)
			}
		}
		if strings.Contains(out+errOut, users[user]) {
			t.Errorf("doctor %v: the output holds the token", flags)
		}
		if diff := cmp.Diff(want, nonZero(simCalls(t))); diff != "" {
			t.Errorf("doctor %v: its calls (-want +got):\n%s", flags, diff)
		}
		var writes map[string]any
		simGet(t, "/_sim/writes", &writes)
		if len(writes) != 0 {
			t.Errorf("/_sim/writes after doctor %v: %v, want none", flags, writes)
		}
		if after, _ := remote(t); !cmp.Equal(before[user], after[user]) {
			t.Errorf("doctor %v: the groups of %s changed (-before +after):\n%s", flags, user, cmp.Diff(before[user], after[user]))
		}
	}

	// By default: reads only, and a line per write endpoint saying how to
	// check it.
	notProbed := ` not checked: doctor is read-only; --probe-write-endpoints sends it for a group id that does not exist`
	doctor(map[string]int{"list": 3, "getGroupAgentRelation": 2}, append(slices.Clone(reads),
		`  skip  update:`+notProbed,
		`  skip  delete:`+notProbed,
		`  skip  submitAssignGroupToAgent:`+notProbed,
		`12 ok, 0 warn, 0 FAIL, 4 skipped: no mismatch in the reads; the write endpoints were not probed \(--probe-write-endpoints\)`,
	))

	// --probe-write-endpoints: update, delete and submitAssignGroupToAgent
	// once each, for the absent id only; add never.
	doctor(map[string]int{"list": 3, "getGroupAgentRelation": 2, "update": 1, "delete": 1, "submitAssignGroupToAgent": 1}, append(slices.Clone(reads),
		`  ok    update `+absent+` \(absent\): 1503 "Group not found or not authorized" with HTTP 200 in [\d.]+ ms`,
		`  ok    delete `+absent+` \(absent\): 1503 "Group not found or not authorized" with HTTP 200 in [\d.]+ ms`,
		`  ok    submitAssignGroupToAgent `+absent+` \(absent\): 1503 "Group not found or not authorized" with HTTP 200 in [\d.]+ ms`,
		`  ok    latency update: 1 call, min [\d.]+ ms, median [\d.]+ ms, max [\d.]+ ms`,
		`18 ok, 0 warn, 0 FAIL, 1 skipped: the operator can reconcile this account`,
	), "--probe-write-endpoints")

	// A Secret holding a wrong token: the credentials are refused.
	kubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata: {name: wrong-creds, namespace: %[1]s}
stringData: {userId: "%[2]s", token: "not-the-token-9e1d"}
---
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: Account
metadata: {name: wrong-token, namespace: %[1]s}
spec:
  baseURL: http://%[3]s
  credentialsSecretRef: {name: wrong-creds}
`, ns, user, simAddr), "apply", "-f", "-")
	simPost(t, "/_sim/calls/reset", "")
	out, errOut, code := agentgroup(t, "", "doctor", "--account", "wrong-token", "-n", ns)
	if code != 1 {
		t.Errorf("doctor with a wrong token: exit %d, want 1", code)
	}
	if !regexp.MustCompile(`(?m)^  FAIL  list: credentials refused: 1015 "Invalid credentials" with HTTP 200 in [\d.]+ ms: fix the Secret's userId and token `).MatchString(out) ||
		!regexp.MustCompile(`(?m)^\d+ ok, 0 warn, 1 FAIL, 2 skipped: the operator cannot reconcile this account$`).MatchString(out) {
		t.Errorf("doctor with a wrong token does not name the credentials:\n%s", out)
	}
	if strings.Contains(out+errOut, "not-the-token-9e1d") || strings.Contains(out+errOut, users[user]) {
		t.Error("the output holds a token")
	}
	if n := writeCalls(simCalls(t)); n != 0 {
		t.Errorf("doctor with refused credentials sent %d write calls, want 0", n)
	}
}

// groupIDs are the ids of a simulator user's groups, in creation order.
func groupIDs(t *testing.T, user string) []int64 {
	t.Helper()
	groups, _ := remote(t)
	var ids []int64
	for _, g := range groups[user] {
		ids = append(ids, g.ID)
	}
	if len(ids) == 0 {
		t.Fatalf("user %s has no group", user)
	}
	return ids
}
