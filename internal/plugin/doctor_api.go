package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// The sections of doctor's report, in order.
const (
	sectionAccount     = "Account and Secret"
	sectionCredentials = "Credentials"
	sectionPermission  = "Permission"
	sectionReads       = "Reads"
	sectionWrites      = "Writes (probed only with --probe-write-endpoints, for a group id that does not exist)"
	sectionLimits      = "Latency, Retry-After, redirects"
)

// retryAfterWait is the longest Retry-After doctor waits out before
// sending a throttled call once more; longer, it stops calling.
const retryAfterWait = 10 * time.Second

// expectations are what the cluster says about the account, for the API's
// answers to be compared with.
type expectations struct {
	// UserID is the userId the credentials name ("" for an ssid).
	UserID string
	// RemoteAccount is the Account's status.remoteAccount, "<user>@<host>"
	// ("" until the operator has checked the Account).
	RemoteAccount string
	BaseURL       string
}

// apiDoctor checks one account's Group API with its client: every call
// it makes is seen raw (groupapi.WithObserver) and judged against
// GROUP_API.md and what the client tolerates. It only reads, unless
// probeWrites: then it also sends update, delete and
// submitAssignGroupToAgent, for a group id getGroupAgentRelation has just
// answered 1503 for. It never calls add.
type apiDoctor struct {
	client *groupapi.Client
	expect expectations
	// probeWrites is --probe-write-endpoints.
	probeWrites bool
	// retryAfterWait overrides the package's (tests).
	retryAfterWait time.Duration

	exchanges []groupapi.Exchange
	throttles []throttle
	// stopped says why no further call is made ("": calls go on).
	stopped string
}

// throttle is a 429 doctor saw, and what it did about it.
type throttle struct {
	op         groupapi.Operation
	retryAfter string // the header, as sent
	wait       time.Duration
	// retried is the answer to the call sent again ("": not sent again).
	retried string
}

// run makes every check, adding its findings to r.
func (d *apiDoctor) run(ctx context.Context, r *report) {
	if listed, permitted, ok := d.checkListing(ctx, r); ok {
		d.checkReadsAndWrites(ctx, r, listed, permitted)
	}
	d.checkLimits(r)
	r.incomplete = d.stopped
	r.writesUnprobed = !d.probeWrites
}

// call makes one call and returns its exchange. A 429 with a Retry-After
// of at most retryAfterWait is waited out (the client's budget holds the
// next call until then) and the call sent once more, as a read is safe to
// repeat (doctor's only writes are to an absent group); a longer one, a
// redirect or no answer stop further calls.
func (d *apiDoctor) call(ctx context.Context, do func(context.Context) error) (groupapi.Exchange, error) {
	var last groupapi.Exchange
	ctx = groupapi.WithObserver(ctx, func(e groupapi.Exchange) {
		d.exchanges = append(d.exchanges, e)
		last = e
	})
	err := do(ctx)
	if last.HTTPStatus == http.StatusTooManyRequests {
		t := throttle{op: last.Op, retryAfter: last.RetryAfter}
		var ae *groupapi.APIError
		if errors.As(err, &ae) {
			t.wait = ae.RetryAfter
		}
		limit := d.retryAfterWait
		if limit <= 0 {
			limit = retryAfterWait
		}
		if t.wait > limit {
			d.stopped = fmt.Sprintf("the API asked for a pause of %s (429 Retry-After), longer than doctor waits (%s): run it again later", t.wait, limit)
		} else {
			last = groupapi.Exchange{}
			err = do(ctx)
			t.retried = answered(last, err)
			if last.HTTPStatus == http.StatusTooManyRequests {
				d.stopped = "the API answered 429 again after its Retry-After: run doctor again later"
			}
		}
		d.throttles = append(d.throttles, t)
	}
	switch {
	case groupapi.IsRedirect(err):
		d.stopped = "the brand host redirects (see redirects)"
	case last.HTTPStatus == 0 && err != nil && d.stopped == "":
		d.stopped = "the brand host did not answer"
	}
	return last, err
}

// skipped adds a skip line for check when calls have stopped, and reports
// whether it did.
func (d *apiDoctor) skipped(s *section, check string) bool {
	if d.stopped == "" {
		return false
	}
	s.add(verdictSkip, check, "not checked: %s", d.stopped)
	return true
}

// answered says what an answer was, in a few words and a time:
// `200 OK in 3 ms`, `1503 "Group not found" with HTTP 404 in 2 ms`,
// `HTTP 302 redirecting to https://elsewhere`, `no answer: ...`.
func answered(e groupapi.Exchange, err error) string {
	took := " in " + millis(e.Duration)
	var ae *groupapi.APIError
	switch {
	case e.HTTPStatus == 0 && err != nil:
		return "no answer: " + err.Error()
	case err == nil:
		return fmt.Sprintf("%d %s%s", e.HTTPStatus, http.StatusText(e.HTTPStatus), took)
	case groupapi.IsRedirect(err):
		return fmt.Sprintf("HTTP %d %s", e.HTTPStatus, groupapi.RedirectTarget(e.Location))
	case errors.As(err, &ae) && ae.Code != 0:
		return fmt.Sprintf("%d %q with HTTP %d%s", ae.Code, ae.Message, e.HTTPStatus, took)
	case errors.As(err, &ae) && ae.Err == nil:
		return fmt.Sprintf("HTTP %d, %s%s", e.HTTPStatus, ae.Message, took)
	}
	return fmt.Sprintf("HTTP %d, %v%s", e.HTTPStatus, err, took)
}

// failure judges an answer the operator cannot use, saying what it was
// and what it would do to the operator. A 429 is no mismatch: the check
// was not made (a warning; the Retry-After line says more).
func failure(e groupapi.Exchange, err error, consequence string) (verdict, string) {
	var ae *groupapi.APIError
	switch {
	case e.HTTPStatus == http.StatusTooManyRequests:
		return verdictWarn, answered(e, err) + ": not checked (see Retry-After)"
	case groupapi.IsRedirect(err):
		return verdictFail, answered(e, err) + " (see redirects)"
	case errors.As(err, &ae) && ae.Code != 0 && !documentedCode(ae.Code):
		return verdictFail, fmt.Sprintf("%s: code %d is not one GROUP_API.md lists (the operator retries it as a passing failure): %s", answered(e, err), ae.Code, consequence)
	}
	return verdictFail, answered(e, err) + ": " + consequence
}

// documentedCode reports the error codes GROUP_API.md lists.
func documentedCode(code int) bool {
	return slices.Contains([]int{groupapi.CodeInvalidParameters, groupapi.CodeGeneric, groupapi.CodePermissionDenied, groupapi.CodeInvalidData,
		groupapi.CodeNameRequired, groupapi.CodeGroupIDRequired, groupapi.CodeGroupNotFound}, code)
}

// millis writes a latency in milliseconds, with a decimal below 10 ms.
func millis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
}
