package packaging

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/reasons"
)

// The Argo CD health checks live in Argo CD's resource_customizations
// layout: <group>/<kind>/health.lua, health_test.yaml, testdata/.
const argocdDir = "../../config/argocd/deepcall.agentgroups.dev"

var argocdKinds = []string{"AgentGroup", "Account", "ClusterAccount"}

// argoHealthCase is one entry of health_test.yaml, Argo CD's format.
type argoHealthCase struct {
	HealthStatus argoHealth `json:"healthStatus"`
	InputPath    string     `json:"inputPath"`
}

// TestArgoCDHealthChecks runs each kind's health.lua on every case of its
// health_test.yaml, in a Lua state set up as Argo CD sets one up for a
// script from argocd-cm, and compares status and message exactly.
func TestArgoCDHealthChecks(t *testing.T) {
	for _, kind := range argocdKinds {
		script := readRepoText(t, filepath.Join(argocdDir, kind, "health.lua"))
		for _, c := range healthCases(t, kind) {
			t.Run(kind+"/"+c.InputPath, func(t *testing.T) {
				got, err := runHealthScript(script, readHealthInput(t, kind, c.InputPath))
				if err != nil {
					t.Fatalf("health.lua failed (Argo CD would show Unknown): %v", err)
				}
				if got != c.HealthStatus {
					t.Errorf("health.lua returned\n  %+v\nhealth_test.yaml wants\n  %+v", got, c.HealthStatus)
				}
			})
		}
	}
}

// A ClusterAccount reports exactly what an Account does, so Argo CD needs
// the same script under both kinds (one file per kind is its layout); the
// ClusterAccount's fewer cases are enough only while the two stay equal.
func TestArgoCDClusterAccountScriptIsAccounts(t *testing.T) {
	code := func(kind string) string { // without the header comment naming the kind
		script := readRepoText(t, filepath.Join(argocdDir, kind, "health.lua"))
		for strings.HasPrefix(script, "--") {
			_, script, _ = strings.Cut(script, "\n")
		}
		return script
	}
	if code("ClusterAccount") != code("Account") {
		t.Error("ClusterAccount/health.lua differs from Account/health.lua: keep them equal, or give ClusterAccount a case for every Account reason")
	}
}

// TestArgoCDHealthCasesFollowTheReference ties the health cases to
// docs/reference.md, the contract: every Ready reason constant of the API
// has a case for each kind that reports it (a reason added later without
// one fails here); each case's object has the conditions the operator
// writes for its reason (Stalled for Failed, Reconciling for InProgress);
// and the expected argoVerdict is the one the reference gives that reason.
func TestArgoCDHealthCasesFollowTheReference(t *testing.T) {
	tables, err := reasons.Documented("../../docs/reference.md")
	if err != nil {
		t.Fatal(err)
	}
	tables["ClusterAccount"] = tables["Account"] // the same reasons and conditions

	all, err := reasons.Constants("../../api/v1alpha1/conditions.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		_, onGroup := tables["AgentGroup"][r]
		_, onAccount := tables["Account"][r]
		if !onGroup && !onAccount && !reasons.NotOnReady[r] {
			t.Errorf("reason %s is in neither Ready table of docs/reference.md: document it or declare it in reasons.NotOnReady (internal/reasons)", r)
		}
		if reasons.NotOnReady[r] && (onGroup || onAccount) {
			t.Errorf("reason %s is in a Ready table of docs/reference.md but declared in reasons.NotOnReady", r)
		}
	}

	for _, kind := range argocdKinds {
		covered := map[string]bool{}
		for _, c := range healthCases(t, kind) {
			obj := readHealthInput(t, kind, c.InputPath)
			decodeAsAPIObject(t, kind, c.InputPath, obj)
			ready, readyCurrent, statusCurrent := checkConditions(t, kind, c.InputPath, obj, tables[kind])
			if !readyCurrent {
				continue
			}
			covered[ready.Reason] = true
			want := argoHealth{Status: argoVerdict(tables[kind][ready.Reason], ready.Reason), Message: ready.Reason + ": " + ready.Message}
			if !statusCurrent { // a pass that stopped short: kstatus says InProgress
				want.Status = "Progressing"
			}
			if c.HealthStatus != want {
				t.Errorf("%s/%s (Ready reason %s, %s in docs/reference.md): health_test.yaml wants %+v, the reference implies %+v",
					kind, c.InputPath, ready.Reason, tables[kind][ready.Reason], c.HealthStatus, want)
			}
		}
		for reason, kstatus := range tables[kind] {
			// A ClusterAccount needs its settled and stalled states; the
			// passing ones are the Account's.
			if kind == "ClusterAccount" && kstatus == "InProgress" {
				continue
			}
			if !covered[reason] {
				t.Errorf("%s: no case in health_test.yaml whose object is Ready with reason %s for its current generation (add testdata)", kind, reason)
			}
		}
	}
}

// TestArgoCDConfigMapSnippet checks that the argocd-cm snippet that
// config/argocd/README.md gives carries each health.lua exactly.
func TestArgoCDConfigMapSnippet(t *testing.T) {
	readme := readRepoText(t, "../../config/argocd/README.md")
	block := regexp.MustCompile("(?s)```yaml\n(apiVersion: v1\nkind: ConfigMap\n.*?)```").FindStringSubmatch(readme)
	if block == nil {
		t.Fatal("config/argocd/README.md has no ```yaml block with the argocd-cm ConfigMap")
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict([]byte(block[1]), &cm); err != nil {
		t.Fatalf("the argocd-cm snippet: %v", err)
	}
	if cm.Name != "argocd-cm" {
		t.Errorf("the snippet is ConfigMap %q, Argo CD reads argocd-cm", cm.Name)
	}
	want := map[string]string{}
	for _, kind := range argocdKinds {
		want["resource.customizations.health.deepcall.agentgroups.dev_"+kind] = readRepoText(t, filepath.Join(argocdDir, kind, "health.lua"))
	}
	for key, script := range want {
		if cm.Data[key] != script {
			t.Errorf("argocd-cm key %s in config/argocd/README.md differs from its health.lua (copy the file into the snippet)", key)
		}
	}
	for key := range cm.Data {
		if _, ok := want[key]; !ok {
			t.Errorf("argocd-cm key %s in config/argocd/README.md is no health check of config/argocd/", key)
		}
	}
}

// healthCases reads a kind's health_test.yaml, and checks that it names
// every file of testdata/ once.
func healthCases(t *testing.T, kind string) []argoHealthCase {
	t.Helper()
	var file struct {
		Tests []argoHealthCase `json:"tests"`
	}
	if err := yaml.UnmarshalStrict([]byte(readRepoText(t, filepath.Join(argocdDir, kind, "health_test.yaml"))), &file); err != nil {
		t.Fatalf("%s/health_test.yaml: %v", kind, err)
	}
	inputs, err := filepath.Glob(filepath.Join(argocdDir, kind, "testdata", "*.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("%s: no testdata (%v)", kind, err)
	}
	named := map[string]int{}
	for _, c := range file.Tests {
		named[c.InputPath]++
	}
	for _, in := range inputs {
		rel := "testdata/" + filepath.Base(in)
		if named[rel] != 1 {
			t.Errorf("%s/health_test.yaml names %s %d times, want once", kind, rel, named[rel])
		}
		delete(named, rel)
	}
	for rel := range named {
		t.Errorf("%s/health_test.yaml names %s, which does not exist", kind, rel)
	}
	return file.Tests
}

// readHealthInput reads a testdata object as Argo CD's own health tests do.
func readHealthInput(t *testing.T, kind, input string) map[string]any {
	t.Helper()
	obj := map[string]any{}
	if err := yaml.Unmarshal([]byte(readRepoText(t, filepath.Join(argocdDir, kind, input))), &obj); err != nil {
		t.Fatalf("%s/%s: %v", kind, input, err)
	}
	return obj
}

// decodeAsAPIObject checks that a testdata object is an object of the API:
// its group and kind, and no field the types lack.
func decodeAsAPIObject(t *testing.T, kind, input string, obj map[string]any) {
	t.Helper()
	typed := map[string]any{"AgentGroup": &deepcallv1.AgentGroup{}, "Account": &deepcallv1.Account{}, "ClusterAccount": &deepcallv1.ClusterAccount{}}[kind]
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(typed); err != nil {
		t.Errorf("%s/%s is not an object of the API: %v", kind, input, err)
	}
	if obj["apiVersion"] != deepcallv1.GroupVersion.String() || obj["kind"] != kind {
		t.Errorf("%s/%s is a %v %v", kind, input, obj["apiVersion"], obj["kind"])
	}
}

// checkConditions checks that an object's conditions are what the operator
// writes for its Ready reason, and reports that Ready, whether it describes
// the object's current generation, and whether status.observedGeneration
// does (a pass that stopped short of the end, waiting or retrying, leaves
// that one behind).
func checkConditions(t *testing.T, kind, input string, obj map[string]any, table map[string]string) (ready reportedCondition, readyCurrent, statusCurrent bool) {
	t.Helper()
	var u struct {
		Metadata struct{ Generation int64 }
		Status   *struct {
			ObservedGeneration int64
			Conditions         []reportedCondition
		}
	}
	raw, _ := json.Marshal(obj)
	if err := json.Unmarshal(raw, &u); err != nil {
		t.Fatalf("%s/%s: %v", kind, input, err)
	}
	if u.Status == nil {
		return reportedCondition{}, false, false
	}
	byType := map[string]reportedCondition{}
	for _, c := range u.Status.Conditions {
		byType[c.Type] = c
	}
	ready, ok := byType[deepcallv1.ConditionReady]
	if !ok {
		t.Errorf("%s/%s has a status without Ready", kind, input)
		return reportedCondition{}, false, false
	}
	kstatus, ok := table[ready.Reason]
	if !ok {
		t.Errorf("%s/%s: Ready reason %s is not in docs/reference.md's table for %s", kind, input, ready.Reason, kind)
		return ready, false, false
	}
	wantReady := map[string]string{"Current": "True", "InProgress": "False", "Failed": "False"}[kstatus]
	if ready.Status != wantReady {
		t.Errorf("%s/%s: Ready is %s with reason %s (%s), the operator writes %s", kind, input, ready.Status, ready.Reason, kstatus, wantReady)
	}
	for typ, present := range map[string]bool{deepcallv1.ConditionReconciling: kstatus == "InProgress", deepcallv1.ConditionStalled: kstatus == "Failed"} {
		c, ok := byType[typ]
		switch {
		case ok != present:
			t.Errorf("%s/%s: Ready reason %s (%s) with a %s condition: %v, the operator writes one: %v", kind, input, ready.Reason, kstatus, typ, ok, present)
		case ok && (c.Status != "True" || c.Reason != ready.Reason || c.Message != ready.Message || c.ObservedGeneration != ready.ObservedGeneration):
			t.Errorf("%s/%s: %s is %+v, the operator writes it True with Ready's reason, message and generation", kind, input, typ, c)
		}
	}
	gen := u.Metadata.Generation
	readyCurrent, statusCurrent = ready.ObservedGeneration == gen, u.Status.ObservedGeneration == gen
	if readyCurrent && !statusCurrent && kstatus != "InProgress" {
		t.Errorf("%s/%s: reason %s (%s) with status.observedGeneration %d behind generation %d: the operator records the generation with every such reason",
			kind, input, ready.Reason, kstatus, u.Status.ObservedGeneration, gen)
	}
	return ready, readyCurrent, statusCurrent
}

type reportedCondition struct {
	Type, Status, Reason, Message string
	ObservedGeneration            int64
}

// argoVerdict is Argo CD's status for a reason with a kstatus argoVerdict.
func argoVerdict(kstatus, reason string) string {
	switch {
	case kstatus == "Current" && reason == deepcallv1.ReasonSuspended:
		return "Suspended"
	case kstatus == "Current":
		return "Healthy"
	case kstatus == "Failed":
		return "Degraded"
	}
	return "Progressing"
}

func readRepoText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
