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
	wake    func(types.NamespacedName)
}

// NewRegistry returns an empty registry; a nil factory means groupapi.New.
func NewRegistry(factory Factory) *Registry {
	if factory == nil {
		factory = func(o groupapi.Options) (groupapi.Interface, error) { return groupapi.New(o) }
	}
	return &Registry{factory: factory, entries: map[types.NamespacedName]*Entry{}, remotes: map[RemoteAccount]*Remote{}}
}

// SetWake sets what is called for an AgentGroup whose awaited listing has
// arrived (the AgentGroup controller enqueues it).
func (r *Registry) SetWake(f func(types.NamespacedName)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wake = f
}

func (r *Registry) notify(key types.NamespacedName) {
	r.mu.Lock()
	wake := r.wake
	r.mu.Unlock()
	if wake != nil {
		wake(key)
	}
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
	credentials string // the same, without the resolved user
	rps         float64
	burst       int

	mu       sync.Mutex
	ready    bool
	notReady string
	interval time.Duration
	groups   int // AgentGroups of the Account, for the shared sync budget
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
	id := RemoteAccount{Host: HostOf(opts.BaseURL), User: user}
	remote := r.remotes[id]
	if remote == nil {
		remote = newRemote(id, r.notify)
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
		rps: opts.RequestsPerSecond, burst: opts.Burst, notReady: "its credentials have not been checked yet"}
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
func (r *Registry) Get(key types.NamespacedName) (*Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[key]
	return e, ok
}

// Forget drops the Account's entry (the Account is gone or unusable).
func (r *Registry) Forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[key]; ok {
		delete(r.entries, key)
		r.release(e.Remote)
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
// whether the entry just became ready. AgentGroups read readiness here
// rather than from the Account's status, which their cache may not have
// seen yet.
func (e *Entry) SetReady(ready bool, why string) (becameReady bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	becameReady = ready && !e.ready
	e.ready, e.notReady = ready, why
	return becameReady
}

// Ready reports whether the credentials work, and why not.
func (e *Entry) Ready() (bool, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ready, e.notReady
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
