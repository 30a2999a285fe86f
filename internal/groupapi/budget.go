package groupapi

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Budget is the rate limit that every call to one remote account draws
// on: a token bucket, and the pause a 429's Retry-After asks for. Clients
// of Accounts that resolve to the same remote account share one Budget, so
// two Account objects on one DeepCall user never send at twice its rate.
type Budget struct {
	limiter *rate.Limiter

	mu          sync.Mutex
	pausedUntil time.Time // set by a 429: nobody calls before it
}

// NewBudget returns a budget of rps requests per second with burst
// (<= 0: 5 and 10).
func NewBudget(rps float64, burst int) *Budget {
	rps, burst = budgetDefaults(rps, burst)
	return &Budget{limiter: rate.NewLimiter(rate.Limit(rps), burst)}
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

// wait honours a server-requested pause, then takes a token.
func (b *Budget) wait(ctx context.Context) error {
	b.mu.Lock()
	until := b.pausedUntil
	b.mu.Unlock()
	if d := time.Until(until); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r := b.limiter.Reserve()
	if !r.OK() {
		return errors.New("rate limiter refused the call")
	}
	if d := r.Delay(); d > 0 {
		throttledTotal.WithLabelValues("client").Inc()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			r.Cancel()
			return ctx.Err()
		}
	}
	return nil
}

func (b *Budget) pause(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if until := time.Now().Add(d); until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
}
