package packaging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// The Argo CD health checks live in Argo CD's resource_customizations
// layout: <group>/<kind>/health.lua, health_test.yaml, testdata/.
const argocdDir = "../../config/argocd/deepcall.agentgroups.dev"

var argocdKinds = []string{"AgentGroup", "Account", "ClusterAccount"}

// notReadyReasons are the reason constants that never appear on Ready
// (the same split as controllers/kstatus_test.go's): no health case needs them.
var notReadyReasons = map[string]bool{
	deepcallv1.ReasonInSync: true, deepcallv1.ReasonOutOfSync: true, // InSync
	deepcallv1.ReasonWithinBudget: true, deepcallv1.ReasonIntervalStretched: true, // SyncBudget
	deepcallv1.ReasonDriftDetected: true, deepcallv1.ReasonDriftCorrected: true, // events
}

// healthStatus is what a health check returns (gitops-engine's HealthStatus).
type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// healthCase is one entry of health_test.yaml, Argo CD's format.
type healthCase struct {
	HealthStatus healthStatus `json:"healthStatus"`
	InputPath    string       `json:"inputPath"`
}

// TestArgoCDHealthChecks runs each kind's health.lua on every case of its
// health_test.yaml, in a Lua state set up as Argo CD sets one up for a
// script from argocd-cm, and compares status and message exactly.
func TestArgoCDHealthChecks(t *testing.T) {
	for _, kind := range argocdKinds {
		script := readFile(t, filepath.Join(argocdDir, kind, "health.lua"))
		for _, c := range healthCases(t, kind) {
			t.Run(kind+"/"+c.InputPath, func(t *testing.T) {
				got, err := runHealthScript(script, readObject(t, kind, c.InputPath))
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

// TestArgoCDHealthCasesFollowTheReference ties the health cases to
// docs/reference.md, the contract: every Ready reason constant of the API
// has a case for each kind that reports it (a reason added later without
// one fails here); each case's object has the conditions the operator
// writes for its reason (Stalled for Failed, Reconciling for InProgress);
// and the expected verdict is the one the reference gives that reason.
func TestArgoCDHealthCasesFollowTheReference(t *testing.T) {
	doc := readFile(t, "../../docs/reference.md")
	tables := map[string]map[string]string{
		"Account":    kstatusColumn(t, section(doc, "## Account", "## AgentGroup")),
		"AgentGroup": kstatusColumn(t, section(doc, "## AgentGroup", "### Ownership and identity")),
	}
	tables["ClusterAccount"] = tables["Account"] // the same reasons and conditions

	reasons := reasonConstants(t)
	if len(reasons) < 20 {
		t.Fatalf("found only %d reason constants: is the parser looking at the right file?", len(reasons))
	}
	for _, r := range reasons {
		_, onGroup := tables["AgentGroup"][r]
		_, onAccount := tables["Account"][r]
		if !onGroup && !onAccount && !notReadyReasons[r] {
			t.Errorf("reason %s is in neither Ready table of docs/reference.md: document it or declare it in notReadyReasons", r)
		}
		if notReadyReasons[r] && (onGroup || onAccount) {
			t.Errorf("reason %s is in a Ready table of docs/reference.md but declared in notReadyReasons", r)
		}
	}

	for _, kind := range argocdKinds {
		covered := map[string]bool{}
		for _, c := range healthCases(t, kind) {
			obj := readObject(t, kind, c.InputPath)
			decodeStrictly(t, kind, c.InputPath, obj)
			ready, readyCurrent, statusCurrent := checkConditions(t, kind, c.InputPath, obj, tables[kind])
			if !readyCurrent {
				continue
			}
			covered[ready.Reason] = true
			want := healthStatus{Status: verdict(tables[kind][ready.Reason], ready.Reason), Message: ready.Reason + ": " + ready.Message}
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
	readme := readFile(t, "../../config/argocd/README.md")
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
		want["resource.customizations.health.deepcall.agentgroups.dev_"+kind] = readFile(t, filepath.Join(argocdDir, kind, "health.lua"))
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

// TestArgoCDLuaSandbox checks that runHealthScript refuses what Argo CD
// refuses, so that a script passing here does not fail there.
func TestArgoCDLuaSandbox(t *testing.T) {
	for name, tc := range map[string]struct {
		script string
		want   healthStatus
		fails  bool
	}{
		"string library":           {script: `return {status = string.upper("healthy")}`, fails: true},
		"string methods":           {script: `return {status = ("healthy"):upper()}`, fails: true},
		"math library":             {script: `return {status = "Healthy", message = tostring(math.max(1, 2))}`, fails: true},
		"os global":                {script: `return {status = "Healthy", message = tostring(os.time())}`, fails: true},
		"io library":               {script: `io.write("x") return {status = "Healthy"}`, fails: true},
		"a script that never ends": {script: `while true do end`, fails: true},
		"a string returned":        {script: `return "Healthy"`, fails: true},
		"a number as message":      {script: `return {status = "Healthy", message = 1}`, fails: true},
		"os through require":       {script: `local os = require("os") return {status = "Healthy", message = tostring(os.time() > 0)}`, want: healthStatus{"Healthy", "true"}},
		"table library":            {script: `local t = {} table.insert(t, "a") table.insert(t, "b") return {status = "Degraded", message = table.concat(t, ",")}`, want: healthStatus{"Degraded", "a,b"}},
		"concatenating a number":   {script: `return {status = "Progressing", message = "generation " .. obj.metadata.generation}`, want: healthStatus{"Progressing", "generation 3"}},
		"an unknown status":        {script: `return {status = "Fine"}`, want: healthStatus{"Unknown", "Lua returned an invalid health status"}},
		"nothing returned":         {script: `local x = 1`, want: healthStatus{}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := runHealthScript(tc.script, map[string]any{"metadata": map[string]any{"generation": int64(3)}})
			switch {
			case tc.fails && err == nil:
				t.Errorf("ran, returning %+v; Argo CD's sandbox refuses it", got)
			case !tc.fails && err != nil:
				t.Errorf("failed: %v", err)
			case !tc.fails && got != tc.want:
				t.Errorf("returned %+v, want %+v", got, tc.want)
			}
		})
	}
}

// runHealthScript runs a health check as Argo CD (util/lua/lua.go) runs
// one from argocd-cm, where useOpenLibs is false unless set: no standard
// library but package, base, table and a "safe" os, a one-second limit,
// the object as the global obj, the returned table read as JSON.
func runHealthScript(script string, obj map[string]any) (healthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), Protect: true}, lua.LString(lib.name)); err != nil {
			return healthStatus{}, err
		}
	}
	l.PreloadModule(lua.OsLibName, loadSafeOs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", luaValue(l, obj))
	if err := l.DoString(script); err != nil {
		return healthStatus{}, err
	}
	return healthOf(l.Get(-1))
}

// safeOs are the os functions Argo CD offers, time and date, which its
// oslib_safe.go copies from gopher-lua: gopher-lua's own are used here.
var safeOs = func() map[string]lua.LGFunction {
	l := lua.NewState()
	defer l.Close()
	os := l.GetGlobal(lua.OsLibName).(*lua.LTable)
	return map[string]lua.LGFunction{
		"time": os.RawGetString("time").(*lua.LFunction).GFunction,
		"date": os.RawGetString("date").(*lua.LFunction).GFunction,
	}
}()

// openSafeOs does what Argo CD's OpenSafeOs does: it registers the
// functions under the table library's name, which is loaded already, so
// nothing is added and the global os stays nil; only require("os")
// (loadSafeOs) reaches them.
func openSafeOs(l *lua.LState) int {
	l.Push(l.RegisterModule(lua.TabLibName, safeOs))
	return 1
}

func loadSafeOs(l *lua.LState) int {
	l.Push(l.SetFuncs(l.NewTable(), safeOs))
	return 1
}

// luaValue converts an object as Argo CD's decodeValue does.
func luaValue(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(luaValue(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetH(lua.LString(key), luaValue(l, item))
		}
		return t
	}
	return lua.LNil
}

// healthOf reads a script's result as Argo CD's ExecuteHealthLua does:
// nothing (or an empty table) is no health; a table's status and message
// must be strings; a status Argo CD does not know is Unknown.
func healthOf(v lua.LValue) (healthStatus, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return healthStatus{}, nil
	case *lua.LTable:
		if k, _ := v.Next(lua.LNil); k == lua.LNil {
			return healthStatus{}, nil
		}
		var h healthStatus
		for key, dst := range map[string]*string{"status": &h.Status, "message": &h.Message} {
			switch f := v.RawGetString(key).(type) {
			case *lua.LNilType:
			case lua.LString:
				*dst = string(f)
			default:
				return healthStatus{}, fmt.Errorf("%s is a Lua %s; Argo CD reads a string", key, f.Type())
			}
		}
		if !slices.Contains([]string{"Unknown", "Progressing", "Suspended", "Healthy", "Degraded", "Missing"}, h.Status) {
			return healthStatus{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
		}
		return h, nil
	}
	return healthStatus{}, fmt.Errorf("expect table output from Lua script, not %s", v.Type())
}

// healthCases reads a kind's health_test.yaml, and checks that it names
// every file of testdata/ once.
func healthCases(t *testing.T, kind string) []healthCase {
	t.Helper()
	var file struct {
		Tests []healthCase `json:"tests"`
	}
	if err := yaml.UnmarshalStrict([]byte(readFile(t, filepath.Join(argocdDir, kind, "health_test.yaml"))), &file); err != nil {
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

// readObject reads a testdata object as Argo CD's own health tests do.
func readObject(t *testing.T, kind, input string) map[string]any {
	t.Helper()
	obj := map[string]any{}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(argocdDir, kind, input))), &obj); err != nil {
		t.Fatalf("%s/%s: %v", kind, input, err)
	}
	return obj
}

// decodeStrictly checks that a testdata object is an object of the API:
// its group and kind, and no field the types lack.
func decodeStrictly(t *testing.T, kind, input string, obj map[string]any) {
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
func checkConditions(t *testing.T, kind, input string, obj map[string]any, table map[string]string) (ready condition, readyCurrent, statusCurrent bool) {
	t.Helper()
	var u struct {
		Metadata struct{ Generation int64 }
		Status   *struct {
			ObservedGeneration int64
			Conditions         []condition
		}
	}
	raw, _ := json.Marshal(obj)
	if err := json.Unmarshal(raw, &u); err != nil {
		t.Fatalf("%s/%s: %v", kind, input, err)
	}
	if u.Status == nil {
		return condition{}, false, false
	}
	byType := map[string]condition{}
	for _, c := range u.Status.Conditions {
		byType[c.Type] = c
	}
	ready, ok := byType[deepcallv1.ConditionReady]
	if !ok {
		t.Errorf("%s/%s has a status without Ready", kind, input)
		return condition{}, false, false
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
			t.Errorf("%s/%s: %s present: %v, but the operator writes it only for %s reasons", kind, input, typ, ok, map[bool]string{true: "InProgress", false: "Failed"}[typ == deepcallv1.ConditionReconciling])
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

type condition struct {
	Type, Status, Reason, Message string
	ObservedGeneration            int64
}

// verdict is Argo CD's status for a reason with a kstatus verdict.
func verdict(kstatus, reason string) string {
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

// reasonConstants returns the values of the API's Reason* constants, read
// from its source so that a reason added later cannot be missed.
func reasonConstants(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../api/v1alpha1/conditions.go", nil, 0)
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
	if i < 0 {
		return ""
	}
	j := strings.Index(doc[i+len(from):], to)
	if j < 0 {
		return ""
	}
	return doc[i : i+len(from)+j]
}

var kstatusWord = regexp.MustCompile(`^(Current|InProgress|Failed)\b`)

// kstatusColumn maps each table row's `Reason` to its kstatus cell, as
// controllers/kstatus_test.go reads the same tables.
func kstatusColumn(t *testing.T, sec string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		reason, kstatus := "", ""
		for _, cell := range strings.Split(line, "|") {
			cell = strings.TrimSpace(cell)
			if strings.HasPrefix(cell, "`") && strings.HasSuffix(cell, "`") && reason == "" {
				reason = strings.Trim(cell, "`")
			}
			if m := kstatusWord.FindString(cell); m != "" {
				kstatus = m
			}
		}
		if reason != "" && kstatus != "" {
			out[reason] = kstatus
		}
	}
	if len(out) == 0 {
		t.Fatalf("no reason rows with a kstatus column in:\n%s", sec)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
