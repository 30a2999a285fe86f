package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestRequestWriteKeyNamesWritesAsTheAPIServerDoes(t *testing.T) {
	cases := []struct {
		method, path, contentType string
		want                      writeKey
		ok                        bool
	}{
		{"POST", "/apis/deepcall.agentgroups.dev/v1alpha1/namespaces/bench-00/agentgroups", "application/json", writeKey{Resource: "agentgroups", Verb: "POST"}, true},
		{"PATCH", "/apis/deepcall.agentgroups.dev/v1alpha1/namespaces/bench-00/agentgroups/g00001", "application/merge-patch+json", writeKey{Resource: "agentgroups", Verb: "PATCH"}, true},
		{"PATCH", "/apis/deepcall.agentgroups.dev/v1alpha1/namespaces/bench-00/agentgroups/g00001/status", "application/apply-patch+yaml", writeKey{Resource: "agentgroups/status", Verb: "APPLY"}, true},
		{"PUT", "/apis/deepcall.agentgroups.dev/v1alpha1/namespaces/bench-00/agentgroups/g00001", "application/json", writeKey{Resource: "agentgroups", Verb: "PUT"}, true},
		// A delete of a collection is a DELETE in apiserver_request_total.
		{"DELETE", "/apis/deepcall.agentgroups.dev/v1alpha1/namespaces/bench-00/agentgroups", "", writeKey{Resource: "agentgroups", Verb: "DELETE"}, true},
		{"PATCH", "/apis/deepcall.agentgroups.dev/v1alpha1/namespaces/bench-00/accounts/default", "application/merge-patch+json", writeKey{Resource: "accounts", Verb: "PATCH"}, true},
		{"POST", "/api/v1/namespaces/bench-00/secrets", "application/json", writeKey{Resource: "secrets", Verb: "POST"}, true},
		{"POST", "/api/v1/namespaces/bench-00/events", "application/json", writeKey{Resource: "core events", Verb: "POST"}, true},
		{"POST", "/apis/events.k8s.io/v1/namespaces/bench-00/events", "application/json", writeKey{Resource: "events", Verb: "POST"}, true},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x", "application/json", writeKey{Resource: "leases", Verb: "PUT"}, true},
		// Not counted: namespaces, reads, other groups' agentgroups, dry runs.
		{"POST", "/api/v1/namespaces", "application/json", writeKey{}, false},
		{"GET", "/apis/deepcall.agentgroups.dev/v1alpha1/namespaces/bench-00/agentgroups", "", writeKey{}, false},
		{"POST", "/apis/example.com/v1/namespaces/bench-00/agentgroups", "application/json", writeKey{}, false},
		{"POST", "/apis/deepcall.agentgroups.dev/v1alpha1/namespaces/bench-00/agentgroups?dryRun=All", "application/json", writeKey{}, false},
		{"GET", "/metrics", "", writeKey{}, false},
	}
	for _, tc := range cases {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		got, ok := requestWriteKey(req)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s %s: %v %v, want %v %v", tc.method, tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestHarnessWritesCountAtTheTransport(t *testing.T) {
	hw := newHarnessWrites()
	rt := hw.wrap(roundTripper(func(r *http.Request) (*http.Response, error) {
		code := http.StatusOK
		if r.Method == http.MethodPut {
			code = http.StatusConflict
		}
		return &http.Response{StatusCode: code, Body: http.NoBody, Request: r}, nil
	}))
	for _, m := range []string{"PATCH", "PATCH", "PUT", "GET"} {
		req := httptest.NewRequest(m, "/apis/deepcall.agentgroups.dev/v1alpha1/namespaces/a/agentgroups/g", nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	all, failed := hw.snapshot()
	if all[writeKey{Resource: "agentgroups", Verb: "PATCH"}] != 2 || all[writeKey{Resource: "agentgroups", Verb: "PUT"}] != 1 || len(all) != 2 {
		t.Errorf("all: %v", all)
	}
	if failed[writeKey{Resource: "agentgroups", Verb: "PUT"}] != 1 || len(failed) != 1 {
		t.Errorf("failed: %v", failed)
	}
}

func TestOperatorWritesAreTheAPIServersLessEveryoneElses(t *testing.T) {
	patch, status, lease := writeKey{Resource: "agentgroups", Verb: "PATCH"}, writeKey{Resource: "agentgroups/status", Verb: "PATCH"}, writeKey{Resource: "leases", Verb: "PUT"}
	w := apiWrites{
		window:       20 * time.Second,
		apiServer:    writeCounts{patch: 1105, status: 1003, lease: 2, writeKey{Resource: "events", Verb: "POST"}: 7},
		harness:      writeCounts{patch: 1005},
		noisy:        writeCounts{status: 3, writeKey{Resource: "events", Verb: "POST"}: 1},
		controlPlane: writeCounts{lease: 2},
	}
	// 0.1 writes/s of status over 20 s: 2 writes.
	w.setBackground(background{status: 0.1})
	want := writeCounts{patch: 100, status: 998, writeKey{Resource: "events", Verb: "POST"}: 6}
	if len(w.operator) != len(want) {
		t.Fatalf("operator %v, want %v", w.operator, want)
	}
	for k, v := range want {
		if w.operator[k] != v {
			t.Errorf("%v: %v, want %v", k, w.operator[k], v)
		}
	}
	if got := w.operator.perGroup(1000); got != "agentgroups PATCH 0.10, agentgroups/status PATCH 1.00, events POST 0.01" {
		t.Errorf("perGroup: %s", got)
	}
	if got := w.operator.sum(groupResources...); got != 1098 {
		t.Errorf("sum of AgentGroup writes: %v", got)
	}
}
