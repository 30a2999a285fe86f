package groupapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

const (
	user  = "u1"
	token = "secret-token-value"
)

// newSim starts a simulator over real HTTP with one user (agents 1000-1099)
// and returns it with a client for that user.
func newSim(t *testing.T, opts sim.Options, mut ...func(*sim.User)) (*sim.Server, *groupapi.Client) {
	t.Helper()
	s := sim.New(opts)
	u := sim.User{ID: user, Token: token, SSIDs: []string{"ssid-1"}, Agents: sim.AgentRange(1000, 1099)}
	for _, m := range mut {
		m(&u)
	}
	s.AddUser(u)
	s.AddUser(sim.User{ID: "other", Token: "other-token", Agents: sim.AgentRange(1000, 1099)})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: groupapi.Credentials{UserID: user, Token: token}, RequestsPerSecond: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func TestEveryEndpointAgainstTheSimulator(t *testing.T) {
	for _, errorStatus := range []bool{false, true} {
		t.Run(map[bool]string{false: "errors with HTTP 200", true: "errors with 4xx/5xx"}[errorStatus], func(t *testing.T) {
			ctx := context.Background()
			s, c := newSim(t, sim.Options{ErrorHTTPStatus: errorStatus})

			id, err := c.Add(ctx, "Sales Team")
			if err != nil || id == "" {
				t.Fatalf("add: %q, %v", id, err)
			}
			twin, err := c.Add(ctx, "sales TEAM")
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SubmitAssignGroupToAgent(ctx, groupapi.AssignRequest{GroupID: id, Members: []string{"1002", "1001"}, Receivers: []string{"1001"}}); err != nil {
				t.Fatalf("assign: %v", err)
			}
			d, err := c.GetGroupAgentRelation(ctx, id)
			if err != nil {
				t.Fatalf("relation: %v", err)
			}
			want := groupapi.GroupDetail{Group: groupapi.Group{ID: id, Name: "Sales Team", Enabled: true, UserID: user, CreateDate: d.Group.CreateDate},
				Members: []string{"1001", "1002"}, Receivers: []string{"1001"}}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("relation (-want +got):\n%s", diff)
			}
			if err := c.Update(ctx, groupapi.UpdateRequest{GroupID: id, Name: "Sales EU", Enabled: false}); err != nil {
				t.Fatalf("update: %v", err)
			}
			list, err := c.List(ctx, groupapi.ListOptions{Name: "SALES", Quick: true})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			got := map[string]groupapi.Group{}
			for _, g := range list {
				got[g.ID] = g
			}
			if g := got[id]; g.Name != "Sales EU" || g.Enabled {
				t.Errorf("renamed, disabled group listed as %+v", g)
			}
			if g := got[twin]; g.Name != "sales TEAM 1" {
				t.Errorf("the duplicate name got %q, want a number appended", g.Name)
			}
			one, err := c.List(ctx, groupapi.ListOptions{GroupID: id})
			if err != nil || len(one) != 1 || one[0].ID != id {
				t.Errorf("list by id: %+v, %v", one, err)
			}
			if err := c.Delete(ctx, id); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if err := c.Delete(ctx, id); !groupapi.IsNotFound(err) {
				t.Errorf("second delete: %v, want not found", err)
			}
			if n := len(s.Groups(user)); n != 1 {
				t.Errorf("groups left %d, want 1", n)
			}
			if diff := cmp.Diff(map[string]int{"add": 2, "submitAssignGroupToAgent": 1, "getGroupAgentRelation": 1, "update": 1, "list": 2, "delete": 2}, s.Calls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorCodesAndClasses(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		call  func(c *groupapi.Client, s *sim.Server) error
		code  int
		class groupapi.Class
		perm  bool
	}{
		"1501 add without a name": {call: func(c *groupapi.Client, _ *sim.Server) error { _, err := c.Add(ctx, ""); return err },
			code: groupapi.CodeNameRequired, class: groupapi.ClassTerminal},
		"1502 delete without an id": {call: func(c *groupapi.Client, _ *sim.Server) error { return c.Delete(ctx, "") },
			code: groupapi.CodeGroupIDRequired, class: groupapi.ClassTerminal},
		"1503 unknown group": {call: func(c *groupapi.Client, _ *sim.Server) error {
			_, err := c.GetGroupAgentRelation(ctx, "424242")
			return err
		},
			code: groupapi.CodeGroupNotFound, class: groupapi.ClassNotFound},
		"1503 another user's group": {call: func(c *groupapi.Client, s *sim.Server) error {
			id, _ := s.CreateGroup("other", "Theirs")
			return c.Update(ctx, groupapi.UpdateRequest{GroupID: itoa(id), Name: "Mine"})
		}, code: groupapi.CodeGroupNotFound, class: groupapi.ClassNotFound},
		"1047 receiver not a member": {call: func(c *groupapi.Client, s *sim.Server) error {
			id, _ := s.CreateGroup(user, "G")
			return c.SubmitAssignGroupToAgent(ctx, groupapi.AssignRequest{GroupID: itoa(id), Members: []string{"1001"}, Receivers: []string{"1002"}})
		}, code: groupapi.CodeInvalidData, class: groupapi.ClassTerminal},
		"1047 unknown agent": {call: func(c *groupapi.Client, s *sim.Server) error {
			id, _ := s.CreateGroup(user, "G")
			return c.SubmitAssignGroupToAgent(ctx, groupapi.AssignRequest{GroupID: itoa(id), Members: []string{"9999"}})
		}, code: groupapi.CodeInvalidData, class: groupapi.ClassTerminal},
		"1015 injected on assign": {call: func(c *groupapi.Client, s *sim.Server) error {
			s.FailNext("submitAssignGroupToAgent", 1, groupapi.CodePermissionDenied)
			return c.SubmitAssignGroupToAgent(ctx, groupapi.AssignRequest{GroupID: "1"})
		}, code: groupapi.CodePermissionDenied, class: groupapi.ClassTerminal, perm: true},
		"1000 injected": {call: func(c *groupapi.Client, s *sim.Server) error {
			s.FailNext("list", 1, groupapi.CodeInvalidParameters)
			_, err := c.List(ctx, groupapi.ListOptions{})
			return err
		}, code: groupapi.CodeInvalidParameters, class: groupapi.ClassTerminal},
		"1009 something went wrong": {call: func(c *groupapi.Client, s *sim.Server) error {
			s.FailNext("list", 1, groupapi.CodeGeneric)
			_, err := c.List(ctx, groupapi.ListOptions{})
			return err
		}, code: groupapi.CodeGeneric, class: groupapi.ClassRetryable},
	}
	for _, errorStatus := range []bool{false, true} {
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				s, c := newSim(t, sim.Options{ErrorHTTPStatus: errorStatus})
				err := tc.call(c, s)
				var apiErr *groupapi.APIError
				if !errors.As(err, &apiErr) {
					t.Fatalf("error %v (%T), want *APIError", err, err)
				}
				if apiErr.Code != tc.code || groupapi.Classify(err) != tc.class || groupapi.IsPermissionDenied(err) != tc.perm {
					t.Errorf("got code %d class %s permission %v (%v), want %d %s %v", apiErr.Code, groupapi.Classify(err), groupapi.IsPermissionDenied(err), err, tc.code, tc.class, tc.perm)
				}
			})
		}
	}
}

func TestCredentials(t *testing.T) {
	ctx := context.Background()
	s, _ := newSim(t, sim.Options{}, func(u *sim.User) { u.DenyAgentToAgentCall = true })
	srv := httptest.NewServer(s)
	defer srv.Close()
	client := func(c groupapi.Credentials) *groupapi.Client {
		cl, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: c})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	// With forward false, list needs AGENT_TO_AGENT_CALL; with true it does not.
	if _, err := client(groupapi.Credentials{SSID: "ssid-1"}).List(ctx, groupapi.ListOptions{Forward: true}); err != nil {
		t.Errorf("ssid: %v", err)
	}
	if _, err := client(groupapi.Credentials{SSID: "ssid-1"}).List(ctx, groupapi.ListOptions{}); !groupapi.IsPermissionDenied(err) {
		t.Errorf("list without the permission: %v, want 1015", err)
	}
	_, err := client(groupapi.Credentials{UserID: user, Token: "wrong"}).List(ctx, groupapi.ListOptions{Forward: true})
	if !groupapi.IsPermissionDenied(err) || !groupapi.IsTerminal(err) {
		t.Errorf("wrong token: %v, want a terminal permission error", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q holds the token", err)
	}
	for _, bad := range []groupapi.Credentials{{}, {UserID: "u"}, {Token: "t"}, {SSID: "s", Token: "t"}} {
		if _, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: bad}); err == nil {
			t.Errorf("credentials %v accepted", bad)
		}
	}
	c := groupapi.Credentials{UserID: user, Token: token, SSID: "ssid-value"}
	for _, text := range []string{c.String(), c.GoString()} {
		if strings.Contains(text, token) || strings.Contains(text, "ssid-value") {
			t.Errorf("credentials print as %q", text)
		}
	}
}

func TestBaseURL(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://ctv3-dev.sarv.com": true, "https://v4-api.deepcall.com/": true, "http://127.0.0.1:8080": true,
		"http://[::1]:80": true, "http://localhost": true, "http://ctv3-dev.sarv.com": false, "ftp://x": false,
		"ctv3-dev.sarv.com": false, "https://x/?a=b": false, "": false,
	} {
		if err := groupapi.ValidateBaseURL(url); (err == nil) != ok {
			t.Errorf("ValidateBaseURL(%q) = %v, want ok=%v", url, err, ok)
		}
	}
}

func TestLostResponseCommits(t *testing.T) {
	s, c := newSim(t, sim.Options{})
	s.LoseNext("add", 1)
	_, err := c.Add(context.Background(), "Lost")
	if !groupapi.IsRetryable(err) {
		t.Fatalf("lost answer: %v, want retryable", err)
	}
	if g := s.Groups(user); len(g) != 1 || g[0].Name != "Lost" {
		t.Errorf("groups %+v: the add must have taken effect", g)
	}
}

func TestRateLimitIsNeverExceeded(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	s := sim.New(sim.Options{})
	s.AddUser(sim.User{ID: user, Token: token})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		s.ServeHTTP(w, r)
	}))
	defer srv.Close()
	const rps, burst, calls = 20, 5, 35
	c, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: groupapi.Credentials{UserID: user, Token: token}, RequestsPerSecond: rps, Burst: burst})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() { _, _ = c.List(context.Background(), groupapi.ListOptions{}) })
	}
	wg.Wait()
	if len(times) != calls {
		t.Fatalf("server saw %d calls, want %d", len(times), calls)
	}
	// In any window of length w, a token bucket lets through at most
	// burst + rps*w calls.
	for i := range times {
		for j := i; j < len(times); j++ {
			w := times[j].Sub(times[i]).Seconds()
			if n := j - i + 1; float64(n) > burst+rps*w+1 {
				t.Fatalf("%d calls within %.3fs: more than burst %d + %d/s allow", n, w, burst, rps)
			}
		}
	}
	if total := times[len(times)-1].Sub(times[0]).Seconds(); total < float64(calls-burst)/rps*0.9 {
		t.Errorf("%d calls took %.2fs, faster than the limit allows", calls, total)
	}
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

// The before-send hook runs after the rate-limit wait and can stop the
// call unsent; a refused connection is "not sent" too.
func TestBeforeSendAndNotSent(t *testing.T) {
	s, c := newSim(t, sim.Options{})
	var order []string
	ctx := groupapi.WithBeforeSend(context.Background(), func() error {
		order = append(order, "hook")
		return nil
	})
	if _, err := c.Add(ctx, "Hooked"); err != nil {
		t.Fatal(err)
	}
	if len(order) != 1 || s.Calls()["add"] != 1 {
		t.Fatalf("hook calls %v, add calls %d: want one each", order, s.Calls()["add"])
	}

	refuse := groupapi.WithBeforeSend(context.Background(), func() error { return errors.New("intent not recorded") })
	_, err := c.Add(refuse, "Refused")
	if !groupapi.NotSent(err) || s.Calls()["add"] != 1 {
		t.Errorf("refused hook: err %v (NotSent %v), add calls %d: want not sent", err, groupapi.NotSent(err), s.Calls()["add"])
	}

	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there now
	dead, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: groupapi.Credentials{UserID: user, Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Add(context.Background(), "Nowhere"); !groupapi.NotSent(err) {
		t.Errorf("refused connection: %v, want NotSent", err)
	}
}

// Two clients of one remote account share one budget.
func TestClientsShareABudget(t *testing.T) {
	s, _ := newSim(t, sim.Options{})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	budget := groupapi.NewBudget(20, 1)
	var clients []*groupapi.Client
	for _, creds := range []groupapi.Credentials{{UserID: user, Token: token}, {SSID: "ssid-1"}} {
		c, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: creds, Budget: budget})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := clients[i%2].List(context.Background(), groupapi.ListOptions{Forward: true}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// 10 calls at 20/s with a burst of 1 take at least 9 intervals of
	// 50 ms, whichever client makes them.
	if elapsed := time.Since(start); elapsed < 9*50*time.Millisecond {
		t.Errorf("10 calls through one budget of 20/s took %v, want at least 450ms", elapsed)
	}
}
