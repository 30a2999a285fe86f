package controllers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// counter is an HTTP server that counts the requests it gets, by path.
type counter struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func (c *counter) count(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hits[path]++
}

// get is the number of requests to one path.
func (c *counter) get(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits[path]
}

// String lists the requests by path.
func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.hits)
}

// total is the number of requests, all paths.
func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.hits {
		n += v
	}
	return n
}

// capture is a server a hostile redirect points at: it must never be
// called, since whatever reaches it carries the credentials.
func (s *story) capture() *counter {
	c := &counter{hits: map[string]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.count(r.URL.Path)
		fmt.Fprint(w, `{"status":"success","code":200,"response":[]}`)
	}))
	s.t.Cleanup(c.Close)
	return c
}

// brandHost stands for a brand host that answers the Group API operations
// in redirect with a 307 to the same path on capture, and passes the
// others to the story's simulator.
func (s *story) brandHost(capture *counter, redirect ...string) *counter {
	sim, err := url.Parse(s.simURL)
	s.must(err)
	proxy := httputil.NewSingleHostReverseProxy(sim)
	c := &counter{hits: map[string]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.URL.Path, "/api/v2/Group/")
		c.count(op)
		for _, o := range redirect {
			if o == op {
				http.Redirect(w, r, capture.URL+r.URL.Path, http.StatusTemporaryRedirect)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	s.t.Cleanup(c.Close)
	return c
}

// account creates another Account in the story's namespace, on the
// story's Secret.
func (s *story) account(name, baseURL string) {
	s.t.Helper()
	s.must(k8s.Create(ctxBG, &deepcallv1.Account{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name},
		Spec: deepcallv1.AccountSpec{BaseURL: baseURL, CredentialsSecretRef: deepcallv1.SecretReference{Name: "deepcall-credentials"},
			RequestsPerSecond: s.rps, Burst: s.rps, SyncInterval: metav1.Duration{Duration: 10 * time.Minute}},
	}))
}

// readyMessage is the message of an Account's Ready condition.
func readyMessage(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, deepcallv1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

// A brand host that redirects sends nothing anywhere else: Go's client
// would re-POST the body, credentials and all, to the 307's Location. The
// Account stalls naming where the redirect pointed (host only), its
// AgentGroups say so too, and nobody asks again and again.
func TestRedirectOfTheBrandHostIsNeverFollowed(t *testing.T) {
	s := newStory(t)
	capture := s.capture()
	brand := s.brandHost(capture, "list", "add", "update", "delete", "getGroupAgentRelation", "submitAssignGroupToAgent")
	s.account("brand", brand.URL)
	s.group("sales", func(g *deepcallv1.AgentGroup) {
		g.Spec.AccountRef.Name = "brand"
		g.Spec.Members = agents("1001")
	})

	host := capture.Listener.Addr().String()
	a := s.waitAccount("brand", metav1.ConditionFalse, deepcallv1.ReasonInvalidBaseURL)
	msg := readyMessage(a.Status.Conditions)
	t.Logf("Account: %s", msg)
	if !strings.Contains(msg, "307") || !strings.Contains(msg, host) || strings.Contains(msg, capture.URL+"/") || strings.Contains(msg, testToken) {
		t.Errorf("Account message %q: want the 307 and the host %s, not the URL nor the token", msg, host)
	}
	if v := s.accountKstatus("brand"); v != status.FailedStatus {
		t.Errorf("kstatus of the Account = %s, want Failed (Stalled)", v)
	}
	g := s.waitReason("sales", metav1.ConditionFalse, deepcallv1.ReasonAccountNotReady)
	if msg := readyMessage(g.Status.Conditions); !strings.Contains(msg, host) {
		t.Errorf("AgentGroup message %q does not name the redirect's host %s", msg, host)
	}

	// No hot loop: a few calls settle it, then nothing.
	settled := brand.total()
	time.Sleep(5 * time.Second)
	if n := brand.total(); n > 4 || n-settled > 1 {
		t.Errorf("the redirecting host got %d requests (%d after the Account stalled), want a bounded few: %v", n, n-settled, brand)
	}
	if n := capture.total(); n != 0 {
		t.Errorf("the capture server got %d requests, want 0: %v", n, capture)
	}
	if w := writes(s.calls()); w != 0 {
		t.Errorf("simulator got %d writes, want 0", w)
	}
}

// A redirect on the group's own call (the listing works, add does not)
// stalls that AgentGroup with the redirect's host in its message; the add
// is not sent again until something changes.
func TestRedirectOfAGroupCallStallsTheGroup(t *testing.T) {
	s := newStory(t)
	capture := s.capture()
	brand := s.brandHost(capture, "add")
	s.account("brand", brand.URL)
	s.waitAccount("brand", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	s.group("sales", func(g *deepcallv1.AgentGroup) {
		g.Spec.AccountRef.Name = "brand"
		g.Spec.Members = agents("1001")
	})

	host := capture.Listener.Addr().String()
	g := s.waitReason("sales", metav1.ConditionFalse, deepcallv1.ReasonInvalidBaseURL)
	t.Logf("AgentGroup: %s", readyMessage(g.Status.Conditions))
	if msg := readyMessage(g.Status.Conditions); !strings.Contains(msg, host) || strings.Contains(msg, capture.URL+"/") {
		t.Errorf("AgentGroup message %q: want the redirect's host %s, not its URL", msg, host)
	}
	if v := s.kstatus("sales"); v != status.FailedStatus {
		t.Errorf("kstatus = %s, want Failed (Stalled)", v)
	}
	time.Sleep(5 * time.Second)
	if n := brand.get("add"); n != 1 {
		t.Errorf("add was sent %d times, want once", n)
	}
	if n := capture.total(); n != 0 {
		t.Errorf("the capture server got %d requests, want 0: %v", n, capture)
	}
	if r := s.remote(); len(r) != 0 {
		t.Errorf("remote groups %+v, want none", r)
	}
	if p := s.get("sales").Status.PendingCreate; p != nil {
		t.Errorf("create intent %+v left behind: a redirected add made nothing", p)
	}
}

// Plain http:// goes only to loopback, and only when the manager allows
// it: without --allow-insecure-loopback the Account refuses the
// simulator's URL and says how to allow it, and nothing is sent.
func TestPlainHTTPNeedsTheLoopbackFlag(t *testing.T) {
	s := newStory(t, withoutInsecureLoopback())
	s.group("sales", nil)
	a := s.waitAccount("default", metav1.ConditionFalse, deepcallv1.ReasonInvalidBaseURL)
	t.Logf("Account: %s", readyMessage(a.Status.Conditions))
	if msg := readyMessage(a.Status.Conditions); !strings.Contains(msg, "--allow-insecure-loopback") {
		t.Errorf("Account message %q does not say how to allow it", msg)
	}
	if v := s.accountKstatus("default"); v != status.FailedStatus {
		t.Errorf("kstatus of the Account = %s, want Failed (Stalled)", v)
	}
	g := s.waitReason("sales", metav1.ConditionFalse, deepcallv1.ReasonAccountNotReady)
	if msg := readyMessage(g.Status.Conditions); !strings.Contains(msg, "--allow-insecure-loopback") {
		t.Errorf("AgentGroup message %q does not carry the Account's", msg)
	}
	if c := s.calls(); len(c) != 0 {
		t.Errorf("simulator got calls %v, want none", c)
	}
}
