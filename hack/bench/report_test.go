package main

import (
	"strings"
	"testing"
	"time"
)

// The operator's share is the cold start's control-plane CPU less its
// creates alone, per 1,000 groups; runs without the figure get no row.
func TestCreatesAloneTableGivesTheOperatorsShare(t *testing.T) {
	cold := func(n int, cp, alone time.Duration) result {
		return result{run: run{n: n, rps: 50}, scenario: "cold start", groups: n, controlPlaneCPU: cp, createsAloneCPU: alone}
	}
	r := report{results: []result{
		cold(1000, 37*time.Second, 0),
		cold(10000, 415*time.Second, 90*time.Second),
		{run: run{n: 10000, rps: 50}, scenario: "no-op resync", groups: 10000, controlPlaneCPU: 180 * time.Second},
	}}
	got := r.createsAloneTable()
	if want := "| 10000 | 50 | 90.0 s | 9.0 s | 41.5 s | 32.5 s |"; !strings.Contains(got, want) {
		t.Errorf("table lacks %q:\n%s", want, got)
	}
	if rows := strings.Count(got, "\n| 1"); rows != 1 {
		t.Errorf("%d rows, want only the run with creates alone:\n%s", rows, got)
	}
	if got := (report{results: []result{cold(1000, 37*time.Second, 0)}}).createsAloneTable(); got != "" {
		t.Errorf("without creates alone the table is %q, want none", got)
	}
}
