package groupapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// odd answers a fixed status, headers and body to every request.
func odd(t *testing.T, status int, body string, header map[string]string, delay time.Duration) *groupapi.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: groupapi.Credentials{UserID: "u", Token: token}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTolerantDecoding(t *testing.T) {
	ctx := context.Background()
	t.Run("ids as strings, status as string, list wrapped in an object", func(t *testing.T) {
		c := odd(t, 200, `{"status":"success","code":"200","response":{"groups":[{"groupId":"7","name":"A","status":"0"},{"id":8,"name":"B"}]}}`, nil, 0)
		got, err := c.List(ctx, groupapi.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := []groupapi.Group{{ID: "7", Name: "A", Enabled: false}, {ID: "8", Name: "B", Enabled: true}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("add with a string id", func(t *testing.T) {
		id, err := odd(t, 200, `{"status":"success","groupId":"12","code":200}`, nil, 0).Add(ctx, "x")
		if err != nil || id != "12" {
			t.Errorf("add: %q, %v", id, err)
		}
	})
	t.Run("relation with string receive_call and group data as a list", func(t *testing.T) {
		d, err := odd(t, 200, `{"status":"success","code":200,"response":{"groupData":[{"group_id":"5","name":"G","status":1}],
			"relationData":[{"group_id":"5","agent_unique_id":1002,"receive_call":"1"},{"group_id":5,"agent_unique_id":"1001","receive_call":0}]}}`, nil, 0).GetGroupAgentRelation(ctx, "5")
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(d.Members, []string{"1001", "1002"}) || !cmp.Equal(d.Receivers, []string{"1002"}) {
			t.Errorf("detail %+v", d)
		}
	})

	cases := map[string]struct {
		status int
		body   string
		header map[string]string
		delay  time.Duration
		class  groupapi.Class
		code   int
		check  func(t *testing.T, err error)
	}{
		"error body with HTTP 200": {status: 200, body: `{"status":"error","message":"Group not found","code":1503}`, class: groupapi.ClassNotFound, code: 1503},
		"error body with HTTP 404": {status: 404, body: `{"status":"error","message":"Group not found","code":"1503"}`, class: groupapi.ClassNotFound, code: 1503},
		"HTML 502 from a proxy":    {status: 502, body: "<html><body><h1>502 Bad Gateway</h1></body></html>", class: groupapi.ClassRetryable},
		"HTML page with HTTP 200":  {status: 200, body: "<html>maintenance</html>", class: groupapi.ClassRetryable},
		"empty body":               {status: 200, body: "", class: groupapi.ClassRetryable},
		"truncated JSON":           {status: 200, body: `{"status":"succ`, class: groupapi.ClassRetryable},
		"HTTP 401 without a body": {status: 401, body: "", class: groupapi.ClassTerminal, check: func(t *testing.T, err error) {
			if !groupapi.IsPermissionDenied(err) {
				t.Errorf("401 is a permission problem: %v", err)
			}
		}},
		"HTTP 500 with 1009":         {status: 500, body: `{"status":"error","message":"Something went wrong","code":1009}`, class: groupapi.ClassRetryable, code: 1009},
		"an unknown code":            {status: 200, body: `{"status":"error","message":"new","code":4242}`, class: groupapi.ClassRetryable, code: 4242},
		"success without a response": {status: 200, body: `{"status":"success","code":200}`, class: groupapi.ClassSuccess},
		"429 with Retry-After seconds": {status: 429, body: "slow down", header: map[string]string{"Retry-After": "3"}, class: groupapi.ClassRetryable, check: func(t *testing.T, err error) {
			if until, ok := groupapi.HeldUntil(err); !ok || time.Until(until) > 3*time.Second || time.Until(until) < 2*time.Second {
				t.Errorf("HeldUntil = %v %v, want 3s from now", until, ok)
			}
		}},
		"slow server past the timeout": {status: 200, body: `{"status":"success"}`, delay: time.Second, class: groupapi.ClassRetryable, check: func(t *testing.T, err error) {
			var e *groupapi.APIError
			if !errors.As(err, &e) || e.Err == nil || !strings.Contains(err.Error(), "timeout") {
				t.Errorf("want a timeout transport error, got %v", err)
			}
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := odd(t, tc.status, tc.body, tc.header, tc.delay)
			_, err := c.List(ctx, groupapi.ListOptions{})
			if got := groupapi.Classify(err); got != tc.class {
				t.Errorf("class %s (%v), want %s", got, err, tc.class)
			}
			var e *groupapi.APIError
			if err != nil && (!errors.As(err, &e) || e.Code != tc.code) {
				t.Errorf("error %#v, want *APIError with code %d", err, tc.code)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("error %q holds the token", err)
			}
			if tc.check != nil {
				tc.check(t, err)
			}
		})
	}
}

func TestThrottledClientPausesEveryCall(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","code":200,"response":[]}`))
	}))
	defer srv.Close()
	c, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: groupapi.Credentials{SSID: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(context.Background(), groupapi.ListOptions{}); err == nil {
		t.Fatal("want the 429")
	}
	start := time.Now()
	if _, err := c.List(context.Background(), groupapi.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Errorf("the next call went out after %v, before Retry-After", waited)
	}
}
