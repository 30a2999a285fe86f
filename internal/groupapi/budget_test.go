package groupapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// throttling answers 429 with Retry-After to the first n calls.
func throttling(t *testing.T, n int32, retryAfter string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= n {
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","code":200,"response":[]}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func client(t *testing.T, o groupapi.Options) *groupapi.Client {
	t.Helper()
	o.Credentials = groupapi.Credentials{SSID: "s"}
	c, err := groupapi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A reconcile's call made during a Retry-After pause is not sent and says
// until when; the pause is capped.
func TestRetryAfterHoldsNamedCallersWithoutSleeping(t *testing.T) {
	srv, calls := throttling(t, 1, "3600")
	c := client(t, groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, MaxRetryAfter: 2 * time.Second})
	ctx := groupapi.WithCaller(context.Background(), "group-a")
	_, err := c.List(ctx, groupapi.ListOptions{})
	until, ok := groupapi.HeldUntil(err)
	if !ok || time.Until(until) > 2*time.Second {
		t.Fatalf("429 with Retry-After 3600: HeldUntil %v %v, want at most the 2s cap (%v)", until, ok, err)
	}

	start := time.Now()
	_, err = c.List(groupapi.WithCaller(context.Background(), "group-b"), groupapi.ListOptions{})
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("a call during the pause took %v, want an immediate answer", took)
	}
	if !groupapi.NotSent(err) {
		t.Errorf("call during the pause: %v, want not sent", err)
	}
	if held, ok := groupapi.HeldUntil(err); !ok || !held.Equal(until) {
		t.Errorf("HeldUntil %v %v, want the pause's end %v", held, ok, until)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d requests reached the server, want 1", n)
	}
}

// A pass turned away by the token bucket keeps its turn, sized for every
// call it had made plus the refused one: when it comes back at the time it
// was given, its whole pass goes out without queueing again.
func TestTurnedAwayCallerKeepsItsTurn(t *testing.T) {
	srv, calls := throttling(t, 0, "")
	c := client(t, groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, RequestsPerSecond: 2, Burst: 2})
	pass := groupapi.WithCaller(context.Background(), "group")
	for range 2 {
		if _, err := c.List(pass, groupapi.ListOptions{}); err != nil {
			t.Fatal(err) // the burst
		}
	}
	_, err := c.List(pass, groupapi.ListOptions{})
	until, ok := groupapi.HeldUntil(err)
	if !ok || !groupapi.NotSent(err) {
		t.Fatalf("third call at 2/s: %v, want held back unsent", err)
	}
	time.Sleep(time.Until(until))
	again := groupapi.WithCaller(context.Background(), "group")
	start := time.Now()
	for i := range 2 {
		if _, err := c.List(again, groupapi.ListOptions{}); err != nil {
			t.Fatalf("call %d of the pass that came back at its turn: %v", i+1, err)
		}
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("the pass at its turn waited %v", took)
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("%d requests reached the server, want 4", n)
	}
}

// A pass that says it will make two calls, turned away at its first, gets
// a turn for both: its add and the assignment after it go out together.
func TestTurnCoversTheCallsAPassExpects(t *testing.T) {
	srv, calls := throttling(t, 0, "")
	c := client(t, groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, RequestsPerSecond: 2, Burst: 1})
	if _, err := c.List(groupapi.WithCaller(context.Background(), "someone else"), groupapi.ListOptions{}); err != nil {
		t.Fatal(err) // the burst is gone
	}
	pass := groupapi.WithCaller(context.Background(), "group")
	groupapi.ExpectCalls(pass, 2)
	_, err := c.List(pass, groupapi.ListOptions{})
	until, ok := groupapi.HeldUntil(err)
	if !ok {
		t.Fatalf("first call: %v, want held back", err)
	}
	time.Sleep(time.Until(until))
	again := groupapi.WithCaller(context.Background(), "group")
	for i := range 2 {
		if _, err := c.List(again, groupapi.ListOptions{}); err != nil {
			t.Fatalf("call %d at the turn: %v", i+1, err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d requests reached the server, want 3", n)
	}
}
