// Package accounts holds one Group API client per Account and, shared by
// every Account that resolves to the same remote account (brand host plus
// DeepCall user), that remote account's rate budget, listing of groups,
// name locks and ownership claims; and the drift-check schedule that
// spreads resyncs over the interval.
package accounts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// Factory builds a client; tests swap it to count or wrap calls.
type Factory func(groupapi.Options) (groupapi.Interface, error)

// RemoteAccount is one DeepCall user on one brand host: where group names
// are unique and a rate limit applies.
type RemoteAccount struct {
	Host string
	User string
}

// String is `<user>@<host>`, the form status fields use; "" while the user
// is not known.
func (a RemoteAccount) String() string {
	if a.User == "" {
		return ""
	}
	return a.User + "@" + a.Host
}

// Known reports whether the user is known.
func (a RemoteAccount) Known() bool { return a.User != "" }

// HostOf is the brand host of a base URL as remote accounts name it: the
// host (lower-cased, with a non-default port) and any path prefix.
func HostOf(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil {
		return baseURL
	}
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && !(u.Scheme == "https" && p == "443") && !(u.Scheme == "http" && p == "80") {
		host += ":" + p
	}
	return host + strings.TrimRight(u.EscapedPath(), "/")
}

// Registry maps Accounts to their current client and remote account. The
// Account controller writes it; the AgentGroup controller reads it.
type Registry struct {
	factory Factory

	mu      sync.Mutex
	entries map[types.NamespacedName]*Entry
	remotes map[RemoteAccount]*Remote
	epochs  int64
	wake    func(types.NamespacedName, time.Duration)
	// wakeAccount enqueues an Account (its remote account began a pause).
	wakeAccount func(types.NamespacedName)
	// refused holds, per Account with no client, why it has none.
	refused map[types.NamespacedName]string
	// waiters are, per Account, the AgentGroups that wait for it to work.
	waiters map[types.NamespacedName]map[types.UID]types.NamespacedName
	// checks hold, per AgentGroup, when its remote group was last read.
	checks map[types.UID]check
}

type check struct {
	account types.NamespacedName
	at      time.Time
}

// NewRegistry returns an empty registry; a nil factory means groupapi.New.
func NewRegistry(factory Factory) *Registry {
	if factory == nil {
		factory = func(o groupapi.Options) (groupapi.Interface, error) { return groupapi.New(o) }
	}
	return &Registry{factory: factory, entries: map[types.NamespacedName]*Entry{}, remotes: map[RemoteAccount]*Remote{},
		refused: map[types.NamespacedName]string{}, waiters: map[types.NamespacedName]map[types.UID]types.NamespacedName{},
		checks: map[types.UID]check{}}
}

// Checked records that an AgentGroup of the Account had its remote group
// read at the given time.
func (r *Registry) Checked(account types.NamespacedName, uid types.UID, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[uid] = check{account: account, at: at}
}

// Unchecked drops an AgentGroup from the drift-check record: it is gone,
// or stalled and read again only at its re-poll.
func (r *Registry) Unchecked(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.checks, uid)
}

// OldestCheck is when the least recently checked AgentGroup of the
// Account was last read; zero when none has been.
func (r *Registry) OldestCheck(account types.NamespacedName) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var oldest time.Time
	for _, c := range r.checks {
		if c.account == account && (oldest.IsZero() || c.at.Before(oldest)) {
			oldest = c.at
		}
	}
	return oldest
}

// SetWake sets how an AgentGroup is enqueued after a delay: one whose
// awaited listing has arrived, or that waited for its Account (the
// AgentGroup controller's queue).
func (r *Registry) SetWake(f func(types.NamespacedName, time.Duration)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wake = f
}

// SetAccountWake sets how an Account is enqueued when its remote account
// begins a Retry-After pause (the Account controller's queue).
func (r *Registry) SetAccountWake(f func(types.NamespacedName)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wakeAccount = f
}

func (r *Registry) notify(key types.NamespacedName) { r.wakeAfter(key, 0) }

func (r *Registry) wakeAfter(key types.NamespacedName, after time.Duration) {
	r.mu.Lock()
	wake := r.wake
	r.mu.Unlock()
	if wake != nil {
		wake(key, after)
	}
}

// pauseBegan tells the Accounts on a remote account that it is paused.
func (r *Registry) pauseBegan(remote *Remote) {
	r.mu.Lock()
	wake := r.wakeAccount
	var keys []types.NamespacedName
	for k, e := range r.entries {
		if e.Remote == remote {
			keys = append(keys, k)
		}
	}
	r.mu.Unlock()
	if wake == nil {
		return
	}
	for _, k := range keys {
		wake(k)
	}
}

// Await records that an AgentGroup waits for its Account: the Account is
// not ready, or the group stalled on an error new credentials may fix.
// WakeWaiters wakes it.
func (r *Registry) Await(account types.NamespacedName, uid types.UID, group types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.waiters[account]
	if w == nil {
		w = map[types.UID]types.NamespacedName{}
		r.waiters[account] = w
	}
	w[uid] = group
}

// Unawait forgets an AgentGroup that no longer waits (or is gone).
func (r *Registry) Unawait(account types.NamespacedName, uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.waiters[account]; w != nil {
		delete(w, uid)
		if len(w) == 0 {
			delete(r.waiters, account)
		}
	}
}

// WakeWaiters wakes the AgentGroups waiting for the Account, spread at
// the remote account's rate: each needs at least one call, so waking them
// faster would only queue them on the budget.
func (r *Registry) WakeWaiters(account types.NamespacedName) {
	r.mu.Lock()
	w := r.waiters[account]
	delete(r.waiters, account)
	e := r.entries[account]
	r.mu.Unlock()
	keys := make([]types.NamespacedName, 0, len(w))
	for _, k := range w {
		keys = append(keys, k)
	}
	r.WakeSpread(e, keys)
}

// WakeSpread wakes AgentGroups of the entry's remote account one budget
// interval apart.
func (r *Registry) WakeSpread(e *Entry, keys []types.NamespacedName) {
	spacing := time.Second / defaultSpreadRPS
	if e != nil {
		if rps, _ := e.Remote.Budget.Limit(); rps > 0 {
			spacing = time.Duration(float64(time.Second) / rps)
		}
	}
	for i, k := range keys {
		r.wakeAfter(k, time.Duration(i)*spacing)
	}
}

// defaultSpreadRPS spaces wakes of an Account with no client.
const defaultSpreadRPS = 5

// Refuse drops the Account's client and records why it has none (its
// Secret is missing or unusable, its baseURL refused), for its AgentGroups
// to report. When this is the Account's first verdict, the AgentGroups
// that waited for it without a word are woken to say so.
func (r *Registry) Refuse(key types.NamespacedName, why string) {
	r.mu.Lock()
	_, refused := r.refused[key]
	e := r.entries[key]
	r.mu.Unlock()
	first := !refused && (e == nil || !e.wasChecked())
	r.Forget(key)
	r.mu.Lock()
	r.refused[key] = why
	r.mu.Unlock()
	if first {
		r.WakeWaiters(key)
	}
}

// Lookup returns the Account's entry; without one, why the Account has no
// client ("": it has not been checked yet).
func (r *Registry) Lookup(key types.NamespacedName) (*Entry, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[key]; ok {
		return e, ""
	}
	return nil, r.refused[key]
}

// Entry is one Account's client and what is known about it.
type Entry struct {
	Client groupapi.Interface
	// Epoch changes whenever the client is rebuilt (new credentials or
	// spec), so a stalled AgentGroup knows it may try again.
	Epoch int64
	// Remote is the remote account the credentials resolve to, shared with
	// every other Account resolving to it. While the user is unknown (ssid
	// credentials on an account with no group yet) it is the entry's own.
	Remote *Remote

	fingerprint string // everything the client is built from
	account     string // the client's metrics label
	credentials string // the same, without the resolved user
	rps         float64
	burst       int

	mu       sync.Mutex
	checked  bool // the credentials were tried
	ready    bool
	notReady string
	// failingSince is when listing began to fail (zero: it works).
	failingSince time.Time
	interval     time.Duration
	groups       int // AgentGroups of the Account, for the shared sync budget
}

// Ensure returns the Account's entry, building a new client only when what
// a client is built from changed: a rebuild wakes every group of the
// Account, so a label on the Secret or a new syncInterval must not cause one.
// user is the DeepCall user the credentials resolve to ("" if unknown).
func (r *Registry) Ensure(key types.NamespacedName, opts groupapi.Options, user string) (*Entry, bool, error) {
	credentials := fingerprintOf(opts, "")
	fingerprint := fingerprintOf(opts, user)
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had := r.entries[key]
	if had && old.fingerprint == fingerprint {
		if old.rps != opts.RequestsPerSecond || old.burst != opts.Burst {
			old.rps, old.burst = opts.RequestsPerSecond, opts.Burst
			r.retune(old.Remote)
		}
		return old, false, nil
	}
	delete(r.refused, key)
	id := RemoteAccount{Host: HostOf(opts.BaseURL), User: user}
	remote := r.remotes[id]
	if remote == nil {
		remote = newRemote(id, r.notify)
		remote.Budget.OnPause(func(time.Time) { r.pauseBegan(remote) })
		if id.Known() {
			r.remotes[id] = remote
		}
	}
	opts.Budget = remote.Budget
	c, err := r.factory(opts)
	if err != nil {
		return nil, false, err
	}
	r.epochs++
	e := &Entry{Client: c, Epoch: r.epochs, Remote: remote, fingerprint: fingerprint, credentials: credentials,
		account: opts.Account, rps: opts.RequestsPerSecond, burst: opts.Burst}
	if had {
		e.interval = old.Interval()
	}
	r.entries[key] = e
	r.retune(remote)
	if had {
		r.release(old.Remote)
	}
	return e, true, nil
}

// KnownUser returns the user the Account's current entry resolved, when it
// was built from the same host and credentials (for ssid credentials, whose
// user is learnt from a listing).
func (r *Registry) KnownUser(key types.NamespacedName, opts groupapi.Options) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[key]; ok && e.credentials == fingerprintOf(opts, "") {
		return e.Remote.ID.User
	}
	return ""
}

// fingerprintOf hashes the options, so the entry does not keep a second
// copy of the credentials in clear.
func fingerprintOf(o groupapi.Options, user string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %q %v %q", o.BaseURL, o.Credentials.SSID, o.Credentials.UserID, o.Credentials.Token, o.Timeout, user)
	return hex.EncodeToString(h.Sum(nil))
}

// retune sets a shared budget to the most polite limit among the Accounts
// that use it. Under r.mu.
func (r *Registry) retune(remote *Remote) {
	rps, burst := 0.0, 0
	for _, e := range r.entries {
		if e.Remote != remote {
			continue
		}
		if rps == 0 || (e.rps > 0 && e.rps < rps) {
			rps = e.rps
		}
		if burst == 0 || (e.burst > 0 && e.burst < burst) {
			burst = e.burst
		}
	}
	remote.Budget.SetLimit(rps, burst)
}

// release forgets a remote account no Account resolves to any more. Under r.mu.
func (r *Registry) release(remote *Remote) {
	for _, e := range r.entries {
		if e.Remote == remote {
			r.retune(remote)
			return
		}
	}
	if r.remotes[remote.ID] == remote {
		delete(r.remotes, remote.ID)
	}
}

// Get returns the Account's entry, if its controller has built one.
// AgentGroups use Lookup, which also says why there is none.
func (r *Registry) Get(key types.NamespacedName) (*Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[key]
	return e, ok
}

// Forget drops the Account's entry (the Account is gone or unusable), and
// its client's metrics series.
func (r *Registry) Forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.refused, key)
	if e, ok := r.entries[key]; ok {
		delete(r.entries, key)
		r.release(e.Remote)
		groupapi.ForgetAccount(e.account)
	}
}

// Sharing reports, for the sync budget, how many AgentGroups all Accounts
// on the entry's remote account have, and the rate they share.
func (r *Registry) Sharing(e *Entry) (groups int, rps float64) {
	r.mu.Lock()
	entries := make([]*Entry, 0, 2)
	for _, o := range r.entries {
		if o.Remote == e.Remote {
			entries = append(entries, o)
		}
	}
	r.mu.Unlock()
	for _, o := range entries {
		o.mu.Lock()
		groups += o.groups
		o.mu.Unlock()
	}
	rps, _ = e.Remote.Budget.Limit()
	return groups, rps
}

// SetReady records whether the credentials work, and why not, and reports
// whether the AgentGroups waiting for the Account should go now: it just
// became ready, or its first check failed (they waited without a word).
// AgentGroups read readiness here rather than from the Account's status,
// which their cache may not have seen yet.
func (e *Entry) SetReady(ready bool, why string) (wake bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	wake = (ready && !e.ready) || (!ready && !e.checked)
	e.checked, e.ready, e.notReady = true, ready, why
	return wake
}

func (e *Entry) wasChecked() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.checked
}

// ListFailed records a failed listing and returns since when listing has
// failed without a success in between.
func (e *Entry) ListFailed(now time.Time) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failingSince.IsZero() {
		e.failingSince = now
	}
	return e.failingSince
}

// Ready reports whether the credentials work, and why not; checked is
// false until they were tried.
func (e *Entry) Ready() (ready, checked bool, why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ready, e.checked, e.notReady
}

// SetInterval records the effective drift-check interval.
func (e *Entry) SetInterval(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.interval = d
}

// Interval is the effective drift-check interval (0 until the Account set it).
func (e *Entry) Interval() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.interval
}

// SetGroupCount records how many AgentGroups the Account has.
func (e *Entry) SetGroupCount(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.groups = n
}
