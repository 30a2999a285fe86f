package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// call posts one API request and returns the decoded body and HTTP status.
func call(t *testing.T, url, op string, body map[string]any) (map[string]any, int) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(url+"/api/v2/Group/"+op, "text/plain", bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: body %q: %v", op, b, err)
	}
	return out, resp.StatusCode
}

func auth(user, token string, kv ...any) map[string]any {
	m := map[string]any{"userId": user, "token": token}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func start(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	s.AddUser(User{ID: "u1", Token: "t1", SSIDs: []string{"s1"}, Agents: AgentRange(1000, 1010)})
	s.AddUser(User{ID: "u2", Token: "t2", Agents: AgentRange(1000, 1010)})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func code(m map[string]any) int {
	f, _ := m["code"].(float64)
	return int(f)
}

func TestDuplicateNamesGetANumber(t *testing.T) {
	s, url := start(t, Options{})
	for _, name := range []string{"Sales", "SALES", "sales", "Sales 1"} {
		if out, _ := call(t, url, "add", auth("u1", "t1", "name", name)); out["status"] != "success" {
			t.Fatalf("add %q: %v", name, out)
		}
	}
	// Another user's names do not count.
	call(t, url, "add", auth("u2", "t2", "name", "Sales"))
	var names []string
	for _, g := range s.Groups("u1") {
		names = append(names, g.Name)
	}
	if diff := cmp.Diff([]string{"Sales", "SALES 1", "sales 2", "Sales 1 1"}, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	if g := s.Groups("u2"); len(g) != 1 || g[0].Name != "Sales" {
		t.Errorf("u2 groups %+v", g)
	}
	// A rename onto a taken name behaves like add; onto its own name in
	// another case it does not.
	id := s.Groups("u1")[3].ID
	call(t, url, "update", auth("u1", "t1", "groupId", fmt.Sprint(id), "name", "sales", "status", 1))
	first := s.Groups("u1")[0].ID
	call(t, url, "update", auth("u1", "t1", "groupId", fmt.Sprint(first), "name", "SALES", "status", 1))
	got := s.Groups("u1")
	if got[3].Name != "sales 3" || got[0].Name != "SALES" {
		t.Errorf("after renames: %+v", got)
	}
}

func TestListFilters(t *testing.T) {
	s, url := start(t, Options{})
	for _, n := range []string{"Sales", "Marketing", "Support"} {
		if _, err := s.CreateGroup("u1", n); err != nil {
			t.Fatal(err)
		}
	}
	names := func(out map[string]any) []string {
		var n []string
		for _, r := range out["response"].([]any) {
			n = append(n, r.(map[string]any)["name"].(string))
		}
		return n
	}
	out, _ := call(t, url, "list", auth("u1", "t1", "name", "M"))
	if diff := cmp.Diff([]string{"Marketing"}, names(out)); diff != "" {
		t.Errorf("substring filter (-want +got):\n%s", diff)
	}
	out, _ = call(t, url, "list", auth("u1", "t1", "name", "s"))
	if len(names(out)) != 2 {
		t.Errorf("case-insensitive filter: %v", names(out))
	}
	out, _ = call(t, url, "list", auth("u1", "t1", "groupid", "2"))
	out2, _ := call(t, url, "list", auth("u1", "t1", "groupId", "2"))
	if !cmp.Equal(names(out), []string{"Marketing"}) || !cmp.Equal(names(out2), []string{"Marketing"}) {
		t.Errorf("id filter: %v %v", names(out), names(out2))
	}
	out, _ = call(t, url, "list", auth("u2", "t2", "groupid", "2"))
	if len(out["response"].([]any)) != 0 {
		t.Errorf("another user's id listed: %v", out)
	}
	out, _ = call(t, url, "list", auth("u1", "t1", "quick", true))
	if r := out["response"].([]any)[0].(map[string]any); r["user_id"] != nil || r["create_date"] != nil {
		t.Errorf("quick record has details: %v", r)
	}
}

func TestOtherUsersGroupsAreInvisible(t *testing.T) {
	s, url := start(t, Options{})
	id, _ := s.CreateGroup("u2", "Theirs")
	for _, op := range []string{"update", "delete", "getGroupAgentRelation", "submitAssignGroupToAgent"} {
		out, _ := call(t, url, op, auth("u1", "t1", "groupId", fmt.Sprint(id), "name", "Mine"))
		if code(out) != 1503 {
			t.Errorf("%s on another user's group: %v, want 1503", op, out)
		}
	}
	if g := s.Groups("u2"); len(g) != 1 || g[0].Name != "Theirs" {
		t.Errorf("u2's group changed: %+v", g)
	}
}

func TestAssignmentIsAtomicAndWhole(t *testing.T) {
	s, url := start(t, Options{})
	id, _ := s.CreateGroup("u1", "G")
	gid := fmt.Sprint(id)
	call(t, url, "submitAssignGroupToAgent", auth("u1", "t1", "groupId", gid, "agent_unique_id", []string{"1001", "1002"}, "receive_call", []string{"1001"}))
	for name, req := range map[string]map[string]any{
		"receiver not a member": auth("u1", "t1", "groupId", gid, "agent_unique_id", []string{"1003"}, "receive_call", []string{"1004"}),
		"unknown agent":         auth("u1", "t1", "groupId", gid, "agent_unique_id", []string{"1003", "9999"}),
	} {
		if out, _ := call(t, url, "submitAssignGroupToAgent", req); code(out) != 1047 {
			t.Errorf("%s: %v, want 1047", name, out)
		}
	}
	g := s.Groups("u1")[0]
	if !cmp.Equal(g.Members, []string{"1001", "1002"}) || !cmp.Equal(g.Receivers, []string{"1001"}) {
		t.Errorf("a refused assignment changed the group: %+v", g)
	}
	// Omitting agent_unique_id removes everyone.
	call(t, url, "submitAssignGroupToAgent", auth("u1", "t1", "groupId", gid))
	if g := s.Groups("u1")[0]; len(g.Members) != 0 || len(g.Receivers) != 0 {
		t.Errorf("members left: %+v", g)
	}
}

func TestErrorsAndAuth(t *testing.T) {
	cases := map[string]struct {
		op     string
		body   map[string]any
		code   int
		status int // with ErrorHTTPStatus
	}{
		"no name":              {op: "add", body: auth("u1", "t1"), code: 1501, status: 400},
		"no group id":          {op: "delete", body: auth("u1", "t1"), code: 1502, status: 400},
		"unknown group":        {op: "getGroupAgentRelation", body: auth("u1", "t1", "groupId", "99"), code: 1503, status: 404},
		"wrong token":          {op: "list", body: auth("u1", "nope"), code: 1015, status: 403},
		"no credentials":       {op: "list", body: map[string]any{}, code: 1015, status: 403},
		"both forms":           {op: "list", body: auth("u1", "t1", "ssid", "s1"), code: 1000, status: 400},
		"bad status":           {op: "update", body: auth("u1", "t1", "groupId", "1", "name", "x", "status", 7), code: 1000, status: 400},
		"receivers not a list": {op: "submitAssignGroupToAgent", body: auth("u1", "t1", "groupId", "1", "receive_call", "1001"), code: 1000, status: 400},
	}
	for _, withStatus := range []bool{false, true} {
		s, url := start(t, Options{ErrorHTTPStatus: withStatus})
		_, _ = s.CreateGroup("u1", "G")
		for name, tc := range cases {
			out, status := call(t, url, tc.op, tc.body)
			want := 200
			if withStatus {
				want = tc.status
			}
			if code(out) != tc.code || out["status"] != "error" || status != want {
				t.Errorf("%s (http status mode %v): HTTP %d %v, want code %d with HTTP %d", name, withStatus, status, out, tc.code, want)
			}
		}
	}
	_, url := start(t, Options{})
	if out, _ := call(t, url, "list", map[string]any{"ssid": "s1"}); out["status"] != "success" {
		t.Errorf("ssid auth: %v", out)
	}
	resp, err := http.Post(url+"/api/v2/Group/list/", "", strings.NewReader(`{"userId":"u1","token":"t1"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("trailing slash: %v %v", resp, err)
	}
}

func TestFaults(t *testing.T) {
	s, url := start(t, Options{Seed: 1})
	s.FailNext("add", 2, 0)
	for i := range 3 {
		out, status := call(t, url, "add", auth("u1", "t1", "name", "G"))
		if i < 2 && (code(out) != 1009 || status != 500) {
			t.Errorf("call %d: HTTP %d %v, want an injected 1009", i, status, out)
		}
		if i == 2 && out["status"] != "success" {
			t.Errorf("call 3 after the rule ran out: %v", out)
		}
	}
	s.LoseNext("delete", 1)
	id := s.Groups("u1")[0].ID
	raw, _ := json.Marshal(auth("u1", "t1", "groupId", fmt.Sprint(id)))
	if _, err := http.Post(url+"/api/v2/Group/delete", "", bytes.NewReader(raw)); err == nil {
		t.Error("lost response: the request got an answer")
	}
	if len(s.Groups("u1")) != 0 {
		t.Error("lost response: the delete was not committed")
	}
	s.SetFaults(Faults{ThrottleRate: 1})
	resp, err := http.Post(url+"/api/v2/Group/list", "", bytes.NewReader(raw))
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("throttled: %v %v", resp, err)
	}
	s.SetFaults(Faults{ErrorRate: 1})
	if out, status := call(t, url, "list", auth("u1", "t1")); status != 500 || code(out) != 1009 {
		t.Errorf("error rate: HTTP %d %v", status, out)
	}
	want := map[string]int{"add": 3, "delete": 1, "list": 2}
	if diff := cmp.Diff(want, s.Calls()); diff != "" {
		t.Errorf("every request counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"failNext": 2, "lost": 1, "throttle": 1, "error": 1}, s.Injected()); diff != "" {
		t.Errorf("injected faults (-want +got):\n%s", diff)
	}
	// Faults answer before the credentials are read: only the third add
	// and the lost delete reached the account.
	if diff := cmp.Diff(map[string]int{"u1": 2}, s.CallsByUser()); diff != "" {
		t.Errorf("calls by user (-want +got):\n%s", diff)
	}
}

func TestAdminAPI(t *testing.T) {
	s, url := start(t, Options{})
	do := func(method, path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: HTTP %d %v", method, path, resp.StatusCode, out)
		}
		return out
	}
	created := do("POST", "/_sim/users/u1/groups", `{"name":"Hand Made"}`)
	id := fmt.Sprint(created["group_id"])
	do("PATCH", "/_sim/users/u1/groups/"+id, `{"name":"Renamed","status":0,"members":["1001","1002"],"receive_call":["1002"]}`)
	got := s.Groups("u1")
	want := []Group{{ID: 1, UserID: "u1", Name: "Renamed", Status: 0, Members: []string{"1001", "1002"}, Receivers: []string{"1002"}}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Group{}, "CreateDate")); diff != "" {
		t.Errorf("after PATCH (-want +got):\n%s", diff)
	}
	do("POST", "/_sim/faults", `{"latency":"5ms","errorRate":0.5}`)
	if f := s.CurrentFaults(); f.Latency.Milliseconds() != 5 || f.ErrorRate != 0.5 {
		t.Errorf("faults %+v", f)
	}
	do("POST", "/_sim/faults", `{}`)
	state := do("GET", "/_sim/state", "")
	if users := state["users"].([]any); len(users) != 2 {
		t.Errorf("state users: %v", users)
	}
	if c := s.Calls(); len(c) != 0 {
		t.Errorf("admin requests counted as API calls: %v", c)
	}
	do("DELETE", "/_sim/users/u1/groups/"+id, "")
	if len(s.Groups("u1")) != 0 {
		t.Error("DELETE left the group")
	}
	var buf bytes.Buffer
	_, _ = s.CreateGroup("u1", "Saved")
	if err := s.Save(&buf); err != nil {
		t.Fatal(err)
	}
	s2 := New(Options{})
	s2.AddUser(User{ID: "u1"})
	if err := s2.Load(&buf); err != nil {
		t.Fatal(err)
	}
	if g := s2.Groups("u1"); len(g) != 1 || g[0].Name != "Saved" || g[0].ID != 2 {
		t.Errorf("loaded %+v", g)
	}
	if id, _ := s2.CreateGroup("u1", "Next"); id != 3 {
		t.Errorf("ids after load restart at %d, want 3 (never reused)", id)
	}
}

func TestFaultRulesForOneGroupAndAfterTheEffect(t *testing.T) {
	s, url := start(t, Options{})
	a, _ := s.CreateGroup("u1", "A")
	b, _ := s.CreateGroup("u1", "B")
	s.Fail(FailRule{Op: "getGroupAgentRelation", N: 1, Code: codeGroupNotFound, GroupID: fmt.Sprint(b)})
	if out, _ := call(t, url, "getGroupAgentRelation", auth("u1", "t1", "groupId", fmt.Sprint(a))); code(out) != 200 {
		t.Errorf("read of the other group: %v, want success", out)
	}
	if out, _ := call(t, url, "getGroupAgentRelation", auth("u1", "t1", "groupId", fmt.Sprint(b))); code(out) != codeGroupNotFound {
		t.Errorf("first read of group b: %v, want 1503", out)
	}
	if out, _ := call(t, url, "getGroupAgentRelation", auth("u1", "t1", "groupId", fmt.Sprint(b))); code(out) != 200 {
		t.Errorf("second read of group b: %v, want success (one shot)", out)
	}

	s.Fail(FailRule{Op: "add", N: 1, Code: codeGeneric, AfterEffect: true})
	if out, _ := call(t, url, "add", auth("u1", "t1", "name", "C")); code(out) != codeGeneric {
		t.Errorf("add: %v, want 1009", out)
	}
	if g := s.Groups("u1"); len(g) != 3 || g[2].Name != "C" {
		t.Errorf("groups %+v: the add answered 1009 must still have made C", g)
	}
	if w := s.WritesByGroup(); len(w) != 1 || w[s.Groups("u1")[2].ID]["add"] != 1 {
		t.Errorf("writes %v, want the one add of C", w)
	}
}

func TestReadLagHidesNewGroups(t *testing.T) {
	_, url := start(t, Options{Faults: Faults{ReadLag: 300 * time.Millisecond}})
	out, _ := call(t, url, "add", auth("u1", "t1", "name", "Fresh"))
	id := fmt.Sprint(out["groupId"])
	if out, _ := call(t, url, "list", auth("u1", "t1", "forward", true)); len(out["response"].([]any)) != 0 {
		t.Errorf("list right after add: %v, want the group hidden", out)
	}
	if out, _ := call(t, url, "getGroupAgentRelation", auth("u1", "t1", "groupId", id)); code(out) != codeGroupNotFound {
		t.Errorf("read right after add: %v, want 1503", out)
	}
	time.Sleep(350 * time.Millisecond)
	if out, _ := call(t, url, "list", auth("u1", "t1", "forward", true)); len(out["response"].([]any)) != 1 {
		t.Errorf("list after the lag: %v, want the group", out)
	}
}

func TestUserRateLimitAnswers429(t *testing.T) {
	s, url := start(t, Options{UserRateLimit: 1, UserBurst: 2})
	statuses := []int{}
	for range 3 {
		_, st := call(t, url, "list", auth("u1", "t1", "forward", true))
		statuses = append(statuses, st)
	}
	if _, st := call(t, url, "list", auth("u2", "t2", "forward", true)); st != http.StatusOK {
		t.Errorf("another user was limited too: HTTP %d", st)
	}
	if !cmp.Equal(statuses, []int{200, 200, 429}) || s.Injected()["userRateLimit"] != 1 {
		t.Errorf("statuses %v, injected %v: want the third call over the burst refused", statuses, s.Injected())
	}
}

func TestThrottleOneUser(t *testing.T) {
	s, url := start(t, Options{})
	admin := func(body string) (map[string]any, int) {
		t.Helper()
		resp, err := http.Post(url+"/_sim/throttle", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return out, resp.StatusCode
	}
	list := func(body map[string]any) (int, string) {
		t.Helper()
		raw, _ := json.Marshal(body)
		resp, err := http.Post(url+"/api/v2/Group/list", "", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}

	if out, st := admin(`{"user":"u1","retryAfter":"60s"}`); st != http.StatusOK || out["u1"] != "1m0s" {
		t.Fatalf("set: HTTP %d %v", st, out)
	}
	for name, body := range map[string]map[string]any{"token": auth("u1", "t1"), "ssid": {"ssid": "s1"}} {
		if st, ra := list(body); st != http.StatusTooManyRequests || ra != "60" {
			t.Errorf("u1 by %s: HTTP %d Retry-After %q, want 429 with 60", name, st, ra)
		}
	}
	if out, st := call(t, url, "list", auth("u2", "t2")); st != http.StatusOK || out["status"] != "success" {
		t.Errorf("another user: HTTP %d %v, want it unaffected", st, out)
	}
	if out, st := call(t, url, "list", auth("u1", "wrong")); st != http.StatusOK || code(out) != codePermissionDenied {
		t.Errorf("bad credentials for u1: HTTP %d %v, want 1015 (not authenticated as u1)", st, out)
	}
	s.Throttle("u2", 1500*time.Millisecond)
	if st, ra := list(auth("u2", "t2")); st != http.StatusTooManyRequests || ra != "2" {
		t.Errorf("u2 at 1.5s: HTTP %d Retry-After %q, want 429 with 2 (rounded up)", st, ra)
	}
	if diff := cmp.Diff(map[string]int{"userThrottle": 3}, s.Injected()); diff != "" {
		t.Errorf("injected (-want +got):\n%s", diff)
	}

	for _, body := range []string{`{"user":"u1","retryAfter":"0s"}`, `{"user":"u2"}`} {
		if _, st := admin(body); st != http.StatusOK {
			t.Fatalf("clear %s: HTTP %d", body, st)
		}
	}
	if got := s.Throttled(); len(got) != 0 {
		t.Errorf("throttles after clearing: %v", got)
	}
	if st, _ := list(auth("u1", "t1")); st != http.StatusOK {
		t.Errorf("u1 after clearing: HTTP %d", st)
	}
	for _, bad := range []string{`{"retryAfter":"60s"}`, `{"user":"u1","retryAfter":"soon"}`, `{"user":"u1","retryAfter":"-1s"}`} {
		if _, st := admin(bad); st != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", bad, st)
		}
	}
	s.Throttle("u1", time.Minute)
	s.Reset()
	if got := s.Throttled(); len(got) != 0 {
		t.Errorf("throttles after Reset: %v", got)
	}
}

// A held add takes effect at once; its answer comes only on release, and
// a caller that gave up before then gets none.
func TestHeldAnswers(t *testing.T) {
	s, url := start(t, Options{})
	s.HoldNext("add", 2)
	post := func(ctx context.Context, name string) (*http.Response, error) {
		raw, _ := json.Marshal(auth("u1", "t1", "name", name))
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v2/Group/add", bytes.NewReader(raw))
		return http.DefaultClient.Do(req)
	}
	answered := make(chan error, 1)
	go func() {
		resp, err := post(context.Background(), "Held")
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		resp, err := post(ctx, "Abandoned")
		if err == nil {
			resp.Body.Close()
		}
		gaveUp <- err
	}()
	waitFor(t, "two held answers", func() bool { return s.Held() == 2 })
	if got := len(s.Groups("u1")); got != 2 {
		t.Fatalf("held adds: %d groups exist, want 2 (a held call takes effect before its answer)", got)
	}
	cancel()
	if err := <-gaveUp; err == nil {
		t.Error("a caller that gave up got an answer")
	}
	waitFor(t, "the abandoned answer to go", func() bool { return s.Held() == 1 })
	select {
	case err := <-answered:
		t.Fatalf("answered before release (%v)", err)
	default: // still held: Held counts it
	}
	s.Release()
	if err := <-answered; err != nil {
		t.Errorf("released answer: %v", err)
	}
	if out, _ := call(t, url, "add", auth("u1", "t1", "name", "After")); out["status"] != "success" {
		t.Errorf("the rule ran out, yet: %v", out)
	}
	if got := s.Injected()["held"]; got != 2 {
		t.Errorf("injected held = %d, want 2", got)
	}
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
