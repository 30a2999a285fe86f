// Package accounts holds one Group API client per Account, shared by every
// AgentGroup of that Account so that they draw on one rate-limit budget, and
// the drift-check schedule that spreads their resyncs over the interval.
package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// Factory builds a client; tests swap it to count or wrap calls.
type Factory func(groupapi.Options) (groupapi.Interface, error)

// Registry maps Accounts to their current client. The Account controller
// writes it; the AgentGroup controller reads it.
type Registry struct {
	factory Factory

	mu      sync.RWMutex
	entries map[types.NamespacedName]*Entry
	epochs  int64
}

// NewRegistry returns an empty registry; a nil factory means groupapi.New.
func NewRegistry(factory Factory) *Registry {
	if factory == nil {
		factory = func(o groupapi.Options) (groupapi.Interface, error) { return groupapi.New(o) }
	}
	return &Registry{factory: factory, entries: map[types.NamespacedName]*Entry{}}
}

// Entry is one Account's client and what is known about its groups.
type Entry struct {
	Client groupapi.Interface
	// Epoch changes whenever the client is rebuilt (new credentials or
	// spec), so a stalled AgentGroup knows it may try again.
	Epoch int64

	fingerprint string

	mu           sync.Mutex
	ready        bool
	notReady     string
	interval     time.Duration
	listing      []groupapi.Group
	listedAt     time.Time
	listInFlight chan struct{}
}

// Ensure returns the Account's entry, building a new client only when what
// a client is built from changed: a rebuild wakes every group of the
// Account, so a label on the Secret or a new syncInterval must not cause one.
func (r *Registry) Ensure(key types.NamespacedName, opts groupapi.Options) (*Entry, bool, error) {
	fingerprint := fingerprintOf(opts)
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.entries[key]; ok && e.fingerprint == fingerprint {
		return e, false, nil
	}
	c, err := r.factory(opts)
	if err != nil {
		return nil, false, err
	}
	r.epochs++
	e := &Entry{Client: c, fingerprint: fingerprint, Epoch: r.epochs, notReady: "its credentials have not been checked yet"}
	if old, ok := r.entries[key]; ok {
		e.interval = old.Interval()
	}
	r.entries[key] = e
	return e, true, nil
}

// fingerprintOf hashes the options, so the entry does not keep a second
// copy of the credentials in clear.
func fingerprintOf(o groupapi.Options) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %q %v %d %v", o.BaseURL, o.Credentials.SSID, o.Credentials.UserID, o.Credentials.Token, o.RequestsPerSecond, o.Burst, o.Timeout)
	return hex.EncodeToString(h.Sum(nil))
}

// Get returns the Account's entry, if its controller has built one.
func (r *Registry) Get(key types.NamespacedName) (*Entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.entries[key]
	return e, ok
}

// Forget drops the Account's entry (the Account is gone or unusable).
func (r *Registry) Forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.entries, key)
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

// Remember stores a full listing of the account's groups.
func (e *Entry) Remember(groups []groupapi.Group, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.listing, e.listedAt = groups, at
}

// Groups returns every remote group of the account, from a listing no
// older than maxAge, listing again otherwise. Concurrent callers share one
// list call: creating 1,000 groups costs one lookup, not 1,000.
func (e *Entry) Groups(ctx context.Context, maxAge time.Duration) ([]groupapi.Group, error) {
	for {
		e.mu.Lock()
		if e.listing != nil && time.Since(e.listedAt) <= maxAge {
			groups := e.listing
			e.mu.Unlock()
			return groups, nil
		}
		if wait := e.listInFlight; wait != nil {
			e.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		e.listInFlight = done
		e.mu.Unlock()

		at := time.Now()
		groups, err := e.Client.List(ctx, groupapi.ListOptions{Quick: true})
		e.mu.Lock()
		if err == nil {
			if groups == nil {
				groups = []groupapi.Group{}
			}
			e.listing, e.listedAt = groups, at
		}
		e.listInFlight = nil
		close(done)
		e.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return groups, nil
	}
}

// AddToListing adds a group this operator just created to the cached
// listing, so the next lookup by name sees it without a list call.
func (e *Entry) AddToListing(g groupapi.Group) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.listing != nil {
		e.listing = append(e.listing[:len(e.listing):len(e.listing)], g)
	}
}

// RemoveFromListing drops a group this operator just deleted.
func (e *Entry) RemoveFromListing(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	kept := make([]groupapi.Group, 0, len(e.listing))
	for _, g := range e.listing {
		if g.ID != id {
			kept = append(kept, g)
		}
	}
	if e.listing != nil {
		e.listing = kept
	}
}
