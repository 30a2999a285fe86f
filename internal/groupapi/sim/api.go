package sim

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The API's error codes.
const (
	codeInvalidParameters = 1000
	codeGeneric           = 1009
	codePermissionDenied  = 1015
	codeInvalidData       = 1047
	codeNameRequired      = 1501
	codeGroupIDRequired   = 1502
	codeGroupNotFound     = 1503
)

// operations are the API's endpoints, by the last path segment.
var operations = map[string]func(s *Server, u *user, req map[string]json.RawMessage) (answer, *apiError){
	"add":                      (*Server).opAdd,
	"update":                   (*Server).opUpdate,
	"delete":                   (*Server).opDelete,
	"list":                     (*Server).opList,
	"getGroupAgentRelation":    (*Server).opRelation,
	"submitAssignGroupToAgent": (*Server).opAssign,
}

// apiError is an error answer.
type apiError struct {
	code int
	msg  string
}

// answer is a success answer's fields besides status and code.
type answer map[string]any

// serveAPI handles one API request: faults first, then authentication,
// then the operation, then (maybe) a lost response.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	op := r.PathValue("op")
	start := time.Now()
	out, lose, hold, throttle, err := s.handle(r, op)
	if hold {
		s.logf("%s held (committed, answer waits for release)", op)
		if !s.awaitRelease(r) {
			return
		}
	}
	switch {
	case lose:
		s.logf("%s lost (committed, connection dropped)", op)
		dropConnection(w)
		return
	case throttle > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(throttle.Seconds()))))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"status": "error", "message": "Too many requests", "code": codeGeneric})
		s.logf("%s throttled (429) in %v", op, time.Since(start).Round(time.Millisecond))
		return
	case err != nil:
		status := http.StatusOK
		if s.opts.ErrorHTTPStatus || err.code == codeGeneric && err.msg == injectedErrorMessage {
			status = httpStatusFor(err.code)
		}
		writeJSON(w, status, map[string]any{"status": "error", "message": err.msg, "code": err.code})
		s.logf("%s error %d %q in %v", op, err.code, err.msg, time.Since(start).Round(time.Millisecond))
		return
	}
	body := map[string]any{"status": "success", "code": 200}
	for k, v := range out {
		body[k] = v
	}
	writeJSON(w, http.StatusOK, body)
	s.logf("%s ok in %v", op, time.Since(start).Round(time.Millisecond))
}

const injectedErrorMessage = "Something went wrong"

func (s *Server) handle(r *http.Request, op string) (out answer, lose, hold bool, throttle time.Duration, aerr *apiError) {
	if operations[op] == nil {
		return nil, false, false, 0, &apiError{codeInvalidParameters, "unknown operation " + op}
	}
	// The body is read first: a fault rule may name the group a call is for.
	raw, readErr := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	var req map[string]json.RawMessage
	parseErr := json.Unmarshal(raw, &req)
	groupID, _ := str(req, "groupId")
	if op == "list" {
		if id, ok := str(req, "groupid"); ok {
			groupID = id
		}
	}

	s.mu.Lock()
	s.calls[op]++
	f := s.faults
	delay := f.Latency
	if f.LatencyJitter > 0 {
		delay += time.Duration(s.rng.Int63n(int64(2*f.LatencyJitter))) - f.LatencyJitter
	}
	throttled := f.ThrottleRate > 0 && s.rng.Float64() < f.ThrottleRate
	failed := f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate
	lost := f.LostResponseRate > 0 && s.rng.Float64() < f.LostResponseRate
	rule, hasRule := s.takeRule(op, groupID)
	if takeCount(s.loseNext, op) {
		lost = true
	}
	switch {
	case throttled:
		s.injected["throttle"]++
	case hasRule:
		s.injected["failNext"]++
	case failed:
		s.injected["error"]++
	}
	if lost && !throttled && !hasRule && !failed {
		s.injected["lost"]++
	}
	s.mu.Unlock()

	if delay > 0 {
		time.Sleep(delay)
	}
	switch {
	case throttled:
		wait := f.RetryAfter
		if wait <= 0 {
			wait = time.Second
		}
		return nil, false, false, wait, nil
	case hasRule && !rule.AfterEffect:
		return nil, false, false, 0, &apiError{rule.Code, messageFor(rule.Code)}
	case failed:
		return nil, false, false, 0, &apiError{codeGeneric, injectedErrorMessage}
	}

	if readErr != nil {
		return nil, false, false, 0, &apiError{codeInvalidParameters, "unreadable body"}
	}
	if parseErr != nil {
		return nil, false, false, 0, &apiError{codeInvalidParameters, "Invalid parameters: the body must be a JSON object"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, aerr := s.authenticate(req)
	if aerr != nil {
		return nil, false, false, 0, aerr
	}
	s.byUser[u.ID]++
	if wait := s.throttled[u.ID]; wait > 0 {
		s.injected["userThrottle"]++
		return nil, false, false, wait, nil
	}
	if u.limiter != nil && !u.limiter.Allow() {
		s.injected["userRateLimit"]++
		return nil, false, false, time.Second, nil
	}
	out, aerr = operations[op](s, u, req)
	if aerr == nil && takeCount(s.holdNext, op) {
		hold = true
		s.injected["held"]++
	}
	if hasRule && aerr == nil {
		// AfterEffect: the change is made, the answer says it failed.
		aerr = &apiError{rule.Code, messageFor(rule.Code)}
	}
	return out, lost, hold, 0, aerr
}

// authenticate: ssid, or userId and token; never both.
func (s *Server) authenticate(req map[string]json.RawMessage) (*user, *apiError) {
	ssid, hasSSID := str(req, "ssid")
	userID, hasUser := str(req, "userId")
	token, hasToken := str(req, "token")
	if hasSSID && (hasUser || hasToken) {
		return nil, &apiError{codeInvalidParameters, "Invalid parameters: send either ssid or userId and token"}
	}
	if hasSSID {
		if id, ok := s.ssids[ssid]; ok {
			return s.users[id], nil
		}
	} else if u, ok := s.users[userID]; ok && hasToken && u.Token != "" && u.Token == token {
		return u, nil
	}
	return nil, &apiError{codePermissionDenied, "Invalid credentials"}
}

func (s *Server) opAdd(u *user, req map[string]json.RawMessage) (answer, *apiError) {
	name, _ := str(req, "name")
	if strings.TrimSpace(name) == "" {
		return nil, &apiError{codeNameRequired, "Group name not provided"}
	}
	g := s.create(u.ID, name)
	s.wrote(g.id, "add")
	return answer{"groupId": g.id, "message": "Group created successfully"}, nil
}

func (s *Server) opUpdate(u *user, req map[string]json.RawMessage) (answer, *apiError) {
	g, aerr := s.groupArg(u, req, "groupId")
	if aerr != nil {
		return nil, aerr
	}
	name, _ := str(req, "name")
	if strings.TrimSpace(name) == "" {
		return nil, &apiError{codeNameRequired, "Group name not provided"}
	}
	status := 1 // the documented default, which is why clients must send it
	if raw, ok := req["status"]; ok {
		n, err := strconv.Atoi(strings.Trim(string(raw), `" `))
		if err != nil || (n != 0 && n != 1) {
			return nil, &apiError{codeInvalidParameters, "Invalid parameters: status must be 0 or 1"}
		}
		status = n
	}
	if name != g.name {
		g.name = s.uniqueName(u.ID, name, g.id)
	}
	g.status = status
	s.wrote(g.id, "update")
	s.changed()
	return answer{"message": "Group updated successfully"}, nil
}

func (s *Server) opDelete(u *user, req map[string]json.RawMessage) (answer, *apiError) {
	g, aerr := s.groupArg(u, req, "groupId")
	if aerr != nil {
		return nil, aerr
	}
	delete(s.groups, g.id) // relations go with it
	s.wrote(g.id, "delete")
	s.changed()
	return answer{"message": "Group deleted successfully"}, nil
}

func (s *Server) opList(u *user, req map[string]json.RawMessage) (answer, *apiError) {
	forward, _ := boolArg(req, "forward")
	if !forward && u.DenyAgentToAgentCall {
		return nil, &apiError{codePermissionDenied, "Permission denied: AGENT_TO_AGENT_CALL"}
	}
	quick, _ := boolArg(req, "quick")
	name, _ := str(req, "name")
	idFilter, hasID := str(req, "groupid")
	if !hasID {
		idFilter, hasID = str(req, "groupId")
	}
	records := []map[string]any{}
	for _, g := range s.sortedGroups() {
		if g.userID != u.ID || (hasID && strconv.FormatInt(g.id, 10) != idFilter) || !s.visible(g) {
			continue
		}
		if name != "" && !strings.Contains(strings.ToLower(g.name), strings.ToLower(name)) {
			continue
		}
		records = append(records, record(g, quick))
	}
	return answer{"response": records}, nil
}

func (s *Server) opRelation(u *user, req map[string]json.RawMessage) (answer, *apiError) {
	g, aerr := s.groupArg(u, req, "groupId")
	if aerr != nil {
		return nil, aerr
	}
	if !s.visible(g) {
		return nil, &apiError{codeGroupNotFound, "Group not found or not authorized"}
	}
	agents := []map[string]any{}
	relations := []map[string]any{}
	for _, a := range g.members {
		agents = append(agents, map[string]any{"agent_unique_id": a, "name": "Agent " + a})
		rc := 0
		if g.receivers[a] {
			rc = 1
		}
		relations = append(relations, map[string]any{"group_id": g.id, "agent_unique_id": a, "receive_call": rc})
	}
	return answer{"response": map[string]any{"groupData": record(g, false), "agentData": agents, "relationData": relations}}, nil
}

func (s *Server) opAssign(u *user, req map[string]json.RawMessage) (answer, *apiError) {
	g, aerr := s.groupArg(u, req, "groupId")
	if aerr != nil {
		return nil, aerr
	}
	if u.DenyAgentToAgentCall {
		return nil, &apiError{codePermissionDenied, "Permission denied: AGENT_TO_AGENT_CALL"}
	}
	members, ok := strList(req, "agent_unique_id")
	if !ok {
		return nil, &apiError{codeInvalidParameters, "Invalid parameters: agent_unique_id must be an array of strings"}
	}
	receivers, ok := strList(req, "receive_call")
	if !ok {
		return nil, &apiError{codeInvalidParameters, "Invalid parameters: receive_call must be an array of strings"}
	}
	mset := setOf(members)
	for _, m := range members {
		if !u.agents[m] {
			return nil, &apiError{codeInvalidData, "Invalid request data: unknown agent " + m}
		}
	}
	for _, r := range receivers {
		if !mset[r] {
			return nil, &apiError{codeInvalidData, "Invalid request data: receiver " + r + " is not a member"}
		}
	}
	// All or nothing: checked above, replaced here.
	g.members, g.receivers = sortedSet(members), setOf(receivers)
	s.wrote(g.id, "submitAssignGroupToAgent")
	s.changed()
	return answer{"message": "Agents successfully assigned to the group, and Elasticsearch updated"}, nil
}

// groupArg reads a group id and checks ownership (1502, 1503).
func (s *Server) groupArg(u *user, req map[string]json.RawMessage, key string) (*group, *apiError) {
	raw, ok := str(req, key)
	if !ok || raw == "" {
		return nil, &apiError{codeGroupIDRequired, "groupId not provided"}
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return nil, &apiError{codeGroupNotFound, "Group not found or not authorized"}
	}
	g, found := s.owned(u.ID, id)
	if !found {
		return nil, &apiError{codeGroupNotFound, "Group not found or not authorized"}
	}
	return g, nil
}

func record(g *group, quick bool) map[string]any {
	r := map[string]any{"group_id": g.id, "name": g.name, "status": g.status}
	if !quick {
		r["user_id"] = g.userID
		r["create_date"] = g.created.Format("2006-01-02 15:04:05")
	}
	return r
}

// str reads a string or number field.
func str(req map[string]json.RawMessage, key string) (string, bool) {
	raw, ok := req[key]
	if !ok || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}

func boolArg(req map[string]json.RawMessage, key string) (bool, bool) {
	raw, ok := req[key]
	if !ok {
		return false, false
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b, true
	}
	v, _ := str(req, key)
	return v == "true" || v == "1", true
}

// strList reads an array of strings (or numbers); absent means empty.
func strList(req map[string]json.RawMessage, key string) ([]string, bool) {
	raw, ok := req[key]
	if !ok || string(raw) == "null" {
		return nil, true
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		v, ok := str(map[string]json.RawMessage{"v": it}, "v")
		if !ok {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

func messageFor(code int) string {
	switch code {
	case codeInvalidParameters:
		return "Invalid parameters"
	case codePermissionDenied:
		return "Permission denied"
	case codeInvalidData:
		return "Invalid request data"
	case codeNameRequired:
		return "Group name not provided"
	case codeGroupIDRequired:
		return "groupId not provided"
	case codeGroupNotFound:
		return "Group not found or not authorized"
	}
	return injectedErrorMessage
}

func httpStatusFor(code int) int {
	switch code {
	case codeGroupNotFound:
		return http.StatusNotFound
	case codePermissionDenied:
		return http.StatusForbidden
	case codeInvalidParameters, codeInvalidData, codeNameRequired, codeGroupIDRequired:
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// dropConnection closes the connection with no answer at all.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}
