package accounts

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// gatedLister answers List calls one at a time, when the test says so.
type gatedLister struct {
	groupapi.Interface
	mu      sync.Mutex
	calls   int
	release chan []groupapi.Group
}

func (l *gatedLister) List(ctx context.Context, _ groupapi.ListOptions) ([]groupapi.Group, error) {
	l.mu.Lock()
	l.calls++
	l.mu.Unlock()
	return <-l.release, nil
}

func (l *gatedLister) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

func TestFreshListingIsSharedButNeverJoinedLate(t *testing.T) {
	woken := make(chan types.NamespacedName, 10)
	r := newRemote(RemoteAccount{Host: "h", User: "u"}, func(k types.NamespacedName) { woken <- k })
	l := &gatedLister{release: make(chan []groupapi.Group)}
	key := func(n string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: n} }
	since := map[string]time.Time{}
	ask := func(n string) ([]groupapi.Group, bool) {
		t.Helper()
		if since[n].IsZero() {
			since[n] = time.Now() // when the operator saw the AgentGroup's spec
		}
		groups, ok, err := r.Fresh(types.UID(n), key(n), since[n], FreshFor, l)
		if err != nil {
			t.Fatal(err)
		}
		return groups, ok
	}

	// a asks: a listing starts. b and c were seen after it began: they
	// must not use it, and share the one queued behind it.
	if _, ok := ask("a"); ok {
		t.Fatal("a: a listing before any was made")
	}
	waitFor(t, func() bool { return l.count() == 1 })
	for _, n := range []string{"b", "c"} {
		if _, ok := ask(n); ok {
			t.Fatalf("%s: used a listing that began before it asked", n)
		}
	}
	l.release <- []groupapi.Group{{ID: "1", Name: "Legacy Desk"}}
	if k := <-woken; k != key("a") {
		t.Errorf("woken %v, want a", k)
	}
	if groups, ok := ask("a"); !ok || len(groups) != 1 {
		t.Errorf("a: groups %v ok %v, want the first listing", groups, ok)
	}
	if _, ok := ask("b"); ok {
		t.Error("b got the early listing")
	}
	waitFor(t, func() bool { return l.count() == 2 })
	l.release <- []groupapi.Group{{ID: "1", Name: "Legacy Desk"}, {ID: "2", Name: "By Hand"}}
	got := map[types.NamespacedName]bool{<-woken: true, <-woken: true}
	if !got[key("b")] || !got[key("c")] {
		t.Errorf("woken %v, want b and c", got)
	}
	for _, n := range []string{"b", "c"} {
		if groups, ok := ask(n); !ok || len(groups) != 2 {
			t.Errorf("%s: groups %v ok %v, want the second listing", n, groups, ok)
		}
	}
	if n := l.count(); n != 2 {
		t.Errorf("list calls %d, want 2 for three askers", n)
	}
}

func TestOwnChangesOverlayListingsThatMissThem(t *testing.T) {
	r := newRemote(RemoteAccount{Host: "h", User: "u"}, func(types.NamespacedName) {})
	before := time.Now()
	r.Changed(groupapi.Group{ID: "9", Name: "Ops"}, false)
	r.Changed(groupapi.Group{ID: "3"}, true)
	// A listing that began before the changes lands afterwards.
	r.Observe([]groupapi.Group{{ID: "3", Name: "Old"}, {ID: "4", Name: "Kept"}}, before)
	want := []groupapi.Group{{ID: "4", Name: "Kept"}, {ID: "9", Name: "Ops"}}
	if diff := cmp.Diff(want, r.Groups()); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}

func TestClaimsFirstDecisionStands(t *testing.T) {
	r := newRemote(RemoteAccount{Host: "h", User: "u"}, func(types.NamespacedName) {})
	a := Claim{Owner: types.NamespacedName{Namespace: "x", Name: "a"}, UID: "a"}
	b := Claim{Owner: types.NamespacedName{Namespace: "y", Name: "b"}, UID: "b"}
	if got := r.Claim("7", a); got.UID != "a" {
		t.Fatalf("first claim went to %s", got.UID)
	}
	if got := r.Claim("7", b); got.UID != "a" {
		t.Errorf("second claimant took the group: %s", got.UID)
	}
	if !r.HoldsAny("a") || r.HoldsAny("b") {
		t.Error("HoldsAny disagrees with the claims")
	}
	r.Release("7", "b") // not b's to release
	if c, ok := r.Claimed("7"); !ok || c.UID != "a" {
		t.Errorf("claim after a foreign release: %+v %v", c, ok)
	}
	r.Forget("a")
	if _, ok := r.Claimed("7"); ok {
		t.Error("claim outlived its owner")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// failingLister fails every List.
type failingLister struct {
	groupapi.Interface
	calls chan struct{}
}

func (l failingLister) List(context.Context, groupapi.ListOptions) ([]groupapi.Group, error) {
	l.calls <- struct{}{}
	return nil, errors.New("boom")
}

func TestFailedListingIsReportedOnceThenRetried(t *testing.T) {
	woken := make(chan types.NamespacedName, 10)
	r := newRemote(RemoteAccount{Host: "h", User: "u"}, func(k types.NamespacedName) { woken <- k })
	l := failingLister{calls: make(chan struct{}, 10)}
	key := types.NamespacedName{Namespace: "ns", Name: "a"}
	since := time.Now()
	if _, ok, _ := r.Fresh("a", key, since, FreshFor, l); ok {
		t.Fatal("a listing before any was made")
	}
	<-l.calls
	<-woken
	if _, ok, err := r.Fresh("a", key, since, FreshFor, l); !ok || err == nil {
		t.Fatalf("after the failed listing: ok %v err %v, want the error", ok, err)
	}
	// Asked again (after its backoff), it gets a new listing, not the old error.
	if _, ok, err := r.Fresh("a", key, since, FreshFor, l); ok || err != nil {
		t.Fatalf("asked again: ok %v err %v, want to wait for a new listing", ok, err)
	}
	select {
	case <-l.calls:
	case <-time.After(5 * time.Second):
		t.Fatal("no new listing was made")
	}
}
