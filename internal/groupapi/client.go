package groupapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	defaultRPS     = 5
	defaultBurst   = 10
	defaultTimeout = 30 * time.Second
	// defaultRetryAfter is the pause after a 429 without a usable header.
	defaultRetryAfter = time.Second
	// DefaultMaxRetryAfter caps the pause one 429 can impose.
	DefaultMaxRetryAfter = 10 * time.Minute
	maxBody              = 32 << 20
)

// Options configure a Client.
type Options struct {
	// BaseURL is the brand host: https://host, or http:// only for
	// 127.0.0.1, [::1] and localhost.
	BaseURL     string
	Credentials Credentials
	// Budget is the rate limit the client's calls draw on, shared with
	// other clients of the same remote account; nil: a budget of its own,
	// sized by RequestsPerSecond and Burst (<= 0: 5 and 10).
	Budget            *Budget
	RequestsPerSecond float64
	Burst             int
	// Timeout bounds one request (0: 30s).
	Timeout time.Duration
	// MaxRetryAfter caps the pause a 429's Retry-After imposes on the
	// remote account (0: DefaultMaxRetryAfter).
	MaxRetryAfter time.Duration
	// HTTPClient sends the requests (nil: a default one). Either way the
	// client never follows a redirect.
	HTTPClient *http.Client
	// AllowInsecureLoopback permits an http:// BaseURL (loopback only);
	// without it only https:// is called.
	AllowInsecureLoopback bool
	// Account labels the client's metrics: the Account ("namespace/name")
	// it calls for. ForgetAccount deletes its series.
	Account string
}

// Client calls the Group API of one account. Safe for concurrent use; all
// callers share its rate limit.
type Client struct {
	base    string
	creds   Credentials
	http    *http.Client
	timeout time.Duration
	budget  *Budget
	// maxRetryAfter caps a 429's pause.
	maxRetryAfter time.Duration
	account       string
	redact        redactor
}

var _ Interface = (*Client)(nil)

// BaseURLError is a baseURL the client refuses to call.
type BaseURLError struct {
	URL string
	// InsecureLoopback: plain http:// to a loopback host, refused only
	// because Options.AllowInsecureLoopback is off.
	InsecureLoopback bool
	msg              string
}

func (e *BaseURLError) Error() string { return e.msg }

func badBaseURL(raw, format string, a ...any) *BaseURLError {
	return &BaseURLError{URL: raw, msg: fmt.Sprintf(format, a...)}
}

// ValidateBaseURL accepts https:// URLs, and http:// only on loopback.
func ValidateBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return badBaseURL(raw, "baseURL: %v", err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return badBaseURL(raw, "baseURL %q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return badBaseURL(raw, "baseURL %q must not have a query or fragment", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		switch u.Hostname() {
		case "127.0.0.1", "::1", "localhost":
			return nil
		}
		return badBaseURL(raw, "baseURL %q must use https (http is allowed only for 127.0.0.1, [::1] and localhost)", raw)
	}
	return badBaseURL(raw, "baseURL %q must be an https URL", raw)
}

// New builds a client.
func New(opts Options) (*Client, error) {
	if err := ValidateBaseURL(opts.BaseURL); err != nil {
		return nil, err
	}
	if u, _ := url.Parse(opts.BaseURL); u.Scheme == "http" && !opts.AllowInsecureLoopback {
		return nil, &BaseURLError{URL: opts.BaseURL, InsecureLoopback: true,
			msg: fmt.Sprintf("baseURL %q uses plain http, allowed only to a loopback host with AllowInsecureLoopback", opts.BaseURL)}
	}
	if err := opts.Credentials.Validate(); err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	budget := opts.Budget
	if budget == nil {
		budget = NewBudget(opts.RequestsPerSecond, opts.Burst)
	}
	hc := &http.Client{}
	if opts.HTTPClient != nil {
		copied := *opts.HTTPClient
		hc = &copied
	}
	// Go's default follows 307/308 with the body, credentials and all, to
	// whatever host the Location names: answer with the 3xx instead.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	maxRetryAfter := opts.MaxRetryAfter
	if maxRetryAfter <= 0 {
		maxRetryAfter = DefaultMaxRetryAfter
	}
	return &Client{
		base:          strings.TrimRight(opts.BaseURL, "/") + "/api/v2/Group/",
		creds:         opts.Credentials,
		http:          hc,
		timeout:       timeout,
		budget:        budget,
		maxRetryAfter: maxRetryAfter,
		account:       opts.Account,
		redact:        newRedactor(opts.Credentials.Token, opts.Credentials.SSID),
	}, nil
}

// Add creates a group; the API may append a number to a taken name.
func (c *Client) Add(ctx context.Context, name string) (string, error) {
	var out envelope
	if err := c.call(ctx, OpAdd, map[string]any{"name": name}, &out); err != nil {
		return "", err
	}
	id := out.groupID()
	if id == "" {
		return "", &APIError{Op: OpAdd, HTTPStatus: out.httpStatus, Message: "success answer without a groupId"}
	}
	return id, nil
}

// Update renames a group and sets its status.
func (c *Client) Update(ctx context.Context, req UpdateRequest) error {
	status := 0
	if req.Enabled {
		status = 1
	}
	return c.call(ctx, OpUpdate, map[string]any{"groupId": req.GroupID, "name": req.Name, "status": status}, nil)
}

// Delete deletes a group and its agent relations.
func (c *Client) Delete(ctx context.Context, groupID string) error {
	return c.call(ctx, OpDelete, map[string]any{"groupId": groupID}, nil)
}

// List lists the account's groups.
func (c *Client) List(ctx context.Context, opts ListOptions) ([]Group, error) {
	body := map[string]any{"forward": opts.Forward, "quick": opts.Quick}
	if opts.Name != "" {
		body["name"] = opts.Name
	}
	if opts.GroupID != "" {
		body["groupid"] = opts.GroupID
	}
	var out envelope
	if err := c.call(ctx, OpList, body, &out); err != nil {
		return nil, err
	}
	groups, err := decodeGroups(out.Response)
	if err != nil {
		return nil, &APIError{Op: OpList, HTTPStatus: out.httpStatus, Message: err.Error()}
	}
	return groups, nil
}

// GetGroupAgentRelation reads one group with its members and receivers.
func (c *Client) GetGroupAgentRelation(ctx context.Context, groupID string) (GroupDetail, error) {
	var out envelope
	if err := c.call(ctx, OpGetGroupAgentRelation, map[string]any{"groupId": groupID, "quick": true}, &out); err != nil {
		return GroupDetail{}, err
	}
	d, err := decodeDetail(out.Response, groupID)
	if err != nil {
		return GroupDetail{}, &APIError{Op: OpGetGroupAgentRelation, HTTPStatus: out.httpStatus, Message: err.Error()}
	}
	return d, nil
}

// SubmitAssignGroupToAgent replaces the group's members and receivers.
func (c *Client) SubmitAssignGroupToAgent(ctx context.Context, req AssignRequest) error {
	members, receivers := req.Members, req.Receivers
	if members == nil {
		members = []string{}
	}
	if receivers == nil {
		receivers = []string{}
	}
	return c.call(ctx, OpSubmitAssignGroupToAgent, map[string]any{"groupId": req.GroupID, "agent_unique_id": members, "receive_call": receivers}, nil)
}

// call takes its turn on the rate limit, runs the context's before-send hook,
// sends one request and decodes the answer into out. It never retries:
// whether to is the caller's decision (an add retried blindly is how
// duplicates are made).
func (c *Client) call(ctx context.Context, op Operation, body map[string]any, out *envelope) (err error) {
	if err := c.budget.take(ctx, c.account); err != nil {
		return &APIError{Op: op, Err: notSent{err}}
	}
	if hook, ok := ctx.Value(beforeSendKey{}).(func() error); ok {
		if err := hook(); err != nil {
			return &APIError{Op: op, Err: notSent{err}}
		}
	}
	start := time.Now()
	observe, _ := ctx.Value(observerKey{}).(func(Exchange))
	ex := Exchange{Op: op}
	defer func() {
		requestDuration.WithLabelValues(c.account, string(op)).Observe(time.Since(start).Seconds())
		requestsTotal.WithLabelValues(c.account, string(op), string(Classify(err))).Inc()
		if observe != nil {
			ex.Duration, ex.Err = time.Since(start), err
			observe(ex)
		}
	}()

	if c.creds.SSID != "" {
		body["ssid"] = c.creds.SSID
	} else {
		body["userId"], body["token"] = c.creds.UserID, c.creds.Token
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return &APIError{Op: op, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+string(op), bytes.NewReader(payload))
	if err != nil {
		return &APIError{Op: op, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if neverConnected(err) {
			return &APIError{Op: op, Err: notSent{transportError(err)}}
		}
		return &APIError{Op: op, Err: transportError(err)}
	}
	defer resp.Body.Close()
	ex.HTTPStatus = resp.StatusCode
	ex.RetryAfter = resp.Header.Get("Retry-After")
	ex.Location = c.redact.all(location(resp))
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection
		return &APIError{Op: op, HTTPStatus: resp.StatusCode, Message: c.redirected(resp)}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if observe != nil {
		ex.Body = []byte(c.redact.all(string(raw)))
	}
	if err != nil {
		return &APIError{Op: op, HTTPStatus: resp.StatusCode, Err: transportError(err)}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		now := time.Now()
		wait := min(parseRetryAfter(resp.Header.Get("Retry-After"), now), c.maxRetryAfter)
		c.budget.pause(now.Add(wait))
		throttledTotal.WithLabelValues(c.account, "server").Inc()
		e := decodeError(op, resp.StatusCode, raw, c.redact)
		e.RetryAfter, e.at = wait, now
		return e
	}
	env, derr := decodeEnvelope(op, resp.StatusCode, raw, c.redact)
	if derr != nil {
		return derr
	}
	if out != nil {
		*out = env
	}
	return nil
}

// redirected says where a 3xx pointed, and what to do about it.
func (c *Client) redirected(resp *http.Response) string {
	return fmt.Sprintf("the brand host answered HTTP %d %s; the operator never follows redirects (credentials stay on the brand host): set baseURL to the host that serves the API",
		resp.StatusCode, c.redact.text(RedirectTarget(location(resp))))
}

// location is an answer's Location header, resolved against the request
// (a relative one points at the brand host); "" without one.
func location(resp *http.Response) string {
	if loc, err := resp.Location(); err == nil {
		return loc.String()
	}
	return resp.Header.Get("Location")
}

// RedirectTarget says where a redirect's Location points, by host only:
// its path, query and user info may carry anything. "redirecting to
// api.example.com", or "with no usable Location". The client's redirect
// errors and kubectl agentgroup doctor both name a redirect this way.
func RedirectTarget(location string) string {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" {
		return "with no usable Location"
	}
	return "redirecting to " + u.Host
}

// beforeSendKey carries the hook WithBeforeSend installs.
type beforeSendKey struct{}

// WithBeforeSend returns a context whose calls run hook after every
// rate-limit wait, just before the request leaves. An error from hook stops
// the call unsent. The controller records a create intent this way, stamped
// with the moment the add is actually sent.
func WithBeforeSend(ctx context.Context, hook func() error) context.Context {
	return context.WithValue(ctx, beforeSendKey{}, hook)
}

// observerKey carries the hook WithObserver installs.
type observerKey struct{}

// Exchange is one request sent and what came back, as an observer sees
// it: enough to check an answer's raw shape without a second HTTP client.
type Exchange struct {
	Op Operation
	// HTTPStatus is 0 when no answer came (Err says why).
	HTTPStatus int
	// RetryAfter and Location are the answer's headers, as sent (Location
	// resolved against the request, as a relative one points at the brand
	// host, and stripped of the credentials).
	RetryAfter string
	Location   string
	// Body is the answer's body with every credential replaced by
	// "[redacted]", uncut; nil for a redirect or no answer.
	Body     []byte
	Duration time.Duration
	// Err is what the call returned (nil: success).
	Err error
}

// WithObserver returns a context whose calls each report their Exchange
// to observe once they went to the network, after the answer is judged;
// calls held back by the rate limit or the before-send hook are not
// reported. kubectl agentgroup doctor checks a brand host's
// answers this way.
func WithObserver(ctx context.Context, observe func(Exchange)) context.Context {
	return context.WithValue(ctx, observerKey{}, observe)
}

// notSent marks a failure that happened before the request left.
type notSent struct{ err error }

func (e notSent) Error() string { return "not sent: " + e.err.Error() }
func (e notSent) Unwrap() error { return e.err }

// NotSent reports whether a failed call certainly never reached the API:
// the rate limit held it back (HeldUntil), its context ended while it
// waited, its before-send hook refused, or no connection could be made.
func NotSent(err error) bool {
	var n notSent
	return errors.As(err, &n)
}

// neverConnected reports a failure to connect: the request did not leave.
func neverConnected(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns)
}

// parseRetryAfter reads delay-seconds or an HTTP date; default 1s.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return defaultRetryAfter
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return defaultRetryAfter
}

// transportError keeps the kind of failure and drops what could carry
// request data; url.Error holds only method and URL, and the URL has no
// credentials (they travel in the body).
func transportError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("timeout: %w", err)
	}
	return err
}
