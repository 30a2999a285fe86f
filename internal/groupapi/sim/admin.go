package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"time"
)

// routeAdmin serves /_sim/: the whole state, counters, faults, and changes
// "by hand" (drift). Admin requests are never counted or faulted.
func (s *Server) routeAdmin() {
	s.mux.HandleFunc("GET /_sim/state", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.State()) })
	s.mux.HandleFunc("POST /_sim/reset", func(w http.ResponseWriter, r *http.Request) { s.Reset(); writeJSON(w, http.StatusOK, ok()) })
	s.mux.HandleFunc("GET /_sim/calls", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Calls()) })
	s.mux.HandleFunc("POST /_sim/calls/reset", func(w http.ResponseWriter, r *http.Request) { s.ResetCalls(); writeJSON(w, http.StatusOK, ok()) })
	s.mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.CurrentFaults()) })
	s.mux.HandleFunc("POST /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if !decode(w, r, &f) {
			return
		}
		s.SetFaults(f)
		writeJSON(w, http.StatusOK, f)
	})
	s.mux.HandleFunc("GET /_sim/writes", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.WritesByGroup()) })
	s.mux.HandleFunc("POST /_sim/fail-next", func(w http.ResponseWriter, r *http.Request) {
		var req FailRule
		if !decode(w, r, &req) {
			return
		}
		s.Fail(req)
		writeJSON(w, http.StatusOK, ok())
	})
	s.mux.HandleFunc("POST /_sim/users", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID         string   `json:"id"`
			Token      string   `json:"token"`
			SSIDs      []string `json:"ssids"`
			Agents     []string `json:"agents"`
			AgentRange string   `json:"agentRange"`
		}
		if !decode(w, r, &req) {
			return
		}
		u := User{ID: req.ID, Token: req.Token, SSIDs: req.SSIDs, Agents: req.Agents}
		if req.AgentRange != "" {
			ids, err := ParseAgentRange(req.AgentRange)
			if err != nil {
				adminError(w, http.StatusBadRequest, err)
				return
			}
			u.Agents = append(u.Agents, ids...)
		}
		if u.ID == "" || (u.Token == "" && len(u.SSIDs) == 0) {
			adminError(w, http.StatusBadRequest, fmt.Errorf("a user needs an id, and a token or ssids"))
			return
		}
		s.AddUser(u)
		writeJSON(w, http.StatusCreated, map[string]any{"id": u.ID, "agents": len(u.Agents)})
	})
	s.mux.HandleFunc("POST /_sim/lose-next", countedRule(s.LoseNext))
	s.mux.HandleFunc("POST /_sim/hold-next", countedRule(s.HoldNext))
	s.mux.HandleFunc("GET /_sim/held", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"held": s.Held()})
	})
	s.mux.HandleFunc("POST /_sim/release", func(w http.ResponseWriter, r *http.Request) { s.Release(); writeJSON(w, http.StatusOK, ok()) })
	s.mux.HandleFunc("POST /_sim/throttle", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			User       string `json:"user"`
			RetryAfter string `json:"retryAfter"`
		}
		if !decode(w, r, &req) {
			return
		}
		var wait time.Duration
		if req.RetryAfter != "" {
			d, err := time.ParseDuration(req.RetryAfter)
			if err != nil || d < 0 {
				adminError(w, http.StatusBadRequest, fmt.Errorf("retryAfter %q: want a duration such as \"60s\" (\"0s\" clears)", req.RetryAfter))
				return
			}
			wait = d
		}
		if req.User == "" {
			adminError(w, http.StatusBadRequest, fmt.Errorf("a throttle needs a user"))
			return
		}
		s.Throttle(req.User, wait)
		writeJSON(w, http.StatusOK, s.throttles())
	})
	s.mux.HandleFunc("GET /_sim/throttle", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.throttles()) })
	s.mux.HandleFunc("POST /_sim/users/{user}/groups", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string `json:"name"`
		}
		if !decode(w, r, &req) {
			return
		}
		id, err := s.CreateGroup(r.PathValue("user"), req.Name)
		if err != nil {
			adminError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, s.group(r.PathValue("user"), id))
	})
	s.mux.HandleFunc("PATCH /_sim/users/{user}/groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name      *string   `json:"name"`
			Status    *int      `json:"status"`
			Members   *[]string `json:"members"`
			Receivers *[]string `json:"receive_call"`
		}
		if !decode(w, r, &req) {
			return
		}
		user := r.PathValue("user")
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err == nil && (req.Name != nil || req.Status != nil) {
			err = s.UpdateGroup(user, id, req.Name, req.Status)
		}
		if err == nil && (req.Members != nil || req.Receivers != nil) {
			cur := s.group(user, id)
			members, receivers := cur.Members, cur.Receivers
			if req.Members != nil {
				members = *req.Members
			}
			if req.Receivers != nil {
				receivers = *req.Receivers
			}
			err = s.SetMembers(user, id, members, receivers)
		}
		if err != nil {
			adminError(w, http.StatusNotFound, err)
			return
		}
		writeJSON(w, http.StatusOK, s.group(user, id))
	})
	s.mux.HandleFunc("DELETE /_sim/users/{user}/groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err == nil {
			err = s.DeleteGroup(r.PathValue("user"), id)
		}
		if err != nil {
			adminError(w, http.StatusNotFound, err)
			return
		}
		writeJSON(w, http.StatusOK, ok())
	})
}

// countedRule serves a rule for the next n calls of an operation,
// {"op":"add","n":3}.
func countedRule(set func(op string, n int)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Op string `json:"op"`
			N  int    `json:"n"`
		}
		if !decode(w, r, &req) {
			return
		}
		set(req.Op, req.N)
		writeJSON(w, http.StatusOK, ok())
	}
}

// State is the whole simulator state, as GET /_sim/state shows it.
type State struct {
	Users  []UserState    `json:"users"`
	Calls  map[string]int `json:"calls"`
	Faults map[string]int `json:"faultsInjected"`
	NextID int64          `json:"nextId"`
}

// UserState is one user's groups (credentials are never shown).
type UserState struct {
	ID     string  `json:"id"`
	Groups []Group `json:"groups"`
}

// State returns a copy of every user's groups and the call counters.
func (s *Server) State() State {
	s.mu.Lock()
	ids := make([]string, 0, len(s.users))
	for id := range s.users {
		ids = append(ids, id)
	}
	next := s.nextID
	s.mu.Unlock()
	sort.Strings(ids)
	st := State{Users: []UserState{}, Calls: s.Calls(), Faults: s.Injected(), NextID: next}
	for _, id := range ids {
		groups := s.Groups(id)
		if groups == nil {
			groups = []Group{}
		}
		st.Users = append(st.Users, UserState{ID: id, Groups: groups})
	}
	return st
}

// Save writes the groups (for --state), Load reads them back.
func (s *Server) Save(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s.State())
}

// Load replaces the groups with a saved state; users must already exist.
func (s *Server) Load(r io.Reader) error {
	var st State
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = map[int64]*group{}
	for _, u := range st.Users {
		for _, g := range u.Groups {
			s.groups[g.ID] = &group{id: g.ID, userID: u.ID, name: g.Name, status: g.Status, members: sortedSet(g.Members), receivers: setOf(g.Receivers)}
		}
	}
	s.nextID = max(st.NextID, 1)
	return nil
}

// OnChange registers a function called (under the simulator's lock, so it
// must not call back) after every change of the groups.
func (s *Server) OnChange(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = f
}

// throttles is Throttled on the admin API: user id to Retry-After ("1m0s").
func (s *Server) throttles() map[string]string {
	out := map[string]string{}
	for u, d := range s.Throttled() {
		out[u] = d.String()
	}
	return out
}

func (s *Server) group(user string, id int64) Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, found := s.owned(user, id); found {
		return g.export()
	}
	return Group{}
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		adminError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return false
	}
	return true
}

func adminError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func ok() map[string]string { return map[string]string{"status": "ok"} }
