package groupapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// A 3xx is never followed, not even a 307/308, which Go's client would
// follow re-POSTing the body with the credentials: the call fails, as
// terminal, naming only the host the redirect points at.
func TestRedirectsAreNeverFollowed(t *testing.T) {
	var captured atomic.Int32
	capture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		captured.Add(1)
		fmt.Fprint(w, `{"status":"success","code":200,"groupId":1,"response":[]}`)
	}))
	t.Cleanup(capture.Close)
	host := capture.Listener.Addr().String()

	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, own := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d, own http.Client %v", status, own), func(t *testing.T) {
				brand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, capture.URL+r.URL.Path+"?from=brand", status)
				}))
				t.Cleanup(brand.Close)
				opts := groupapi.Options{BaseURL: brand.URL, AllowInsecureLoopback: true, Credentials: groupapi.Credentials{UserID: user, Token: token}}
				if own {
					opts.HTTPClient = &http.Client{} // follows redirects by default
				}
				c, err := groupapi.New(opts)
				if err != nil {
					t.Fatal(err)
				}
				_, addErr := c.Add(context.Background(), "Sales")
				_, listErr := c.List(context.Background(), groupapi.ListOptions{})
				assignErr := c.SubmitAssignGroupToAgent(context.Background(), groupapi.AssignRequest{GroupID: "1", Members: []string{"1001"}})
				for _, err := range []error{addErr, listErr, assignErr} {
					if !groupapi.IsRedirect(err) || !groupapi.IsTerminal(err) || groupapi.IsPermissionDenied(err) || groupapi.NotSent(err) {
						t.Errorf("%v: want a terminal redirect error", err)
						continue
					}
					msg := err.Error()
					if !strings.Contains(msg, fmt.Sprintf("HTTP %d redirecting to %s;", status, host)) || strings.Contains(msg, capture.URL) ||
						strings.Contains(msg, "from=brand") || strings.Contains(msg, token) {
						t.Errorf("message %q: want the status and the host %s only", msg, host)
					}
				}
				if n := captured.Load(); n != 0 {
					t.Fatalf("the capture server got %d requests", n)
				}
			})
		}
	}

	t.Run("no Location", func(t *testing.T) {
		c := odd(t, http.StatusTemporaryRedirect, "", nil, 0)
		_, err := c.List(context.Background(), groupapi.ListOptions{})
		if !groupapi.IsRedirect(err) || !strings.Contains(err.Error(), "HTTP 307 with no usable Location") {
			t.Errorf("%v: want a redirect error saying there is no Location", err)
		}
	})
}

// RedirectTarget names a redirect's Location by host only, as the client's
// error does: its path, query and user info may carry anything.
func TestRedirectTarget(t *testing.T) {
	for location, want := range map[string]string{
		"https://login.example.com/sso?token=" + token: "redirecting to login.example.com",
		"https://user:pw@api.example.com:8443/v2":      "redirecting to api.example.com:8443",
		"/login":    "with no usable Location",
		"":          "with no usable Location",
		"://broken": "with no usable Location",
	} {
		if got := groupapi.RedirectTarget(location); got != want {
			t.Errorf("RedirectTarget(%q) = %q, want %q", location, got, want)
		}
	}
}

// Plain http:// needs AllowInsecureLoopback, and even then only to
// loopback.
func TestPlainHTTPNeedsAllowInsecureLoopback(t *testing.T) {
	creds := groupapi.Credentials{UserID: user, Token: token}
	for _, tc := range []struct {
		url      string
		allow    bool
		ok       bool
		loopback bool // refused only for want of AllowInsecureLoopback
	}{
		{"http://127.0.0.1:8080", false, false, true},
		{"http://[::1]:8080", false, false, true},
		{"http://localhost", false, false, true},
		{"http://127.0.0.1:8080", true, true, false},
		{"http://localhost", true, true, false},
		{"https://ctv3-dev.sarv.com", false, true, false},
		{"http://ctv3-dev.sarv.com", true, false, false},
		{"ftp://x", true, false, false},
	} {
		_, err := groupapi.New(groupapi.Options{BaseURL: tc.url, Credentials: creds, AllowInsecureLoopback: tc.allow})
		var be *groupapi.BaseURLError
		switch {
		case (err == nil) != tc.ok:
			t.Errorf("New(%s, allow %v): %v, want ok=%v", tc.url, tc.allow, err, tc.ok)
		case err != nil && (!errors.As(err, &be) || be.InsecureLoopback != tc.loopback):
			t.Errorf("New(%s, allow %v): %#v, want a BaseURLError with InsecureLoopback %v", tc.url, tc.allow, err, tc.loopback)
		}
	}
}

// Text an answer's body puts in an error ends up in conditions and
// events: the credentials are taken out and it is cut short, whatever the
// service (or a proxy in front of it) echoes.
func TestErrorBodiesAreRedactedAndCut(t *testing.T) {
	const ssid = "ssid-secret-value"
	long := strings.Repeat("é", 400) // two bytes each: a cut must not split one
	answers := map[string]func(req string) (int, string){
		"API error echoing the request": func(req string) (int, string) {
			b, _ := json.Marshal(map[string]any{"status": "error", "code": 1047, "message": "invalid request " + req + long})
			return 200, string(b)
		},
		"HTML page echoing the request": func(req string) (int, string) {
			return 502, "<html><body>bad gateway for\n" + req + long + "</body></html>"
		},
		"429 echoing the request": func(req string) (int, string) {
			b, _ := json.Marshal(map[string]any{"status": "error", "code": 429, "message": req + long})
			return 429, string(b)
		},
		"short message echoing the request": func(req string) (int, string) {
			b, _ := json.Marshal(map[string]any{"status": "error", "code": 1000, "message": "bad request " + req})
			return 200, string(b)
		},
	}
	for name, answer := range answers {
		for _, creds := range []groupapi.Credentials{{UserID: user, Token: token}, {SSID: ssid}} {
			t.Run(fmt.Sprintf("%s, %v", name, creds), func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					req, _ := io.ReadAll(r.Body)
					status, body := answer(string(req))
					if status == 429 {
						w.Header().Set("Retry-After", "1")
					}
					w.WriteHeader(status)
					_, _ = io.WriteString(w, body)
				}))
				t.Cleanup(srv.Close)
				c, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: creds})
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.List(context.Background(), groupapi.ListOptions{})
				var e *groupapi.APIError
				if !errors.As(err, &e) {
					t.Fatalf("%v: want an APIError", err)
				}
				msg := err.Error()
				if strings.Contains(msg, token) || strings.Contains(msg, ssid) || !strings.Contains(msg, "[redacted]") {
					t.Errorf("message %q: want the credentials redacted", msg)
				}
				text := e.Message
				if quoted, ok := strings.CutPrefix(text, "unexpected answer: "); ok {
					if text, err = strconv.Unquote(quoted); err != nil {
						t.Fatalf("snippet %s: %v", quoted, err)
					}
				}
				if len(text) > 256+len("…") || !utf8.ValidString(text) {
					t.Errorf("message text is %d bytes (valid UTF-8: %v), want at most 256 and a mark", len(text), utf8.ValidString(text))
				}
				if cut := strings.HasSuffix(text, "…"); cut != (name != "short message echoing the request") {
					t.Errorf("message %q: cut marked %v", text, cut)
				}
			})
		}
	}
}

// A token with characters json.Marshal escapes, echoed as the request
// body spelt it or as a proxy quoted it, is redacted in every form.
func TestEscapedCredentialsAreRedacted(t *testing.T) {
	const ssid = "ss<id>&k=v/1 2"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := io.ReadAll(r.Body)
		w.WriteHeader(502)
		_, _ = io.WriteString(w, "<pre>"+string(req)+" via "+url.QueryEscape(ssid)+" and "+url.PathEscape(ssid)+"</pre>")
	}))
	t.Cleanup(srv.Close)
	c, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: groupapi.Credentials{SSID: ssid}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.List(context.Background(), groupapi.ListOptions{})
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	quoted, _ := json.Marshal(ssid)
	for _, form := range []string{ssid, string(quoted[1 : len(quoted)-1]), url.QueryEscape(ssid), url.PathEscape(ssid), "ss\\u003cid"} {
		if strings.Contains(msg, form) {
			t.Errorf("message %q holds the ssid as %q", msg, form)
		}
	}
	if strings.Count(msg, "[redacted]") < 3 {
		t.Errorf("message %q: want each echo redacted", msg)
	}
}

// The metrics name the Account a client calls for, and ForgetAccount
// deletes its series, leaving other Accounts' alone.
func TestMetricsCarryTheAccount(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := groupapi.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	s := sim.New(sim.Options{})
	s.AddUser(sim.User{ID: user, Token: token})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	for _, account := range []string{"team-a/one", "team-a/two"} {
		c, err := groupapi.New(groupapi.Options{BaseURL: srv.URL, AllowInsecureLoopback: true, Credentials: groupapi.Credentials{UserID: user, Token: token}, Account: account})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.List(context.Background(), groupapi.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	series := func(account string) int {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range families {
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "account" && l.GetValue() == account {
						n++
					}
				}
			}
		}
		return n
	}
	if series("team-a/one") != 2 || series("team-a/two") != 2 {
		t.Fatalf("series: one %d, two %d; want a count and a latency each", series("team-a/one"), series("team-a/two"))
	}
	groupapi.ForgetAccount("team-a/one")
	if series("team-a/one") != 0 || series("team-a/two") != 2 {
		t.Errorf("after forgetting one: one %d, two %d series; want 0 and 2", series("team-a/one"), series("team-a/two"))
	}
}
