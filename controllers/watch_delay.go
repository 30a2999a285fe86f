package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
)

// echoes times each status write of this process from when it was sent
// until the manager's own watch of AgentGroups delivers it
// (deepcall_agentgroup_watch_delay_seconds), and tells the age of the
// oldest write still waiting (deepcall_agentgroup_watch_pending_seconds:
// a watch that stalls delivers nothing to time). Every edit a person makes
// reaches the operator through that same watch, so when it falls behind,
// so does everyone's edit: the figures show it before users do. One per
// process, like the metrics: UIDs keep the objects apart.
var writeEchoes echoes

type echoes struct {
	mu sync.Mutex
	// last holds, per AgentGroup, our write awaiting its event, or else
	// the newest event that arrived (its answer can come after the event).
	last map[types.UID]echo
}

type echo struct {
	resourceVersion string
	ours            bool      // a write of ours, awaiting its event
	at              time.Time // when ours was sent, or the event arrived
}

// wrote records a status write sent at sent that the API server stored as
// resourceVersion (one that changed nothing keeps the old version and
// brings no event: not timed).
func (e *echoes) wrote(uid types.UID, before, resourceVersion string, sent time.Time) {
	if resourceVersion == before {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.last[uid]; ok && !x.ours && shows(x.resourceVersion, resourceVersion) {
		metrics.watchDelay.Observe(max(x.at.Sub(sent), 0).Seconds())
		delete(e.last, uid)
		return
	}
	e.set(uid, echo{resourceVersion: resourceVersion, ours: true, at: sent})
}

// arrived records an update event: the first at or after our write's
// resourceVersion brings it back (after a relist, with later changes).
func (e *echoes) arrived(uid types.UID, resourceVersion string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.last[uid]
	switch {
	case ok && x.ours && shows(resourceVersion, x.resourceVersion):
		metrics.watchDelay.Observe(time.Since(x.at).Seconds())
		delete(e.last, uid)
	case ok && x.ours: // an older event; ours is still to come
	default:
		e.set(uid, echo{resourceVersion: resourceVersion, at: time.Now()})
	}
}

// shows reports whether an object at resourceVersion seen includes the
// write stored at ours. Versions of one resource compare as numbers
// (resourceversion.CompareResourceVersion); any other form only by
// equality.
func shows(seen, ours string) bool {
	c, err := resourceversion.CompareResourceVersion(seen, ours)
	if err != nil {
		return seen == ours
	}
	return c >= 0
}

func (e *echoes) set(uid types.UID, x echo) {
	if e.last == nil {
		e.last = map[types.UID]echo{}
	}
	e.last[uid] = x
}

// oldestPending is the age of the oldest write whose event has not come.
func (e *echoes) oldestPending(now time.Time) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	var oldest time.Duration
	for _, x := range e.last {
		if x.ours {
			oldest = max(oldest, now.Sub(x.at))
		}
	}
	return oldest
}

// oldestPendingWrite is the pending gauge, computed at each scrape.
func oldestPendingWrite() float64 { return writeEchoes.oldestPending(time.Now()).Seconds() }

func (e *echoes) forget(uid types.UID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.last, uid)
}
