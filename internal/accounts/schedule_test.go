package accounts

import (
	"fmt"
	"testing"
	"time"
)

func TestEffectiveInterval(t *testing.T) {
	cases := map[string]struct {
		want time.Duration
		n    int
		rps  float64
		out  time.Duration
	}{
		"few groups keep the interval":    {want: 10 * time.Minute, n: 100, rps: 5, out: 10 * time.Minute},
		"exactly at the budget":           {want: 10 * time.Minute, n: 1500, rps: 5, out: 10 * time.Minute},
		"over the budget stretches":       {want: 10 * time.Minute, n: 10000, rps: 5, out: 4000 * time.Second},
		"higher rate covers more":         {want: 10 * time.Minute, n: 10000, rps: 50, out: 10 * time.Minute},
		"no groups":                       {want: time.Minute, n: 0, rps: 5, out: time.Minute},
		"unknown rate keeps the interval": {want: time.Minute, n: 10, rps: 0, out: time.Minute},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := EffectiveInterval(tc.want, tc.n, tc.rps); got != tc.out {
				t.Errorf("EffectiveInterval(%v, %d, %v) = %v, want %v", tc.want, tc.n, tc.rps, got, tc.out)
			}
		})
	}
}

func TestNextSyncSpreadsGroupsOverTheInterval(t *testing.T) {
	const interval = 10 * time.Minute
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	buckets := make([]int, 10)
	for i := range 1000 {
		d := NextSync(now, interval, fmt.Sprintf("team-a/group-%d", i))
		if d < interval/2 || d >= interval*3/2 {
			t.Fatalf("wait %v outside [interval/2, 1.5 interval)", d)
		}
		buckets[int((d-interval/2)/(interval/10))]++
	}
	// 1,000 groups created at once must not be re-read at once: every tenth
	// of the interval gets some of them, none gets more than twice its share.
	for i, n := range buckets {
		if n == 0 || n > 200 {
			t.Errorf("bucket %d holds %d of 1000 resyncs: %v", i, n, buckets)
		}
	}
}

func TestNextSyncKeepsOnePeriodPerGroup(t *testing.T) {
	const interval = time.Minute
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	first := now.Add(NextSync(now, interval, "ns/g"))
	second := first.Add(NextSync(first, interval, "ns/g"))
	if got := second.Sub(first); got != interval {
		t.Errorf("successive resyncs %v apart, want exactly %v", got, interval)
	}
}
