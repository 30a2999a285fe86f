package accounts

import (
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

func TestEnsureRebuildsOnlyWhenTheClientWouldDiffer(t *testing.T) {
	built := 0
	r := NewRegistry(func(groupapi.Options) (groupapi.Interface, error) { built++; return nil, nil })
	key := types.NamespacedName{Namespace: "team-a", Name: "default"}
	opts := groupapi.Options{BaseURL: "https://a.example", Credentials: groupapi.Credentials{UserID: "1", Token: "t"}, RequestsPerSecond: 5, Burst: 10}

	steps := []struct {
		name    string
		opts    groupapi.Options
		rebuilt bool
	}{
		{"first use", opts, true},
		{"same options (a label on the Secret, a new syncInterval)", opts, false},
		{"rotated token", func() groupapi.Options { o := opts; o.Credentials.Token = "t2"; return o }(), true},
		{"new rate limit (the shared budget is retuned)", func() groupapi.Options { o := opts; o.Credentials.Token = "t2"; o.RequestsPerSecond = 7; return o }(), false},
		{"another user", func() groupapi.Options { o := opts; o.Credentials.UserID = "2"; return o }(), true},
	}
	var epoch int64
	for i, s := range steps {
		e, rebuilt, err := r.Ensure(key, s.opts, s.opts.Credentials.UserID)
		if err != nil {
			t.Fatal(err)
		}
		if rebuilt != s.rebuilt || (i > 0 && (e.Epoch != epoch) != s.rebuilt) {
			t.Errorf("%s: rebuilt %v (epoch %d, was %d), want %v", s.name, rebuilt, e.Epoch, epoch, s.rebuilt)
		}
		epoch = e.Epoch
	}
	if built != 3 {
		t.Errorf("clients built %d, want 3", built)
	}
}

func TestAccountsOnOneRemoteAccountShareItsBudget(t *testing.T) {
	r := NewRegistry(func(groupapi.Options) (groupapi.Interface, error) { return nil, nil })
	ensure := func(ns string, baseURL, user string, rps float64) *Entry {
		t.Helper()
		e, _, err := r.Ensure(types.NamespacedName{Namespace: ns, Name: "default"},
			groupapi.Options{BaseURL: baseURL, Credentials: groupapi.Credentials{UserID: user, Token: "t"}, RequestsPerSecond: rps, Burst: 10}, user)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a := ensure("team-a", "https://Brand.example/", "7", 5)
	b := ensure("team-b", "https://brand.example:443", "7", 3)
	c := ensure("team-c", "https://brand.example", "8", 5)
	if a.Remote != b.Remote || a.Remote == c.Remote {
		t.Fatalf("remotes: a %v, b %v, c %v: want a and b shared, c apart", a.Remote.ID, b.Remote.ID, c.Remote.ID)
	}
	if got := a.Remote.ID.String(); got != "7@brand.example" {
		t.Errorf("remote account %q, want 7@brand.example", got)
	}
	if rps, _ := a.Remote.Budget.Limit(); rps != 3 {
		t.Errorf("shared rate %v, want the lower of 5 and 3", rps)
	}
	r.Forget(types.NamespacedName{Namespace: "team-b", Name: "default"})
	if rps, _ := a.Remote.Budget.Limit(); rps != 5 {
		t.Errorf("rate after team-b left %v, want 5", rps)
	}
	// Unknown users (ssid credentials on an empty account) share nothing.
	d := ensure("team-d", "https://brand.example", "", 5)
	e := ensure("team-e", "https://brand.example", "", 5)
	if d.Remote == e.Remote || d.Remote.ID.Known() {
		t.Errorf("entries with unknown users share a remote: %v", d.Remote.ID)
	}
}

// Waiters go when the Account becomes ready, or when its first check
// fails (they have said nothing yet); not on later failures.
func TestSetReadyReportsWhenWaitersGo(t *testing.T) {
	r := NewRegistry(func(groupapi.Options) (groupapi.Interface, error) { return nil, nil })
	for name, steps := range map[string][]struct{ ready, wake bool }{
		"ready first":  {{true, true}, {true, false}, {false, false}, {false, false}, {true, true}},
		"failed first": {{false, true}, {false, false}, {true, true}},
	} {
		e, _, err := r.Ensure(types.NamespacedName{Namespace: "team-a", Name: name}, groupapi.Options{}, "")
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range steps {
			if got := e.SetReady(s.ready, ""); got != s.wake {
				t.Errorf("%s, step %d: SetReady(%v) reported %v, want %v", name, i, s.ready, got, s.wake)
			}
		}
	}
}

// Only the AgentGroups that waited for an Account are woken when it works,
// once each, one budget interval apart; an Account refused says why.
func TestWakeWaitersSpreadsOnlyThoseWhoWaited(t *testing.T) {
	r := NewRegistry(func(groupapi.Options) (groupapi.Interface, error) { return nil, nil })
	type wake struct {
		key   types.NamespacedName
		after time.Duration
	}
	var woken []wake
	r.SetWake(func(k types.NamespacedName, after time.Duration) { woken = append(woken, wake{k, after}) })
	acct := types.NamespacedName{Namespace: "team-a", Name: "default"}

	if e, why := r.Lookup(acct); e != nil || why != "" {
		t.Fatalf("unchecked Account: Lookup %v %q, want nothing and no reason", e, why)
	}
	group := func(n string) types.NamespacedName { return types.NamespacedName{Namespace: "team-a", Name: n} }
	// A first verdict that is a refusal wakes those who waited for one;
	// the next refusal wakes nobody.
	r.Await(acct, "uid-0", group("early"))
	r.Refuse(acct, "Secret \"creds\" not found")
	if _, why := r.Lookup(acct); why == "" {
		t.Error("a refused Account must say why it has no client")
	}
	if len(woken) != 1 || woken[0].key != group("early") {
		t.Fatalf("woken %v, want the one that waited for a first verdict", woken)
	}
	woken = nil
	r.Await(acct, "uid-0", group("early"))
	r.Refuse(acct, "Secret \"creds\" not found")
	r.Unawait(acct, "uid-0")
	if len(woken) != 0 {
		t.Fatalf("a second refusal woke %v", woken)
	}
	r.Await(acct, "uid-1", group("one"))
	r.Await(acct, "uid-2", group("two"))
	r.Await(acct, "uid-2", group("two")) // asked twice: woken once
	r.Await(acct, "uid-3", group("gone"))
	r.Unawait(acct, "uid-3")

	e, _, err := r.Ensure(acct, groupapi.Options{BaseURL: "https://a.example", Credentials: groupapi.Credentials{UserID: "1", Token: "t"}, RequestsPerSecond: 4}, "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, why := r.Lookup(acct); why != "" {
		t.Errorf("an Account with a client still says %q", why)
	}
	if !e.SetReady(true, "") {
		t.Fatal("SetReady(true) on a new entry: want becameReady")
	}
	r.WakeWaiters(acct)
	if len(woken) != 2 {
		t.Fatalf("woken %v, want the two that waited", woken)
	}
	slices.SortFunc(woken, func(a, b wake) int { return int(a.after - b.after) })
	if woken[0].after != 0 || woken[1].after != 250*time.Millisecond {
		t.Errorf("wakes at %v and %v, want 0 and 250ms (4 requests/s)", woken[0].after, woken[1].after)
	}
	r.WakeWaiters(acct)
	if len(woken) != 2 {
		t.Errorf("a second WakeWaiters woke %v again", woken[2:])
	}
}
