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
// the operator with it: every check is a line saying what it saw, the
// write endpoints are probed only with a group id that does not exist (no
// group changes), and a Secret with a wrong token fails naming the
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
	simPost(t, "/_sim/calls/reset", "")

	out, errOut, code := agentgroup(t, "", "doctor", "--account", "default", "-n", ns)
	if code != 0 {
		t.Fatalf("doctor: exit %d, want 0\n%s%s", code, out, errOut)
	}
	absent := fmt.Sprint(slices.Max(ids) + 1_000_000_000)
	for _, want := range []string{
		`  ok    account: Account plugin-doctor/default, baseURL http://` + simAddr + ` \(plain http to a loopback host, allowed by --allow-insecure-loopback\)`,
		`  ok    credentials: Secret plugin-doctor/creds holds userId and token \(user 20016\)`,
		`  ok    list: 200 OK in [\d.]+ ms, 3 groups, wrapped in response\[\], ids are numbers under group_id, names under name, status 1 \(numbers\)`,
		`  ok    user: the records' user_id 20016 is the Account's remoteAccount 20016@` + simAddr,
		`  ok    AGENT_TO_AGENT_CALL: list with forward: false answered 200 OK in [\d.]+ ms`,
		fmt.Sprintf(`  ok    getGroupAgentRelation %d: 200 OK in [\d.]+ ms, groupData an object, relationData\[2\], agentData\[2\], receive_call 0/1 \(numbers\)`, ids[0]),
		`  ok    getGroupAgentRelation ` + absent + ` \(absent\): 1503 "Group not found or not authorized" with HTTP 200 in [\d.]+ ms`,
		`  ok    list groupid ` + absent + ` \(absent\): 200 OK in [\d.]+ ms, no record`,
		`  ok    update ` + absent + ` \(absent\): 1503 "Group not found or not authorized" with HTTP 200 in [\d.]+ ms`,
		`  ok    delete ` + absent + ` \(absent\): 1503 "Group not found or not authorized" with HTTP 200 in [\d.]+ ms`,
		`  ok    submitAssignGroupToAgent ` + absent + ` \(absent\): 1503 "Group not found or not authorized" with HTTP 200 in [\d.]+ ms`,
		`  skip  add: not checked, it creates a group`,
		`  ok    latency list: 3 calls, min [\d.]+ ms, median [\d.]+ ms, max [\d.]+ ms`,
		`  ok    latency getGroupAgentRelation: 2 calls, min [\d.]+ ms, median [\d.]+ ms, max [\d.]+ ms`,
		`  ok    Retry-After: no 429 answered`,
		`  ok    redirects: none`,
		`18 ok, 0 warn, 0 FAIL, 1 skipped: the operator can reconcile this account`,
	} {
		if !regexp.MustCompile(`(?m)^` + want + `$`).MatchString(out) {
			t.Errorf("doctor's output has no line matching %s", want)
		}
	}
	if strings.Contains(out+errOut, users[user]) {
		t.Error("the output holds the token")
	}
	calls := simCalls(t)
	if diff := cmp.Diff(map[string]int{"list": 3, "getGroupAgentRelation": 2, "update": 1, "delete": 1, "submitAssignGroupToAgent": 1}, nonZero(calls)); diff != "" {
		t.Errorf("the doctor's calls (-want +got):\n%s", diff)
	}
	var writes map[string]any
	simGet(t, "/_sim/writes", &writes)
	if len(writes) != 0 {
		t.Errorf("/_sim/writes after doctor: %v, want none", writes)
	}
	if after, _ := remote(t); !cmp.Equal(before[user], after[user]) {
		t.Errorf("the groups of %s changed (-before +after):\n%s", user, cmp.Diff(before[user], after[user]))
	}

	// --skip-write-endpoints sends no probe at all.
	simPost(t, "/_sim/calls/reset", "")
	out, _, code = agentgroup(t, "", "doctor", "--account", "default", "-n", ns, "--skip-write-endpoints")
	if code != 0 || !regexp.MustCompile(`(?m)^  skip  update: not checked \(--skip-write-endpoints\)$`).MatchString(out) {
		t.Errorf("doctor --skip-write-endpoints: exit %d, want 0 and the write checks skipped", code)
	}
	if n := writeCalls(simCalls(t)); n != 0 {
		t.Errorf("doctor --skip-write-endpoints sent %d write calls, want 0", n)
	}

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
	out, errOut, code = agentgroup(t, "", "doctor", "--account", "wrong-token", "-n", ns)
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
