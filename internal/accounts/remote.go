package accounts

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

const (
	// FreshFor is how long after it began a listing may still decide a
	// create or a rename (it must also have begun after the AgentGroup
	// asked). A batch of creates waits on the rate limit for its turn; a
	// listing older than this is taken again.
	FreshFor = 30 * time.Second
	// listingGap spaces the listings of one remote account while creates
	// keep asking, so that a burst of thousands shares a few list calls.
	// A lone create, with no listing in the gap before it, waits for none.
	listingGap = 2 * time.Second
	// ClaimTTL is how long an ownership decision made in this process
	// stands on its own; by then the owner's status records it and the
	// cache shows it.
	ClaimTTL = 2 * time.Minute
	// ownChangeTTL is how long the operator's own creates, renames and
	// deletes are laid over listings, which may not show them yet (a
	// listing in flight, or the service's read-after-write lag).
	ownChangeTTL = 30 * time.Second
	// listTimeout bounds one background listing, rate-limit wait included.
	listTimeout = 2 * time.Minute
)

// Remote is what every Account resolving to one remote account shares: the
// rate budget, the latest listing of its groups, the locks that serialise
// name decisions, and who owns which group.
type Remote struct {
	ID     RemoteAccount
	Budget *groupapi.Budget
	wake   func(types.NamespacedName)

	mu      sync.Mutex
	names   map[string]*nameLock
	claims  map[string]Claim
	last    *listing // newest listing that landed, own changes laid over it
	failed  *failure // newest listing that failed
	running *time.Time
	queued  bool      // a listing is due to start (and may still be joined)
	started time.Time // when the newest listing began
	lister  groupapi.Interface
	waiting map[types.UID]waiter
	changes []change
}

type listing struct {
	started time.Time
	groups  []groupapi.Group
}

type failure struct {
	started time.Time
	err     error
}

// waiter is an AgentGroup that needs a listing begun at or after since.
type waiter struct {
	key   types.NamespacedName
	since time.Time
}

// change is one of the operator's own writes to the account's groups.
type change struct {
	at      time.Time
	group   groupapi.Group
	deleted bool
}

type nameLock struct {
	sync.Mutex
	refs int
}

// Claim records which AgentGroup holds a remote group.
type Claim struct {
	Owner types.NamespacedName
	UID   types.UID
	at    time.Time
}

func newRemote(id RemoteAccount, wake func(types.NamespacedName)) *Remote {
	return &Remote{ID: id, Budget: groupapi.NewBudget(0, 0), wake: wake,
		names: map[string]*nameLock{}, claims: map[string]Claim{}, waiting: map[types.UID]waiter{}}
}

// LockName serialises decisions about one group name (case-insensitive,
// as the API compares names) in this process: the check that a name is
// free and the add or rename that takes it happen under one lock.
func (r *Remote) LockName(name string) (unlock func()) {
	k := strings.ToLower(name)
	r.mu.Lock()
	l := r.names[k]
	if l == nil {
		l = &nameLock{}
		r.names[k] = l
	}
	l.refs++
	r.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		r.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(r.names, k)
		}
		r.mu.Unlock()
	}
}

// Fresh returns the account's groups from a listing that began after this
// AgentGroup first asked (the pass that wanted to create or rename) and at
// most FreshFor ago. Without one it returns ok false, having made sure such
// a listing runs: it starts one, or queues one behind a listing already
// running that began too early (a late arrival does not join it); the
// AgentGroup is woken when it lands. Every AgentGroup waiting at that
// moment shares the one list call, so a batch of creates costs one read.
func (r *Remote) Fresh(uid types.UID, key types.NamespacedName, c groupapi.Interface) (groups []groupapi.Group, ok bool, err error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	w, asked := r.waiting[uid]
	if asked {
		switch {
		case r.last != nil && !r.last.started.Before(w.since) && now.Sub(r.last.started) <= FreshFor:
			delete(r.waiting, uid)
			return r.last.groups, true, nil
		case r.failed != nil && !r.failed.started.Before(w.since):
			delete(r.waiting, uid)
			return nil, true, r.failed.err
		case r.last != nil && !r.last.started.Before(w.since):
			asked = false // it came, but this AgentGroup came back too late to use it
		}
	}
	if !asked {
		w = waiter{key: key, since: now}
		r.waiting[uid] = w
	}
	r.lister = c
	if r.running == nil {
		r.queueLocked()
	} // else the landing queues the next listing for waiters it cannot serve
	return nil, false, nil
}

// Forget drops what the remote remembers of an AgentGroup that is gone.
func (r *Remote) Forget(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.waiting, uid)
	for id, c := range r.claims {
		if c.UID == uid {
			delete(r.claims, id)
		}
	}
}

// queueLocked makes a listing start as soon as the gap allows.
func (r *Remote) queueLocked() {
	if r.queued {
		return
	}
	r.queued = true
	time.AfterFunc(time.Until(r.started.Add(listingGap)), func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.queued = false
		started := time.Now()
		r.running, r.started = &started, started
		go r.list(r.lister, started)
	})
}

func (r *Remote) list(c groupapi.Interface, started time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	groups, err := c.List(ctx, groupapi.ListOptions{Quick: true})
	cancel()
	r.mu.Lock()
	r.running = nil
	if err != nil {
		r.failed = &failure{started: started, err: err}
	} else {
		r.landLocked(groups, started)
	}
	woken := r.wokenLocked(started)
	if len(r.waiting) > len(woken) {
		r.queueLocked() // some asked after this listing began
	}
	r.mu.Unlock()
	for _, k := range woken {
		r.wake(k)
	}
}

// Observe takes a listing made elsewhere (the Account's periodic check).
func (r *Remote) Observe(groups []groupapi.Group, started time.Time) {
	r.mu.Lock()
	r.landLocked(groups, started)
	woken := r.wokenLocked(started)
	r.mu.Unlock()
	for _, k := range woken {
		r.wake(k)
	}
}

// Groups returns the newest listing (nil before the first).
func (r *Remote) Groups() []groupapi.Group {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		return nil
	}
	return r.last.groups
}

// wokenLocked lists the waiters a listing begun at started satisfies.
func (r *Remote) wokenLocked(started time.Time) []types.NamespacedName {
	var out []types.NamespacedName
	for _, w := range r.waiting {
		if !started.Before(w.since) {
			out = append(out, w.key)
		}
	}
	return out
}

// landLocked keeps a listing unless a newer one has landed, with the
// operator's recent changes laid over it.
func (r *Remote) landLocked(groups []groupapi.Group, started time.Time) {
	if r.last != nil && r.last.started.After(started) {
		return
	}
	if groups == nil {
		groups = []groupapi.Group{}
	}
	r.changes = slices.DeleteFunc(r.changes, func(c change) bool { return time.Since(c.at) > ownChangeTTL })
	for _, c := range r.changes {
		groups = overlay(groups, c, started)
	}
	r.last = &listing{started: started, groups: groups}
}

// overlay applies one own change to a listing begun at started. A listing
// that lacks a group the operator just created is behind, not right.
func overlay(groups []groupapi.Group, c change, started time.Time) []groupapi.Group {
	i := slices.IndexFunc(groups, func(g groupapi.Group) bool { return g.ID == c.group.ID })
	switch {
	case c.deleted && i >= 0:
		return slices.Delete(slices.Clone(groups), i, i+1)
	case c.deleted:
		return groups
	case i < 0:
		return append(groups[:len(groups):len(groups)], c.group)
	case started.Before(c.at):
		out := slices.Clone(groups)
		out[i].Name = c.group.Name
		return out
	}
	return groups
}

// Changed records one of the operator's own writes: a group created or
// renamed (deleted false), or deleted.
func (r *Remote) Changed(g groupapi.Group, deleted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := change{at: time.Now(), group: g, deleted: deleted}
	r.changes = append(r.changes, c)
	if r.last != nil {
		r.last.groups = overlay(r.last.groups, c, r.last.started)
	}
}

// Claim returns the fresh claim on a remote group if there is one;
// otherwise it records want as the holder and returns it. The first
// decision made in this process stands until the owners' statuses show it.
func (r *Remote) Claim(id string, want Claim) Claim {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.claims[id]; ok && time.Since(c.at) < ClaimTTL {
		return c
	}
	want.at = time.Now()
	r.claims[id] = want
	return want
}

// Claimed returns the fresh claim on a remote group, if any.
func (r *Remote) Claimed(id string) (Claim, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.claims[id]
	return c, ok && time.Since(c.at) < ClaimTTL
}

// HoldsAny reports whether the AgentGroup holds a fresh claim on any group.
func (r *Remote) HoldsAny(uid types.UID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.claims {
		if time.Since(c.at) >= ClaimTTL {
			delete(r.claims, id)
		} else if c.UID == uid {
			return true
		}
	}
	return false
}

// Release drops the AgentGroup's claim on a remote group.
func (r *Remote) Release(id string, uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.claims[id]; ok && c.UID == uid {
		delete(r.claims, id)
	}
}
