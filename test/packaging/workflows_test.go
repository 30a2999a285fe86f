package packaging

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// TestWorkflows checks the GitHub workflows, which cannot run here:
// actionlint (syntax, expressions, action inputs, permissions; the run:
// scripts through shellcheck when it is installed), and every action
// pinned to a full commit SHA with a comment naming its release.
func TestWorkflows(t *testing.T) {
	files, err := filepath.Glob("../../.github/workflows/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflow in .github/workflows (%v)", err)
	}
	problems, err := workflowLinter(t).LintFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s:%d:%d: %s [%s]", p.Filepath, p.Line, p.Column, p.Message, p.Kind)
	}

	uses := regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*(\S+)(.*)$`)
	pinned := regexp.MustCompile(`^[\w.-]+/[\w./-]+@[0-9a-f]{40}$`)
	named := regexp.MustCompile(`^\s+#\s*v\d`)
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range uses.FindAllStringSubmatch(string(body), -1) {
			if !pinned.MatchString(m[1]) || !named.MatchString(m[2]) {
				t.Errorf("%s: uses: %s%s: pin the action to a commit SHA and name its release in a comment", filepath.Base(f), m[1], m[2])
			}
		}
	}
}

// TestDocsWorkflowExample lints the pull request check that
// docs/kubectl-agentgroup/diff.md gives users to copy.
func TestDocsWorkflowExample(t *testing.T) {
	const doc, marker = "../../docs/kubectl-agentgroup/diff.md", "```yaml\n# .github/workflows/agentgroup-diff.yaml\n"
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	_, example, found := strings.Cut(string(b), marker)
	example, _, closed := strings.Cut(example, "\n```\n")
	if !found || !closed {
		t.Fatalf("%s has no %q block", doc, strings.TrimSpace(marker))
	}
	problems, err := workflowLinter(t).Lint("agentgroup-diff.yaml", []byte(example), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s, the example workflow:%d:%d: %s [%s]", doc, p.Line, p.Column, p.Message, p.Kind)
	}
}

// workflowLinter is actionlint, with shellcheck over the run: scripts when
// it is installed.
func workflowLinter(t *testing.T) *actionlint.Linter {
	t.Helper()
	opts := &actionlint.LinterOptions{}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	} else {
		t.Log("shellcheck is not installed: run: scripts are not checked")
	}
	linter, err := actionlint.NewLinter(io.Discard, opts)
	if err != nil {
		t.Fatal(err)
	}
	return linter
}
