package plugin

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

const (
	doctorUser  = "u-doctor"
	doctorToken = "doctor-token-5b1e"
)

// brandHost is a simulator with three groups (the first with two
// members, one a receiver) behind an HTTP server that may deviate from
// GROUP_API.md: deviate gets each answer the simulator gave (by
// operation) and may change it.
type brandHost struct {
	sim *sim.Server
	url string
}

// answer is one HTTP answer a brandHost sends.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func newBrandHost(t *testing.T, opts sim.Options, user sim.User, deviate func(op string, a *answer)) *brandHost {
	t.Helper()
	s := sim.New(opts)
	s.AddUser(user)
	for i, name := range []string{"Sales", "Support", "Night Shift"} {
		id, err := s.CreateGroup(user.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := s.SetMembers(user.ID, id, []string{"1001", "1002"}, []string{"1001"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		a := &answer{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		if deviate != nil {
			deviate(path.Base(r.URL.Path), a)
		}
		for k, v := range a.header {
			w.Header()[k] = v
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	t.Cleanup(srv.Close)
	return &brandHost{sim: s, url: srv.URL}
}

func doctorSimUser(mut ...func(*sim.User)) sim.User {
	u := sim.User{ID: doctorUser, Token: doctorToken, Agents: sim.AgentRange(1000, 1099)}
	for _, m := range mut {
		m(&u)
	}
	return u
}

// runDoctor runs the API checks against host with creds, as doctor does
// after reading the Account, and returns the printed report and whether
// it failed.
func runDoctor(t *testing.T, host *brandHost, creds groupapi.Credentials, d apiDoctor) (string, bool) {
	t.Helper()
	c, err := groupapi.New(groupapi.Options{BaseURL: host.url, Credentials: creds, AllowInsecureLoopback: true, RequestsPerSecond: 100, Burst: 100, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d.client = c
	if d.expect.BaseURL == "" {
		d.expect = expectations{UserID: creds.UserID, BaseURL: host.url}
	}
	r := &report{}
	d.run(context.Background(), r)
	var out bytes.Buffer
	r.print(&out)
	t.Logf("doctor:\n%s", out.String())
	if strings.Contains(out.String(), doctorToken) {
		t.Errorf("the output holds the token")
	}
	return out.String(), r.failed()
}

var goodCreds = groupapi.Credentials{UserID: doctorUser, Token: doctorToken}

// lines asserts that out has a line matching each pattern (a whole line:
// `^  VERDICT +CHECK: SAW$`).
func lines(t *testing.T, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(`(?m)^` + p + `$`).MatchString(out) {
			t.Errorf("no line matches %s", p)
		}
	}
}

// --probe-write-endpoints against the simulator: every check ok, the
// write endpoints probed once each with the absent id, no group changed.
func TestDoctorAgainstTheSimulator(t *testing.T) {
	for name, errorStatus := range map[string]bool{"errors with HTTP 200": false, "errors with 4xx": true} {
		t.Run(name, func(t *testing.T) {
			host := newBrandHost(t, sim.Options{ErrorHTTPStatus: errorStatus}, doctorSimUser(), nil)
			before := host.sim.Groups(doctorUser)
			remote := doctorUser + "@" + strings.TrimPrefix(host.url, "http://")
			out, failed := runDoctor(t, host, goodCreds, apiDoctor{probeWrites: true, expect: expectations{UserID: doctorUser, RemoteAccount: remote, BaseURL: host.url}})
			if failed {
				t.Error("doctor failed against the simulator")
			}
			httpStatus, note := "200", ""
			if errorStatus {
				httpStatus, note = "404", ` \(errors come with HTTP 404: the operator judges by the body\)`
			}
			absent := `1000000003`
			lines(t, out,
				`  ok    list: 200 OK in [\d.]+ ms, 3 groups, wrapped in response\[\], ids are numbers under group_id, names under name, status 1 \(numbers\)`,
				`  ok    user: the records' user_id u-doctor is the Account's remoteAccount `+regexp.QuoteMeta(remote),
				`  ok    AGENT_TO_AGENT_CALL: list with forward: false answered 200 OK in [\d.]+ ms`,
				`  ok    getGroupAgentRelation 1: 200 OK in [\d.]+ ms, groupData an object, relationData\[2\], agentData\[2\], receive_call 0/1 \(numbers\)`,
				`  ok    getGroupAgentRelation `+absent+` \(absent\): 1503 "Group not found or not authorized" with HTTP `+httpStatus+` in [\d.]+ ms`+note,
				`  ok    list groupid `+absent+` \(absent\): 200 OK in [\d.]+ ms, no record`,
				`  ok    update `+absent+` \(absent\): 1503 "Group not found or not authorized" with HTTP `+httpStatus+` in [\d.]+ ms`+note,
				`  ok    delete `+absent+` \(absent\): 1503 .*`,
				`  ok    submitAssignGroupToAgent `+absent+` \(absent\): 1503 .*`,
				`  skip  add: not checked, it creates a group`,
				`  ok    latency list: 3 calls, min [\d.]+ ms, median [\d.]+ ms, max [\d.]+ ms`,
				`  ok    latency getGroupAgentRelation: 2 calls, .*`,
				`  ok    latency update: 1 call, .*`,
				`  ok    Retry-After: no 429 answered`,
				`  ok    redirects: none`,
				`16 ok, 0 warn, 0 FAIL, 1 skipped: the operator can reconcile this account`,
			)
			if w := host.sim.WritesByGroup(); len(w) != 0 {
				t.Errorf("writes %v, want none", w)
			}
			if after := host.sim.Groups(doctorUser); !equalGroups(before, after) {
				t.Errorf("groups changed: %+v -> %+v", before, after)
			}
			if calls := host.sim.Calls(); calls["add"] != 0 || calls["update"] != 1 || calls["delete"] != 1 || calls["submitAssignGroupToAgent"] != 1 {
				t.Errorf("calls %v: want no add and one probe of each write endpoint", calls)
			}
		})
	}
}

func equalGroups(a, b []sim.Group) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Name != b[i].Name || a[i].Status != b[i].Status ||
			strings.Join(a[i].Members, ",") != strings.Join(b[i].Members, ",") || strings.Join(a[i].Receivers, ",") != strings.Join(b[i].Receivers, ",") {
			return false
		}
	}
	return true
}

func TestDoctorPermissionAndCredentials(t *testing.T) {
	t.Run("user without AGENT_TO_AGENT_CALL", func(t *testing.T) {
		host := newBrandHost(t, sim.Options{}, doctorSimUser(func(u *sim.User) { u.DenyAgentToAgentCall = true }), nil)
		out, failed := runDoctor(t, host, goodCreds, apiDoctor{})
		if !failed {
			t.Error("doctor did not fail")
		}
		lines(t, out,
			`  ok    list: 200 OK in [\d.]+ ms, 3 groups, .*`,
			`  FAIL  AGENT_TO_AGENT_CALL: list with forward: false answered 1015 "Permission denied: AGENT_TO_AGENT_CALL" with HTTP 200 in [\d.]+ ms: the user lacks the AGENT_TO_AGENT_CALL permission, .*grant it to user u-doctor in DeepCall.*`,
			`  skip  user: not checked: .*`,
			`  skip  list groupid 1000000003 \(absent\): not checked: .*AGENT_TO_AGENT_CALL`,
			`\d+ ok, \d+ warn, 1 FAIL, \d+ skipped: the operator cannot reconcile this account`,
		)
	})
	t.Run("wrong token", func(t *testing.T) {
		host := newBrandHost(t, sim.Options{}, doctorSimUser(), nil)
		out, failed := runDoctor(t, host, groupapi.Credentials{UserID: doctorUser, Token: "wrong-" + doctorToken}, apiDoctor{})
		if !failed || strings.Contains(out, "wrong-") {
			t.Errorf("failed %v; the output must not hold the token", failed)
		}
		lines(t, out,
			`  FAIL  list: credentials refused: 1015 "Invalid credentials" with HTTP 200 in [\d.]+ ms: fix the Secret's userId and token .*`,
			`  skip  AGENT_TO_AGENT_CALL: not checked: the credentials were refused`,
			`\d+ ok, 0 warn, 1 FAIL, 2 skipped: the operator cannot reconcile this account`,
		)
		if calls := host.sim.Calls(); calls["list"] != 2 || len(calls) != 1 {
			t.Errorf("calls %v: want the two listings only", calls)
		}
	})
}

// Brand hosts that deviate from GROUP_API.md the ways a real one might:
// each deviation on the line of the check that sees it, with the verdict
// it deserves.
func TestDoctorDeviations(t *testing.T) {
	replace := func(op, old, new string) func(string, *answer) {
		return func(o string, a *answer) {
			if o == op {
				a.body = []byte(regexp.MustCompile(old).ReplaceAllString(string(a.body), new))
			}
		}
	}
	var throttled atomic.Bool
	cases := map[string]struct {
		deviate     func(op string, a *answer)
		probeWrites bool
		failed      bool
		want        []string
	}{
		"ids as numeric strings": {
			deviate: replace("list", `"group_id":(\d+)`, `"group_id":"$1"`),
			want:    []string{`  ok    list: 200 OK in [\d.]+ ms, 3 groups, wrapped in response\[\], ids are numeric strings under group_id, .*`},
		},
		"ids under id": {
			deviate: replace("list", `"group_id":(\d+)`, `"id":$1`),
			want:    []string{`  warn  list: 200 OK in [\d.]+ ms, 3 groups, wrapped in response\[\], ids are numbers under id \(GROUP_API.md: group_id; the operator reads it\), .*`},
		},
		"list wrapped in an object": {
			deviate: replace("list", `"response":(\[.*\])`, `"response":{"total":3,"groups":$1}`),
			want:    []string{`  warn  list: 200 OK in [\d.]+ ms, 3 groups, wrapped in response.groups\[\] \(GROUP_API.md: response\[\]; the operator reads it\), .*`},
		},
		"list not wrapped in response": {
			deviate: replace("list", `"response":`, `"data":`),
			failed:  true,
			want: []string{
				`  FAIL  list: 200 OK in [\d.]+ ms, no response field \(fields: code, data, status\): the operator reads no group from this answer and would take every group for deleted`,
				`  FAIL  AGENT_TO_AGENT_CALL: list with forward: false answered 200 OK in [\d.]+ ms; its records: no response field .*`,
				`  skip  getGroupAgentRelation: not checked on a listed group: no group listed`,
			},
		},
		"an unknown error code for an absent group": {
			deviate:     replace("getGroupAgentRelation", `"code":1503`, `"code":4004`),
			probeWrites: true,
			failed:      true,
			want: []string{
				`  FAIL  getGroupAgentRelation 1000000003 \(absent\): 4004 "Group not found or not authorized" with HTTP 200 in [\d.]+ ms: code 4004 is not one GROUP_API.md lists .*`,
				`  skip  update 1000000003 \(absent\): not checked: the id was not proven absent \(see getGroupAgentRelation\)`,
			},
		},
		"errors as an HTML 404 page": {
			deviate: func(op string, a *answer) {
				if bytes.Contains(a.body, []byte(`"code":1503`)) {
					a.status, a.body = 404, []byte("<html><body>Not Found</body></html>")
				}
			},
			failed: true,
			want:   []string{`  FAIL  getGroupAgentRelation 1000000003 \(absent\): HTTP 404, unexpected answer: "<html><body>Not Found</body></html>" in [\d.]+ ms: GROUP_API.md says 1503: .*`},
		},
		"a 302 redirect": {
			deviate: func(op string, a *answer) {
				a.status, a.body = http.StatusFound, nil
				a.header = http.Header{"Location": {"https://login.example.com/sso?token=" + doctorToken}}
			},
			failed: true,
			want: []string{
				`  FAIL  list: HTTP 302 redirecting to login.example.com \(see redirects\)`,
				`  skip  AGENT_TO_AGENT_CALL: not checked: the brand host redirects \(see redirects\)`,
				`  FAIL  redirects: list answered HTTP 302 redirecting to login.example.com: the client never follows redirects, so the operator would stall the Account with InvalidBaseURL: set baseURL to the host that serves the API`,
			},
		},
		"a 429 with Retry-After": {
			deviate: func(op string, a *answer) {
				if op == "list" && !throttled.Swap(true) {
					a.status, a.body = http.StatusTooManyRequests, []byte(`{"status":"error","message":"Too many requests","code":1009}`)
					a.header = http.Header{"Retry-After": {"1"}}
				}
			},
			want: []string{
				`  ok    list: 200 OK in [\d.]+ ms, 3 groups, .*`,
				`  warn  Retry-After: list answered 429 with Retry-After: 1; waited 1s and sent it again: 200 OK in [\d.]+ ms \(the operator pauses every call of the account for it\)`,
				`  ok    latency list: 4 calls, .*`,
			},
		},
		"a 429 with a Retry-After longer than doctor waits": {
			deviate: func(op string, a *answer) {
				a.status, a.body = http.StatusTooManyRequests, []byte(`{"status":"error","message":"Too many requests","code":1009}`)
				a.header = http.Header{"Retry-After": {"60"}}
			},
			want: []string{
				`  warn  list: 1009 "Too many requests" with HTTP 429 in [\d.]+ ms: not checked \(see Retry-After\)`,
				`  skip  AGENT_TO_AGENT_CALL: not checked: the API asked for a pause of 1m0s \(429 Retry-After\), longer than doctor waits \(10s\): run it again later`,
				`  warn  Retry-After: list answered 429 with Retry-After: 60; not waited for \(the operator pauses every call of the account for it\)`,
				`\d+ ok, 2 warn, 0 FAIL, 2 skipped: no mismatch so far, but not every check was made: the API asked for a pause of 1m0s .*`,
			},
		},
		"missing relationData": {
			deviate: replace("getGroupAgentRelation", `,?"relationData":\[[^\]]*\]`, ``),
			failed:  true,
			want:    []string{`  FAIL  getGroupAgentRelation 1: 200 OK in [\d.]+ ms, groupData an object, no relationData: the operator would read every group as having no members and assign them again on every check`},
		},
		"groupData without an id (GROUP_API.md's Seen fields only)": {
			deviate: replace("getGroupAgentRelation", `("groupData":\{[^}]*)"group_id":\d+,?`, `$1`),
			failed:  true,
			want:    []string{`  FAIL  getGroupAgentRelation 1: HTTP 200, groupData: response holds no list of records in [\d.]+ ms: the operator could not read its groups' members`},
		},
		"receive_call missing": {
			deviate: replace("getGroupAgentRelation", `,?"receive_call":\d`, ``),
			failed:  true,
			want:    []string{`  FAIL  getGroupAgentRelation 1: .*2 relation records without receive_call: .*`},
		},
		"status as strings": {
			deviate: replace("list", `"status":(\d)`, `"status":"$1"`),
			want:    []string{`  warn  list: .*, status 1 \(numeric strings\)`},
		},
		"success for a write to an absent group": {
			deviate: func(op string, a *answer) {
				if op == "delete" {
					a.status, a.body = 200, []byte(`{"status":"success","code":200,"message":"Group deleted successfully"}`)
				}
			},
			probeWrites: true,
			failed:      true,
			want:        []string{`  FAIL  delete 1000000003 \(absent\): 200 OK in [\d.]+ ms for a group that does not exist: the operator could not trust what a write answers`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			host := newBrandHost(t, sim.Options{}, doctorSimUser(), tc.deviate)
			out, failed := runDoctor(t, host, goodCreds, apiDoctor{probeWrites: tc.probeWrites})
			if failed != tc.failed {
				t.Errorf("failed %v, want %v", failed, tc.failed)
			}
			lines(t, out, tc.want...)
			if w := host.sim.WritesByGroup(); len(w) != 0 {
				t.Errorf("writes %v, want none", w)
			}
		})
	}
}

// By default doctor only reads: a skip line per write endpoint says how to
// check it, and no update, delete, submitAssignGroupToAgent or add is sent.
func TestDoctorIsReadOnlyByDefault(t *testing.T) {
	host := newBrandHost(t, sim.Options{}, doctorSimUser(), nil)
	out, failed := runDoctor(t, host, goodCreds, apiDoctor{})
	if failed {
		t.Error("doctor failed")
	}
	notProbed := ` not checked: doctor is read-only; --probe-write-endpoints sends it for a group id that does not exist`
	lines(t, out,
		`  ok    getGroupAgentRelation 1000000003 \(absent\): 1503 .*`,
		`  ok    list groupid 1000000003 \(absent\): 200 OK in [\d.]+ ms, no record`,
		`  skip  update:`+notProbed,
		`  skip  delete:`+notProbed,
		`  skip  submitAssignGroupToAgent:`+notProbed,
		`  skip  add: not checked, it creates a group`,
		`10 ok, 0 warn, 0 FAIL, 4 skipped: no mismatch in the reads; the write endpoints were not probed \(--probe-write-endpoints\)`,
	)
	if calls := host.sim.Calls(); calls["update"]+calls["delete"]+calls["submitAssignGroupToAgent"]+calls["add"] != 0 {
		t.Errorf("calls %v: want no write endpoint called", calls)
	}
}
