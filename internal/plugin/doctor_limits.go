package plugin

import (
	"fmt"
	"slices"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// slowAnswer is a latency worth a warning: a third of the manager's
// default --request-timeout (30s).
const slowAnswer = 10 * time.Second

// checkLimits reports, over every call doctor made, the latency per
// endpoint, each 429 and its Retry-After, and each redirect.
func (d *apiDoctor) checkLimits(r *report) {
	s := r.section(sectionLimits)
	var ops []groupapi.Operation // in the order of their first call
	for _, e := range d.exchanges {
		if !slices.Contains(ops, e.Op) {
			ops = append(ops, e.Op)
		}
	}
	for _, op := range ops {
		var took []time.Duration
		for _, e := range d.exchanges {
			if e.Op == op && e.HTTPStatus != 0 {
				took = append(took, e.Duration)
			}
		}
		if len(took) == 0 {
			continue
		}
		slices.Sort(took)
		v := verdictOK
		if took[len(took)-1] > slowAnswer {
			v = verdictWarn
		}
		s.add(v, "latency "+string(op), "%s, min %s, median %s, max %s", plural(len(took), "call", "calls"),
			millis(took[0]), millis(median(took)), millis(took[len(took)-1]))
	}

	if len(d.throttles) == 0 {
		s.add(verdictOK, "Retry-After", "no 429 answered")
	}
	for _, t := range d.throttles {
		header := "with Retry-After: " + t.retryAfter
		if t.retryAfter == "" {
			header = "without Retry-After (the operator then waits 1s)"
		}
		then := "not waited for"
		if t.retried != "" {
			then = fmt.Sprintf("waited %s and sent it again: %s", t.wait, t.retried)
		}
		s.add(verdictWarn, "Retry-After", "%s answered 429 %s; %s (the operator pauses every call of the account for it)", t.op, header, then)
	}

	redirects := 0
	for _, e := range d.exchanges {
		if e.HTTPStatus >= 300 && e.HTTPStatus < 400 {
			redirects++
			s.add(verdictFail, "redirects", "%s answered HTTP %d %s: the client never follows redirects, so the operator would stall the Account with InvalidBaseURL: set baseURL to the host that serves the API",
				e.Op, e.HTTPStatus, groupapi.RedirectTarget(e.Location))
		}
	}
	if redirects == 0 {
		s.add(verdictOK, "redirects", "none")
	}
}

// median of sorted durations.
func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
