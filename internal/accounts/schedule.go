package accounts

import (
	"hash/fnv"
	"time"
)

// ResyncShare is the part of an Account's rate limit that drift checks may
// use; the rest stays free for changes people make, so a large account's
// resyncs never starve an edit.
const ResyncShare = 0.5

// EffectiveInterval is the drift-check interval for n groups at rps requests
// per second: the wanted interval, or longer when one read per group per
// interval would take more than ResyncShare of the rate limit.
func EffectiveInterval(want time.Duration, n int, rps float64) time.Duration {
	if rps <= 0 || n <= 0 {
		return want
	}
	need := time.Duration(float64(n) / (rps * ResyncShare) * float64(time.Second)).Round(time.Second)
	if need > want {
		return need
	}
	return want
}

// NextSync is how long until the group with this key is re-read. Each key
// has a fixed phase inside the interval (a hash of the key), so groups
// created together are re-read spread evenly over the interval instead of
// all at once, and each group is re-read once per interval. The wait is
// never shorter than half an interval.
func NextSync(now time.Time, interval time.Duration, key string) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	period := int64(interval)
	phase := int64(h.Sum64() % uint64(period))
	n := now.UnixNano()
	next := n - n%period + phase
	for next < n+period/2 {
		next += period
	}
	return time.Duration(next - n)
}
