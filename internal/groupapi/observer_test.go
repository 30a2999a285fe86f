package groupapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// observed runs call with an observer and returns what it reported.
func observed(t *testing.T, call func(ctx context.Context) error) ([]groupapi.Exchange, error) {
	t.Helper()
	var seen []groupapi.Exchange
	ctx := groupapi.WithObserver(context.Background(), func(e groupapi.Exchange) { seen = append(seen, e) })
	err := call(ctx)
	return seen, err
}

// The observer sees each sent call once, with the HTTP status, the raw
// body and the call's error: success and error answers, with HTTP 200 and
// with 4xx.
func TestObserverSeesEachAnswer(t *testing.T) {
	for _, errorStatus := range []bool{false, true} {
		s, c := newSim(t, sim.Options{ErrorHTTPStatus: errorStatus})
		id, err := s.CreateGroup(user, "Observed")
		if err != nil {
			t.Fatal(err)
		}
		seen, err := observed(t, func(ctx context.Context) error {
			_, err := c.List(ctx, groupapi.ListOptions{Quick: true})
			return err
		})
		if err != nil || len(seen) != 1 {
			t.Fatalf("list: %v, %d exchanges, want one", err, len(seen))
		}
		if e := seen[0]; e.Op != groupapi.OpList || e.HTTPStatus != 200 || e.Err != nil || e.Duration <= 0 ||
			!strings.Contains(string(e.Body), `"response":[{"group_id":`+itoa(id)+`,"name":"Observed","status":1}]`) {
			t.Errorf("list exchange %+v (body %s)", e, e.Body)
		}

		seen, err = observed(t, func(ctx context.Context) error {
			_, err := c.GetGroupAgentRelation(ctx, "999999")
			return err
		})
		wantStatus := map[bool]int{false: 200, true: 404}[errorStatus]
		if len(seen) != 1 || !groupapi.IsNotFound(err) {
			t.Fatalf("relation of an absent group: %v, %d exchanges", err, len(seen))
		}
		if e := seen[0]; e.HTTPStatus != wantStatus || e.Err != err || !strings.Contains(string(e.Body), `"code":1503`) {
			t.Errorf("error exchange %+v (body %s), want HTTP %d, 1503 and the call's error", e, e.Body, wantStatus)
		}
	}
}

// A 429's Retry-After and a redirect's Location come with the exchange;
// a body echoing the credentials is redacted, uncut; a call that never got
// an answer has HTTP status 0; a call held back unsent is not reported.
func TestObserverHeadersRedactionAndUnsentCalls(t *testing.T) {
	ctx := context.Background()
	list := func(c *groupapi.Client) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.List(ctx, groupapi.ListOptions{})
			return err
		}
	}

	seen, err := observed(t, list(odd(t, 429, `{"status":"error","code":1009,"message":"slow down"}`, map[string]string{"Retry-After": "7"}, 0)))
	if len(seen) != 1 || seen[0].HTTPStatus != 429 || seen[0].RetryAfter != "7" || err == nil {
		t.Errorf("429: %+v, %v: want one exchange with Retry-After 7", seen, err)
	}

	seen, err = observed(t, list(odd(t, 302, "", map[string]string{"Location": "https://elsewhere.example/login?token=" + token}, 0)))
	if len(seen) != 1 || seen[0].HTTPStatus != 302 || seen[0].Location != "https://elsewhere.example/login?token=[redacted]" || !groupapi.IsRedirect(err) {
		t.Errorf("302: %+v, %v: want one exchange with the Location, token redacted", seen, err)
	}
	// A relative Location is resolved against the request, so that the
	// exchange names the host the error does.
	seen, err = observed(t, list(odd(t, 307, "", map[string]string{"Location": "/login"}, 0)))
	if len(seen) != 1 || !strings.HasSuffix(seen[0].Location, "/login") || !strings.HasPrefix(seen[0].Location, "http://127.0.0.1:") ||
		!strings.Contains(err.Error(), "HTTP 307 "+groupapi.RedirectTarget(seen[0].Location)+";") {
		t.Errorf("307 to /login: %+v, %v: want the Location resolved to the brand host, named as the error names it", seen, err)
	}

	long := strings.Repeat("x", 1000)
	seen, _ = observed(t, list(odd(t, 200, `{"status":"success","response":[],"echo":"`+token+long+`"}`, nil, 0)))
	if len(seen) != 1 || strings.Contains(string(seen[0].Body), token) || !strings.Contains(string(seen[0].Body), "[redacted]"+long) {
		t.Errorf("echo: body %q, want the token redacted and the body whole", seen[0].Body)
	}

	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	dead, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: groupapi.Credentials{UserID: user, Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	seen, err = observed(t, list(dead))
	if len(seen) != 1 || seen[0].HTTPStatus != 0 || seen[0].Err == nil || err == nil {
		t.Errorf("no answer: %+v, %v: want one exchange with HTTP status 0 and the error", seen, err)
	}

	_, c := newSim(t, sim.Options{})
	var n int
	refused := groupapi.WithBeforeSend(groupapi.WithObserver(ctx, func(groupapi.Exchange) { n++ }), func() error { return errors.New("not now") })
	if _, err := c.List(refused, groupapi.ListOptions{}); !groupapi.NotSent(err) || n != 0 {
		t.Errorf("a call held back: %v, %d exchanges, want not sent and none", err, n)
	}
	gone, cancel := context.WithDeadline(groupapi.WithObserver(ctx, func(groupapi.Exchange) { n++ }), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := c.List(gone, groupapi.ListOptions{}); err == nil || n != 0 {
		t.Errorf("a call whose context ended before its turn: %v, %d exchanges, want none", err, n)
	}
}
