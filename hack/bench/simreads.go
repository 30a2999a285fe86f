package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// relationReads records, for every remote group, when the latest
// getGroupAgentRelation request for it reached the simulator: the no-op
// resync is over when every group has been re-read since its poke, which
// does not depend on the operator writing anything. It wraps the
// simulator's handler, which counts calls only by operation and user.
type relationReads struct {
	mu   sync.Mutex
	last map[string]time.Time // remote group id → arrival of its latest read
}

func newRelationReads() *relationReads { return &relationReads{last: map[string]time.Time{}} }

// wrap records the reads that next serves (recorded once answered, with
// the time they arrived).
func (rr *relationReads) wrap(next http.Handler) http.Handler {
	suffix := "/" + string(groupapi.OpGetGroupAgentRelation)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), suffix) {
			next.ServeHTTP(w, r)
			return
		}
		arrived := time.Now()
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
		var req struct {
			GroupID json.Number `json:"groupId"`
		}
		if err != nil || json.Unmarshal(body, &req) != nil || req.GroupID == "" {
			return
		}
		rr.mu.Lock()
		if id := req.GroupID.String(); arrived.After(rr.last[id]) {
			rr.last[id] = arrived
		}
		rr.mu.Unlock()
	})
}

// since reports whether the remote group was read by a request that
// arrived at t or later.
func (rr *relationReads) since(id string, t time.Time) bool {
	if id == "" {
		return false
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return !rr.last[id].Before(t)
}
