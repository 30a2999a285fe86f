package controllers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// notReadyReasons are the reason constants that never appear on Ready.
var notReadyReasons = map[string]bool{
	deepcallv1.ReasonInSync: true, deepcallv1.ReasonOutOfSync: true, // InSync
	deepcallv1.ReasonWithinBudget: true, deepcallv1.ReasonIntervalStretched: true, // SyncBudget
	deepcallv1.ReasonDriftDetected: true, deepcallv1.ReasonDriftCorrected: true, // events
}

// TestEveryReasonHasTheDocumentedKstatus reads every Reason constant from
// the API's source, so a reason added later cannot be missed: each one is
// a Ready reason of AgentGroup or Account (or declared not to be), and
// kstatus's verdict on an object in that state is the one
// docs/reference.md states for it.
func TestEveryReasonHasTheDocumentedKstatus(t *testing.T) {
	reasons := reasonConstants(t)
	if len(reasons) < 20 {
		t.Fatalf("found only %d reason constants: is the parser looking at the right file?", len(reasons))
	}
	doc, err := os.ReadFile("../docs/reference.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]map[string]string{
		"Account":    kstatusColumn(t, section(string(doc), "## Account", "## AgentGroup")),
		"AgentGroup": kstatusColumn(t, section(string(doc), "## AgentGroup", "### Ownership and identity")),
	}
	for _, r := range reasons {
		_, onGroup := agentGroupProgress[r]
		_, onAccount := accountProgress[r]
		if !onGroup && !onAccount && !notReadyReasons[r] {
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

// reasonConstants returns the values of the Reason* constants of the API.
func reasonConstants(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../api/v1alpha1/conditions.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Reason") || i >= len(vs.Values) {
				continue
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
		}
		return true
	})
	return out
}

func section(doc, from, to string) string {
	i := strings.Index(doc, from)
	j := strings.Index(doc[i+len(from):], to)
	if i < 0 || j < 0 {
		return ""
	}
	return doc[i : i+len(from)+j]
}

var kstatusWord = regexp.MustCompile(`^(Current|InProgress|Failed)\b`)

// kstatusColumn maps each table row's `Reason` to its kstatus cell.
func kstatusColumn(t *testing.T, sec string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		reason, verdict := "", ""
		for _, cell := range strings.Split(line, "|") {
			cell = strings.TrimSpace(cell)
			if strings.HasPrefix(cell, "`") && strings.HasSuffix(cell, "`") && reason == "" {
				reason = strings.Trim(cell, "`")
			}
			if m := kstatusWord.FindString(cell); m != "" {
				verdict = m
			}
		}
		if reason != "" && verdict != "" {
			out[reason] = verdict
		}
	}
	if len(out) == 0 {
		t.Fatalf("no reason rows with a kstatus column in:\n%s", sec)
	}
	return out
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
