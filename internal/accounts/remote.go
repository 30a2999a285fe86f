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
	// create or a rename (it must also have begun after the operator saw
	// the AgentGroup's spec). A batch of creates waits on the rate limit
	// for its turn; a listing older than this is taken again.
	FreshFor = 30 * time.Second
	// A listing for waiting AgentGroups starts once asks pause for
	// askPause, or batchSize AgentGroups wait, or the first has waited
	// maxWait; and never sooner than listingGap after the previous one.
	// So a batch applied together shares one list call, a steady stream
	// of creates pays one per batchSize, and a lone create waits askPause.
	askPause   = 500 * time.Millisecond
	batchSize  = 40
	maxWait    = 15 * time.Second
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
	claims  map[string]Claim     // by remote group id
	held    map[types.UID]string // remote group id, by claim owner
	last    *listing             // newest listing that landed, own changes laid over it
	failed  *failure             // newest listing that failed
	running bool                 // a listing is in flight
	timer   *time.Timer          // starts the next listing
	started time.Time            // when the newest listing began
	// firstAsk and lastAsk are when the first and the latest of the
	// AgentGroups now waiting asked.
	firstAsk, lastAsk time.Time
	lister            groupapi.Interface
	waiting           map[types.UID]waiter
	changes           []change
}

type listing struct {
	started time.Time
	groups  []groupapi.Group
}

type failure struct {
	started time.Time
	err     error
	told    map[types.UID]bool
}

// waiter is an AgentGroup that needs a listing begun at or after since.
type waiter struct {
	key          types.NamespacedName
	since, asked time.Time
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
		names: map[string]*nameLock{}, claims: map[string]Claim{}, held: map[types.UID]string{}, waiting: map[types.UID]waiter{}}
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

// Fresh returns the account's groups from a listing that began at or
// after since and at most maxAge ago (0: any age). Without one it returns ok false,
// having made sure such a listing runs (one that is running began too
// early: a late arrival does not join it), and the AgentGroup is woken
// when it lands. Every AgentGroup waiting then shares that one list call,
// so a batch of creates costs a few reads, not one each (see askPause).
func (r *Remote) Fresh(uid types.UID, key types.NamespacedName, since time.Time, maxAge time.Duration, c groupapi.Interface) (groups []groupapi.Group, ok bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.last; l != nil && !l.started.Before(since) && (maxAge == 0 || time.Since(l.started) <= maxAge) {
		delete(r.waiting, uid)
		return l.groups, true, nil
	}
	r.lister = c
	if f := r.failed; f != nil && !f.started.Before(since) && !f.told[uid] && (r.last == nil || f.started.After(r.last.started)) {
		delete(r.waiting, uid)
		f.told[uid] = true // once: asked again, it waits for a new listing
		return nil, true, f.err
	}
	if _, asked := r.waiting[uid]; !asked {
		now := time.Now()
		if len(r.waiting) == 0 {
			r.firstAsk = now
		}
		r.lastAsk = now
		r.waiting[uid] = waiter{key: key, since: since, asked: now}
	}
	r.scheduleLocked()
	return nil, false, nil
}

// Forget drops what the remote remembers of an AgentGroup that is gone.
func (r *Remote) Forget(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.waiting, uid)
	if id, ok := r.held[uid]; ok {
		r.releaseLocked(id, uid)
	}
}

// scheduleLocked sets when the next listing starts, if AgentGroups wait
// and none is running (its landing schedules the next).
func (r *Remote) scheduleLocked() {
	if r.running || len(r.waiting) == 0 {
		return
	}
	at := r.lastAsk.Add(askPause)
	if len(r.waiting) >= batchSize {
		at = time.Now()
	}
	if full := r.firstAsk.Add(maxWait); full.Before(at) {
		at = full
	}
	if gap := r.started.Add(listingGap); gap.After(at) {
		at = gap
	}
	if r.timer == nil {
		r.timer = time.AfterFunc(time.Until(at), r.start)
	} else {
		r.timer.Reset(time.Until(at))
	}
}

func (r *Remote) start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running || len(r.waiting) == 0 {
		return
	}
	started := time.Now()
	r.running, r.started = true, started
	go r.list(r.lister, started)
}

func (r *Remote) list(c groupapi.Interface, started time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	// As a named caller it does not sleep through a Retry-After pause: it
	// fails at once, and its waiters come back when the pause ends.
	ctx = groupapi.WithCaller(ctx, "listing of "+r.ID.String())
	groups, err := c.List(ctx, groupapi.ListOptions{Quick: true})
	cancel()
	r.mu.Lock()
	r.running = false
	r.mu.Unlock()
	r.landed(groups, err, started)
}

// Observe takes a listing made elsewhere (the Account's periodic check).
func (r *Remote) Observe(groups []groupapi.Group, started time.Time) {
	r.landed(groups, nil, started)
}

// landed keeps a listing (or its failure), wakes the AgentGroups it
// serves, and schedules one for those who asked after it began.
func (r *Remote) landed(groups []groupapi.Group, err error, started time.Time) {
	r.mu.Lock()
	if err != nil {
		r.failed = &failure{started: started, err: err, told: map[types.UID]bool{}}
	} else {
		r.landLocked(groups, started)
	}
	woken := r.wokenLocked(started)
	r.scheduleLocked()
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

// wokenLocked takes out the waiters a listing begun at started satisfies.
func (r *Remote) wokenLocked(started time.Time) []types.NamespacedName {
	var out []types.NamespacedName
	for uid, w := range r.waiting {
		if !started.Before(w.since) {
			out = append(out, w.key)
			delete(r.waiting, uid)
		}
	}
	r.firstAsk = r.lastAsk
	for _, w := range r.waiting {
		if w.asked.Before(r.firstAsk) {
			r.firstAsk = w.asked
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
	r.held[want.UID] = id
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
	c, ok := r.claims[r.held[uid]]
	return ok && c.UID == uid && time.Since(c.at) < ClaimTTL
}

// Release drops the AgentGroup's claim on a remote group.
func (r *Remote) Release(id string, uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releaseLocked(id, uid)
}

func (r *Remote) releaseLocked(id string, uid types.UID) {
	if c, ok := r.claims[id]; ok && c.UID == uid {
		delete(r.claims, id)
	}
	if r.held[uid] == id {
		delete(r.held, uid)
	}
}
