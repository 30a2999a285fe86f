package groupapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxInlineWait is the longest a named caller's call waits for its turn
// (see WithCaller): longer, it is not sent and the caller is told when to
// come back, so no reconcile worker sleeps on one account's rate limit
// while another account's work waits for a worker.
const MaxInlineWait = 250 * time.Millisecond

// Budget is the rate limit that every call to one remote account draws
// on: a token bucket, and the pause a 429's Retry-After asks for. Clients
// of Accounts that resolve to the same remote account share one Budget, so
// two Account objects on one DeepCall user never send at twice its rate.
type Budget struct {
	limiter *rate.Limiter

	mu          sync.Mutex
	pausedUntil time.Time // set by a 429: nobody calls before it
	onPause     func(until time.Time)
	// turns are tokens reserved for callers told to come back later.
	turns map[string]turn
	swept time.Time
}

// turn is what a caller sent away has reserved: tokens, usable from due.
type turn struct {
	tokens int
	due    time.Time
}

// NewBudget returns a budget of rps requests per second with burst
// (<= 0: 5 and 10).
func NewBudget(rps float64, burst int) *Budget {
	rps, burst = budgetDefaults(rps, burst)
	return &Budget{limiter: rate.NewLimiter(rate.Limit(rps), burst), turns: map[string]turn{}}
}

// SetLimit changes the rate and burst for calls from now on.
func (b *Budget) SetLimit(rps float64, burst int) {
	rps, burst = budgetDefaults(rps, burst)
	b.limiter.SetLimit(rate.Limit(rps))
	b.limiter.SetBurst(burst)
}

// Limit reports the rate and burst.
func (b *Budget) Limit() (float64, int) { return float64(b.limiter.Limit()), b.limiter.Burst() }

func budgetDefaults(rps float64, burst int) (float64, int) {
	if rps <= 0 {
		rps = defaultRPS
	}
	if burst <= 0 {
		burst = defaultBurst
	}
	return rps, burst
}

// OnPause sets what is called when a Retry-After starts a pause (not when
// one extends a pause already running).
func (b *Budget) OnPause(f func(until time.Time)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onPause = f
}

// PausedUntil is the end of the pause a Retry-After asked for (zero or
// past: none).
func (b *Budget) PausedUntil() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pausedUntil
}

// pause holds every call until until.
func (b *Budget) pause(until time.Time) {
	b.mu.Lock()
	started := !b.pausedUntil.After(time.Now())
	if until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
	f := b.onPause
	b.mu.Unlock()
	if started && f != nil {
		f(until)
	}
}

// take lets one call go, or says why not. A named caller (WithCaller)
// never waits longer than MaxInlineWait: during a pause, or when its turn
// on the token bucket is further off, it gets a *ThrottledError saying
// when to come back, and its turn stays reserved for then. Calls of no
// caller (background listings, tools) wait in line, bounded by ctx.
// account labels the throttling metric.
func (b *Budget) take(ctx context.Context, account string) error {
	c, _ := ctx.Value(callerKey{}).(*caller)
	if c == nil {
		return b.waitInLine(ctx, account)
	}
	now := time.Now()
	b.mu.Lock()
	if until := b.pausedUntil; until.After(now) {
		b.mu.Unlock()
		return &ThrottledError{Until: until, RetryAfter: true}
	}
	b.sweepLocked(now)
	if t, ok := b.turns[c.id]; ok && t.tokens > 0 {
		if d := t.due.Sub(now); d > MaxInlineWait {
			b.mu.Unlock()
			return &ThrottledError{Until: t.due}
		}
		if t.tokens--; t.tokens == 0 {
			delete(b.turns, c.id)
		} else {
			b.turns[c.id] = t
		}
		b.mu.Unlock()
		c.calls++
		return sleep(ctx, time.Until(t.due))
	}
	r := b.limiter.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if r.OK() && d <= MaxInlineWait {
		b.mu.Unlock()
		c.calls++
		if d > 0 {
			throttledTotal.WithLabelValues(account, "client").Inc()
		}
		if err := sleep(ctx, d); err != nil {
			r.Cancel()
			return err
		}
		return nil
	}
	r.CancelAt(now)
	// Come back with a token for every call this pass made so far, the
	// one refused and those it expects after it: a pass that needs three
	// calls must not lose its turn to its own first call on every return.
	// One reservation per token, so a turn may hold more than the burst.
	t := turn{tokens: max(c.calls+1, c.planned)}
	for range t.tokens {
		if r := b.limiter.ReserveN(now, 1); r.OK() {
			t.due = now.Add(r.DelayFrom(now))
		}
	}
	b.turns[c.id] = t
	b.mu.Unlock()
	throttledTotal.WithLabelValues(account, "client").Inc()
	return &ThrottledError{Until: t.due}
}

// waitInLine sleeps through a pause, then takes a token, sleeping as long
// as the bucket says: for calls of no caller, which hold no worker.
func (b *Budget) waitInLine(ctx context.Context, account string) error {
	if err := sleep(ctx, time.Until(b.PausedUntil())); err != nil {
		return err
	}
	r := b.limiter.Reserve()
	if !r.OK() {
		return errors.New("rate limiter refused the call")
	}
	if d := r.Delay(); d > 0 {
		throttledTotal.WithLabelValues(account, "client").Inc()
		if err := sleep(ctx, d); err != nil {
			r.Cancel()
			return err
		}
	}
	return nil
}

// sweepLocked forgets turns their callers did not come back for (the
// object went away); their tokens are spent either way.
func (b *Budget) sweepLocked(now time.Time) {
	if now.Sub(b.swept) < time.Minute {
		return
	}
	b.swept = now
	for id, t := range b.turns {
		if now.Sub(t.due) > time.Minute {
			delete(b.turns, id)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ThrottledError is a call not sent because the remote account's budget
// holds it until Until: a Retry-After pause, or its turn on the token
// bucket (reserved for the caller).
type ThrottledError struct {
	Until      time.Time
	RetryAfter bool // a pause the API asked for, not our own rate limit
}

func (e *ThrottledError) Error() string {
	if e.RetryAfter {
		return fmt.Sprintf("the Group API asked for a pause until %s (Retry-After)", e.Until.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("the account's rate limit has a turn at %s", e.Until.UTC().Format(time.RFC3339Nano))
}

// HeldUntil reports until when a call was held back: a call not sent for
// the budget, or a 429 answer (until the end of its Retry-After).
func HeldUntil(err error) (time.Time, bool) {
	var t *ThrottledError
	if errors.As(err, &t) {
		return t.Until, true
	}
	var e *APIError
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.at.Add(e.RetryAfter), true
	}
	return time.Time{}, false
}

type callerKey struct{}

// caller is one reconcile of one object: its name, the calls it made, and
// how many it expects to make in all (ExpectCalls).
type caller struct {
	id      string
	calls   int
	planned int
}

// WithCaller returns a context for one reconcile of the object id: its
// calls never wait long on the rate limit (see Budget.take).
func WithCaller(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, callerKey{}, &caller{id: id})
}

// ExpectCalls tells the budget that the caller's pass will make n more
// calls, so that a turn it is given covers them all.
func ExpectCalls(ctx context.Context, n int) {
	if c, ok := ctx.Value(callerKey{}).(*caller); ok {
		c.planned = c.calls + n
	}
}
