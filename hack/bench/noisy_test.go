package main

import (
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	twenty := ms(20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
	cases := map[string]struct {
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		"none":                 {nil, 0.5, 0},
		"one":                  {ms(7), 0.99, 7 * time.Millisecond},
		"median of 20":         {twenty, 0.5, 10 * time.Millisecond},
		"p99 of 20 is the max": {twenty, 0.99, 20 * time.Millisecond},
		"p95 of 20":            {twenty, 0.95, 19 * time.Millisecond},
		"max":                  {twenty, 1, 20 * time.Millisecond},
		"p99 of 200 is 198th":  {ms(seq(200)...), 0.99, 198 * time.Millisecond},
	}
	for name, tc := range cases {
		if got := percentile(tc.samples, tc.q); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}
