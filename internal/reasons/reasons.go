// Package reasons reads the API's condition reasons from its source and
// the kstatus verdict docs/reference.md gives each, for the tests that keep
// the code, the docs and the tools reading the status (kstatus, Argo CD's
// health checks) in step. Reading the source, not a list, means a reason
// added later cannot be left out.
package reasons

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// NotOnReady are the reason constants that never appear on Ready: no
// kstatus verdict or health check is owed for them.
var NotOnReady = map[string]bool{
	deepcallv1.ReasonInSync: true, deepcallv1.ReasonOutOfSync: true, // InSync
	deepcallv1.ReasonWithinBudget: true, deepcallv1.ReasonIntervalStretched: true, // SyncBudget
	deepcallv1.ReasonDriftDetected: true, deepcallv1.ReasonDriftCorrected: true, // events
}

// Constants returns the values of the Reason* constants declared in the
// Go file at path (api/v1alpha1/conditions.go).
func Constants(path string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return nil, err
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || err != nil {
			return err == nil
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Reason") || i >= len(vs.Values) {
				continue
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
				var v string
				if v, err = strconv.Unquote(lit.Value); err != nil {
					return false
				}
				out = append(out, v)
			}
		}
		return true
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%s declares no Reason constant", path)
	}
	return out, err
}

// Documented reads docs/reference.md at path: per kind (Account,
// AgentGroup), each Ready reason of its table and the kstatus verdict the
// table gives it.
func Documented(path string) (map[string]map[string]string, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for kind, bounds := range map[string][2]string{
		"Account":    {"## Account", "## AgentGroup"},
		"AgentGroup": {"## AgentGroup", "### Ownership and identity"},
	} {
		if out[kind], err = kstatusColumn(section(string(doc), bounds[0], bounds[1])); err != nil {
			return nil, fmt.Errorf("%s, %s: %w", path, kind, err)
		}
	}
	return out, nil
}

// section is the part of a Markdown document from the line starting with
// from up to the next one starting with to ("" when either is missing).
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

// kstatusColumn maps each table row's `Reason` (its first code cell) to
// the kstatus word of its row: Current, InProgress or Failed.
func kstatusColumn(section string) (map[string]string, error) {
	out := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
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
		return nil, fmt.Errorf("no reason rows with a kstatus column in:\n%s", section)
	}
	return out, nil
}
