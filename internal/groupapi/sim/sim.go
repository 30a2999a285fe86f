// Package sim is an in-memory DeepCall Group API: the six endpoints with
// the documented shapes, codes and quirks (GROUP_API.md: duplicate names get
// a number appended, the name filter is a case-insensitive substring,
// assignment replaces the whole membership), several users each with their
// own groups, fault injection (latency, errors, throttling, lost responses),
// and an admin API under /_sim/ to read the state and to change it "by
// hand". Tests, the demo and the benchmarks all run against it.
package sim

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Options configure a Server.
type Options struct {
	// ErrorHTTPStatus answers errors with 4xx/5xx instead of HTTP 200
	// (both readings of the docs exist).
	ErrorHTTPStatus bool
	Faults          Faults
	// Logf, if set, gets one line per API request (never credentials).
	Logf func(format string, args ...any)
	// Seed makes fault injection repeatable (0: time-based).
	Seed int64
	// UserRateLimit, if set, is a rate limit the service enforces per
	// user (requests per second, with UserBurst): a request over it is
	// answered 429 with Retry-After, as a real quota would.
	UserRateLimit float64
	UserBurst     int
}

// Faults are injected into API requests (not admin ones).
type Faults struct {
	Latency          time.Duration
	LatencyJitter    time.Duration
	ErrorRate        float64
	LostResponseRate float64
	ThrottleRate     float64
	RetryAfter       time.Duration
	// ReadLag hides groups younger than this from list and
	// getGroupAgentRelation (which answers 1503), as a service with
	// read-after-write lag would.
	ReadLag time.Duration
}

// faultsJSON is Faults on the admin API, durations written as "50ms".
type faultsJSON struct {
	Latency          string  `json:"latency,omitempty"`
	LatencyJitter    string  `json:"latencyJitter,omitempty"`
	ErrorRate        float64 `json:"errorRate"`
	LostResponseRate float64 `json:"lostResponseRate"`
	ThrottleRate     float64 `json:"throttleRate"`
	RetryAfter       string  `json:"retryAfter,omitempty"`
	ReadLag          string  `json:"readLag,omitempty"`
}

func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{Latency: f.Latency.String(), LatencyJitter: f.LatencyJitter.String(), ErrorRate: f.ErrorRate,
		LostResponseRate: f.LostResponseRate, ThrottleRate: f.ThrottleRate, RetryAfter: f.RetryAfter.String(), ReadLag: f.ReadLag.String()})
}

func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Faults{ErrorRate: j.ErrorRate, LostResponseRate: j.LostResponseRate, ThrottleRate: j.ThrottleRate}
	for _, d := range []struct {
		in  string
		out *time.Duration
	}{{j.Latency, &out.Latency}, {j.LatencyJitter, &out.LatencyJitter}, {j.RetryAfter, &out.RetryAfter}, {j.ReadLag, &out.ReadLag}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil {
			return err
		}
		*d.out = v
	}
	*f = out
	return nil
}

// User is one DeepCall account holder.
type User struct {
	ID    string
	Token string
	// SSIDs are session ids that authenticate as this user.
	SSIDs []string
	// Agents are the agent_unique_id values the user has; assigning any
	// other is refused with 1047.
	Agents []string
	// DenyAgentToAgentCall withholds the AGENT_TO_AGENT_CALL permission
	// (list with forward false and assign then answer 1015).
	DenyAgentToAgentCall bool
}

// AgentRange returns the ids from..to as strings.
func AgentRange(from, to int) []string {
	out := make([]string, 0, to-from+1)
	for i := from; i <= to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

// ParseAgentRange reads "FROM-TO" into the ids from..to.
func ParseAgentRange(v string) ([]string, error) {
	from, to, ok := strings.Cut(v, "-")
	a, err1 := strconv.Atoi(from)
	b, err2 := strconv.Atoi(to)
	if !ok || err1 != nil || err2 != nil || a > b || b-a > 1_000_000 {
		return nil, fmt.Errorf("agent range %q: want FROM-TO", v)
	}
	return AgentRange(a, b), nil
}

// Group is a copy of one remote group.
type Group struct {
	ID         int64    `json:"group_id"`
	UserID     string   `json:"user_id"`
	Name       string   `json:"name"`
	Status     int      `json:"status"`
	Members    []string `json:"members"`
	Receivers  []string `json:"receive_call"`
	CreateDate string   `json:"create_date"`
}

type user struct {
	User
	agents  map[string]bool
	limiter *rate.Limiter // Options.UserRateLimit; nil: none
}

type group struct {
	id        int64
	userID    string
	name      string
	status    int
	members   []string // sorted
	receivers map[string]bool
	created   time.Time
}

// FailRule makes the next N calls of Op fail with Code (0: 1009). With
// GroupID, only calls naming that group count. With AfterEffect, the call
// takes effect first and then answers the error: an answer that does not
// tell whether the change was made.
type FailRule struct {
	Op          string `json:"op"`
	N           int    `json:"n"`
	Code        int    `json:"code"`
	GroupID     string `json:"groupId,omitempty"`
	AfterEffect bool   `json:"afterEffect,omitempty"`
}

// Server is the simulator; it implements http.Handler.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu       sync.Mutex
	rng      *rand.Rand
	faults   Faults
	users    map[string]*user
	ssids    map[string]string
	groups   map[int64]*group
	nextID   int64
	calls    map[string]int
	byUser   map[string]int           // authenticated calls, by user id
	writes   map[int64]map[string]int // successful write calls, by group and operation
	injected map[string]int           // faults injected, by kind
	failNext []FailRule
	loseNext map[string]int
	// holdNext counts, by operation, calls whose answers wait for
	// Release; held is how many wait now, released is closed by Release.
	holdNext map[string]int
	held     int
	released chan struct{}
	// throttled users: every request authenticated as one is answered 429
	// with this Retry-After.
	throttled map[string]time.Duration
	onChange  func()
}

// New returns a simulator with no users.
func New(opts Options) *Server {
	seed := opts.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	s := &Server{
		opts:      opts,
		rng:       rand.New(rand.NewSource(seed)),
		faults:    opts.Faults,
		users:     map[string]*user{},
		ssids:     map[string]string{},
		groups:    map[int64]*group{},
		nextID:    1,
		calls:     map[string]int{},
		byUser:    map[string]int{},
		writes:    map[int64]map[string]int{},
		injected:  map[string]int{},
		loseNext:  map[string]int{},
		holdNext:  map[string]int{},
		released:  make(chan struct{}),
		throttled: map[string]time.Duration{},
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /api/v2/Group/{op}", s.serveAPI)
	s.mux.HandleFunc("POST /api/v2/Group/{op}/", s.serveAPI)
	s.routeAdmin()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// AddUser adds a user, or replaces one with the same id (new token,
// session ids, agents), keeping its groups.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.users[u.ID]; ok {
		for _, ssid := range old.SSIDs {
			delete(s.ssids, ssid)
		}
	}
	nu := &user{User: u, agents: map[string]bool{}}
	if s.opts.UserRateLimit > 0 {
		nu.limiter = rate.NewLimiter(rate.Limit(s.opts.UserRateLimit), max(s.opts.UserBurst, 1))
	}
	for _, a := range u.Agents {
		nu.agents[a] = true
	}
	s.users[u.ID] = nu
	for _, ssid := range u.SSIDs {
		s.ssids[ssid] = u.ID
	}
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// CurrentFaults returns the injected faults.
func (s *Server) CurrentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// FailNext makes the next n calls of op fail with code (0: 1009) before
// doing anything; n = 0 clears every rule for op.
func (s *Server) FailNext(op string, n int, code int) {
	s.Fail(FailRule{Op: op, N: n, Code: code})
}

// Fail adds a rule; a rule with N = 0 clears the rules for its op (and
// group, if it names one).
func (s *Server) Fail(r FailRule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = slices.DeleteFunc(s.failNext, func(o FailRule) bool {
		return o.Op == r.Op && (r.GroupID == "" || o.GroupID == r.GroupID)
	})
	if r.N <= 0 {
		return
	}
	if r.Code == 0 {
		r.Code = codeGeneric
	}
	s.failNext = append(s.failNext, r)
}

// takeRule uses up one call of the first rule matching op and group.
func (s *Server) takeRule(op, groupID string) (FailRule, bool) {
	for i, r := range s.failNext {
		if r.Op != op || (r.GroupID != "" && r.GroupID != groupID) {
			continue
		}
		if s.failNext[i].N--; s.failNext[i].N <= 0 {
			s.failNext = slices.Delete(s.failNext, i, i+1)
		}
		return r, true
	}
	return FailRule{}, false
}

// LoseNext makes the next n calls of op take effect and then drop the
// connection without an answer; n = 0 clears the rule.
func (s *Server) LoseNext(op string, n int) { s.setCount(s.loseNext, op, n) }

// HoldNext makes the next n calls of op take effect and then hold their
// answers until Release (or until the caller gives up): an answer that is
// late, as it is to a manager killed while it waits. n = 0 clears the
// rule.
func (s *Server) HoldNext(op string, n int) { s.setCount(s.holdNext, op, n) }

// Held returns how many answers wait for Release now.
func (s *Server) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// Release sends every held answer.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.released)
	s.released = make(chan struct{})
}

// awaitRelease holds an answer until Release or until the caller is gone,
// and reports whether the caller is still there to get it.
func (s *Server) awaitRelease(r *http.Request) bool {
	s.mu.Lock()
	s.held++
	released := s.released
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.held--
		s.mu.Unlock()
	}()
	select {
	case <-released:
		return true
	case <-r.Context().Done():
		return false
	}
}

// setCount sets how many calls of op a counted rule (lose, hold) takes.
func (s *Server) setCount(counts map[string]int, op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(counts, op)
		return
	}
	counts[op] = n
}

// takeCount uses up one of the calls a counted rule (lose, hold) has left
// for op.
func takeCount(counts map[string]int, op string) bool {
	n := counts[op]
	switch {
	case n <= 0:
		return false
	case n == 1:
		delete(counts, op)
	default:
		counts[op] = n - 1
	}
	return true
}

// Throttle makes every request authenticated as userID answer 429 with
// Retry-After (whole seconds, rounded up), as a service throttling one
// account would, until it is called again with 0. Other users are not
// affected; the 429s count as userThrottle in Injected.
func (s *Server) Throttle(userID string, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if retryAfter <= 0 {
		delete(s.throttled, userID)
		return
	}
	s.throttled[userID] = retryAfter
}

// Throttled returns the throttled users and their Retry-After.
func (s *Server) Throttled() map[string]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.throttled)
}

// Calls returns how many API requests each operation got (failed and
// faulted ones included; admin changes not).
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// CallsByUser returns how many authenticated API requests each user made
// (each user is one account with its own rate limit).
func (s *Server) CallsByUser() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.byUser)
}

// ResetCalls zeroes the call and fault counters.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
	s.byUser = map[string]int{}
	s.writes = map[int64]map[string]int{}
	s.injected = map[string]int{}
}

// WritesByGroup returns the successful write calls (add, update, delete,
// submitAssignGroupToAgent) each group got through the API, by operation.
func (s *Server) WritesByGroup() map[int64]map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64]map[string]int, len(s.writes))
	for id, ops := range s.writes {
		out[id] = maps.Clone(ops)
	}
	return out
}

// Injected returns how many faults were injected, by kind: error,
// throttle, lost, failNext, userRateLimit, userThrottle.
func (s *Server) Injected() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.injected)
}

// Groups returns copies of the user's groups, sorted by id.
func (s *Server) Groups(userID string) []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Group
	for _, g := range s.sortedGroups() {
		if g.userID == userID {
			out = append(out, g.export())
		}
	}
	return out
}

// Reset deletes every group and clears counters, fault rules and
// throttles, and sends every held answer; users stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = map[int64]*group{}
	s.calls = map[string]int{}
	s.writes = map[int64]map[string]int{}
	s.injected = map[string]int{}
	s.failNext = nil
	s.loseNext = map[string]int{}
	s.holdNext = map[string]int{}
	close(s.released) // answers held so far go out
	s.released = make(chan struct{})
	s.throttled = map[string]time.Duration{}
	s.faults = Faults{}
	s.changed()
}

// CreateGroup creates a group by hand, with the API's naming rule.
func (s *Server) CreateGroup(userID, name string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[userID]; !ok {
		return 0, fmt.Errorf("no user %q", userID)
	}
	if strings.TrimSpace(name) == "" {
		return 0, fmt.Errorf("name is required")
	}
	g := s.create(userID, name)
	return g.id, nil
}

// UpdateGroup renames and/or sets the status of a group by hand.
func (s *Server) UpdateGroup(userID string, id int64, name *string, status *int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.owned(userID, id)
	if !ok {
		return fmt.Errorf("user %s has no group %d", userID, id)
	}
	if name != nil {
		g.name = s.uniqueName(userID, *name, g.id)
	}
	if status != nil {
		g.status = *status
	}
	s.changed()
	return nil
}

// SetMembers replaces a group's members and receivers by hand (no checks:
// a person in the UI may do what the API would refuse).
func (s *Server) SetMembers(userID string, id int64, members, receivers []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.owned(userID, id)
	if !ok {
		return fmt.Errorf("user %s has no group %d", userID, id)
	}
	g.members, g.receivers = sortedSet(members), setOf(receivers)
	s.changed()
	return nil
}

// DeleteGroup deletes a group by hand.
func (s *Server) DeleteGroup(userID string, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.owned(userID, id); !ok {
		return fmt.Errorf("user %s has no group %d", userID, id)
	}
	delete(s.groups, id)
	s.changed()
	return nil
}

// --- state, under s.mu ---

func (s *Server) owned(userID string, id int64) (*group, bool) {
	g, ok := s.groups[id]
	if !ok || g.userID != userID {
		return nil, false
	}
	return g, true
}

func (s *Server) create(userID, name string) *group {
	g := &group{id: s.nextID, userID: userID, name: s.uniqueName(userID, name, 0), status: 1, members: []string{}, receivers: map[string]bool{}, created: time.Now()}
	s.nextID++ // ids are never reused
	s.groups[g.id] = g
	s.changed()
	return g
}

// uniqueName appends " 1", " 2", … while another of the user's groups has
// the name (case-insensitively), as the API does.
func (s *Server) uniqueName(userID, name string, except int64) string {
	taken := map[string]bool{}
	for _, g := range s.groups {
		if g.userID == userID && g.id != except {
			taken[strings.ToLower(g.name)] = true
		}
	}
	if !taken[strings.ToLower(name)] {
		return name
	}
	for n := 1; ; n++ {
		if c := fmt.Sprintf("%s %d", name, n); !taken[strings.ToLower(c)] {
			return c
		}
	}
}

func (s *Server) sortedGroups() []*group {
	out := make([]*group, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// wrote counts a successful write call to a group.
func (s *Server) wrote(id int64, op string) {
	if s.writes[id] == nil {
		s.writes[id] = map[string]int{}
	}
	s.writes[id][op]++
}

// visible reports whether API reads see the group yet (Faults.ReadLag).
func (s *Server) visible(g *group) bool {
	return s.faults.ReadLag <= 0 || time.Since(g.created) >= s.faults.ReadLag
}

func (s *Server) changed() {
	if s.onChange != nil {
		s.onChange()
	}
}

func (g *group) export() Group {
	return Group{ID: g.id, UserID: g.userID, Name: g.name, Status: g.status,
		Members: append([]string{}, g.members...), Receivers: sortedKeys(g.receivers), CreateDate: g.created.Format("2006-01-02 15:04:05")}
}

func setOf(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func sortedSet(ids []string) []string { return sortedKeys(setOf(ids)) }

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }
