package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRelationReadsNoteEachGroupsLatestRead(t *testing.T) {
	rr := newRelationReads()
	var bodies []string
	h := rr.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b)) // the handler still gets the body
	}))
	before := time.Now()
	for _, c := range []struct{ path, body string }{
		{"/api/v2/Group/getGroupAgentRelation", `{"groupId":"42","token":"t"}`},
		{"/api/v2/Group/getGroupAgentRelation/", `{"groupId":7}`},
		{"/api/v2/Group/submitAssignGroupToAgent", `{"groupId":"9"}`},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, c.path, strings.NewReader(c.body)))
	}
	if len(bodies) != 3 || bodies[0] != `{"groupId":"42","token":"t"}` {
		t.Errorf("bodies passed on: %q", bodies)
	}
	for id, want := range map[string]bool{"42": true, "7": true, "9": false, "": false} {
		if got := rr.since(id, before); got != want {
			t.Errorf("since(%q, before): %v, want %v", id, got, want)
		}
	}
	if rr.since("42", time.Now().Add(time.Second)) {
		t.Error("a read before t counts as since t")
	}
}
