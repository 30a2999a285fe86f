package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/reasons"
)

// TestEveryReasonHasTheDocumentedKstatus reads every Reason constant from
// the API's source, so a reason added later cannot be missed: each one is
// a Ready reason of AgentGroup or Account (or declared not to be), and
// kstatus's verdict on an object in that state is the one
// docs/reference.md states for it.
func TestEveryReasonHasTheDocumentedKstatus(t *testing.T) {
	all, err := reasons.Constants("../api/v1alpha1/conditions.go")
	if err != nil {
		t.Fatal(err)
	}
	documented, err := reasons.Documented("../docs/reference.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		_, onGroup := agentGroupProgress[r]
		_, onAccount := accountProgress[r]
		if !onGroup && !onAccount && !reasons.NotOnReady[r] {
			t.Errorf("reason %s: no kstatus decided (add it to agentGroupProgress or accountProgress)", r)
		}
	}
	for kind, table := range map[string]map[string]progress{"AgentGroup": agentGroupProgress, "Account": accountProgress} {
		for reason, p := range table {
			got := computeKstatus(t, kind, reason, p)
			want, ok := documented[kind][reason]
			switch {
			case !ok:
				t.Errorf("%s reason %s (kstatus %s) is not in docs/reference.md's table with its kstatus", kind, reason, got)
			case string(got) != want:
				t.Errorf("%s reason %s: kstatus %s, docs/reference.md says %s", kind, reason, got, want)
			}
		}
	}
}

// computeKstatus builds an object of kind whose last pass ended in reason,
// the way the controllers write it, and asks kstatus.
func computeKstatus(t *testing.T, kind, reason string, p progress) status.Status {
	t.Helper()
	meta := metav1.ObjectMeta{Name: "x", Namespace: "ns", Generation: 3}
	var obj runtime.Object
	switch kind {
	case "AgentGroup":
		g := &deepcallv1.AgentGroup{ObjectMeta: meta}
		g.Status.ObservedGeneration = -1
		applyOutcome(g, outcome{reason: reason, message: "m", final: p != progressing})
		obj = g
	default:
		a := &deepcallv1.Account{ObjectMeta: meta}
		(&AccountReconciler{}).setReady(a, reason, "m")
		obj = a
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}
