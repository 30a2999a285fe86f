package packaging

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// argoHealth is what a health check returns (gitops-engine's HealthStatus).
type argoHealth struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// TestArgoCDLuaSandbox checks that runHealthScript refuses what Argo CD
// refuses, so that a script passing here does not fail there.
func TestArgoCDLuaSandbox(t *testing.T) {
	for name, tc := range map[string]struct {
		script string
		want   argoHealth
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
		"os through require":       {script: `local os = require("os") return {status = "Healthy", message = tostring(os.time() > 0)}`, want: argoHealth{"Healthy", "true"}},
		"table library":            {script: `local t = {} table.insert(t, "a") table.insert(t, "b") return {status = "Degraded", message = table.concat(t, ",")}`, want: argoHealth{"Degraded", "a,b"}},
		"concatenating a number":   {script: `return {status = "Progressing", message = "generation " .. obj.metadata.generation}`, want: argoHealth{"Progressing", "generation 3"}},
		"an unknown status":        {script: `return {status = "Fine"}`, want: argoHealth{"Unknown", "Lua returned an invalid health status"}},
		"nothing returned":         {script: `local x = 1`, want: argoHealth{}},
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
func runHealthScript(script string, obj map[string]any) (argoHealth, error) {
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
			return argoHealth{}, err
		}
	}
	l.PreloadModule(lua.OsLibName, loadSafeOs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", luaValue(l, obj))
	if err := l.DoString(script); err != nil {
		return argoHealth{}, err
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
func healthOf(v lua.LValue) (argoHealth, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return argoHealth{}, nil
	case *lua.LTable:
		if k, _ := v.Next(lua.LNil); k == lua.LNil {
			return argoHealth{}, nil
		}
		var h argoHealth
		for key, dst := range map[string]*string{"status": &h.Status, "message": &h.Message} {
			switch f := v.RawGetString(key).(type) {
			case *lua.LNilType:
			case lua.LString:
				*dst = string(f)
			default:
				return argoHealth{}, fmt.Errorf("%s is a Lua %s; Argo CD reads a string", key, f.Type())
			}
		}
		if !slices.Contains([]string{"Unknown", "Progressing", "Suspended", "Healthy", "Degraded", "Missing"}, h.Status) {
			return argoHealth{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
		}
		return h, nil
	}
	return argoHealth{}, fmt.Errorf("expect table output from Lua script, not %s", v.Type())
}
