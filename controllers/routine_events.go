package controllers

import (
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// routineEvents bounds the Normal events about AgentGroups (Created,
// Adopted, Deleted, DriftCorrected, …) per Account: each is an API-server
// write, and a 10,000-group apply would otherwise write 10,000 of them.
// Up to burst go through one by one, then one per every; the rest are
// counted and told in one event per reason on the Account, every interval
// while they come. A person applying a few groups sees each one's event;
// a large batch shows as a handful of summaries. Warnings always go
// through (each is written once, when its reason is entered).
type routineEvents struct {
	recorder events.EventRecorder
	burst    int
	every    time.Duration

	mu       sync.Mutex
	accounts map[types.NamespacedName]*accountEvents
}

type accountEvents struct {
	limiter *rate.Limiter
	// account is the Account (or ClusterAccount) the summary is about.
	account client.Object
	// held counts, per reason, the events not written one by one.
	held    map[string]int
	pending bool
}

func newRoutineEvents(recorder events.EventRecorder, burst int, every time.Duration) *routineEvents {
	if burst <= 0 {
		burst = 10
	}
	if every <= 0 {
		every = time.Minute
	}
	return &routineEvents{recorder: recorder, burst: burst, every: every, accounts: map[types.NamespacedName]*accountEvents{}}
}

// allow reports whether a routine event about an AgentGroup of account
// may be written now; if not, it is counted for the Account's summary.
func (r *routineEvents) allow(account client.Object, reason string) bool {
	key := client.ObjectKeyFromObject(account)
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.accounts[key]
	if !ok {
		a = &accountEvents{limiter: rate.NewLimiter(rate.Every(r.every), r.burst), held: map[string]int{}}
		r.accounts[key] = a
	}
	a.account = account
	if a.limiter.Allow() {
		return true
	}
	a.held[reason]++
	if !a.pending {
		a.pending = true
		time.AfterFunc(r.every, func() { r.summarize(key) })
	}
	return false
}

// summarize writes, on the Account, one event per reason held back.
func (r *routineEvents) summarize(key types.NamespacedName) {
	r.mu.Lock()
	a := r.accounts[key]
	held, account := a.held, a.account
	a.held, a.pending = map[string]int{}, false
	r.mu.Unlock()
	reasons := make([]string, 0, len(held))
	for reason := range held {
		reasons = append(reasons, reason)
	}
	sort.Strings(reasons)
	for _, reason := range reasons {
		r.recorder.Eventf(account, nil, corev1.EventTypeNormal, reason, "Reconcile",
			"%s for %d more AgentGroups of this Account (events about each AgentGroup are written up to %d at once, then one per %v per Account; their status shows each)",
			strings.ToLower(reason), held[reason], r.burst, r.every)
	}
}
