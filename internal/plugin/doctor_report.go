package plugin

import (
	"fmt"
	"io"
	"strings"
)

// verdict is what a doctor check concluded.
type verdict string

const (
	verdictOK verdict = "ok"
	// verdictWarn: differs from GROUP_API.md, or cannot be told for sure,
	// but the operator copes; it does not fail the doctor.
	verdictWarn verdict = "warn"
	// verdictFail: a mismatch that would break reconciling.
	verdictFail verdict = "FAIL"
	// verdictSkip: not checked, and the line says why.
	verdictSkip verdict = "skip"
)

// worse orders verdicts for a check made of several observations.
func worse(a, b verdict) verdict {
	rank := map[verdict]int{verdictSkip: 0, verdictOK: 1, verdictWarn: 2, verdictFail: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// finding is one printed line: a check, its verdict and what it saw.
type finding struct {
	verdict verdict
	check   string
	saw     string
}

// section groups the findings of one question (credentials, reads, ...).
type section struct {
	title    string
	findings []finding
}

func (s *section) add(v verdict, check, format string, args ...any) {
	s.findings = append(s.findings, finding{verdict: v, check: check, saw: fmt.Sprintf(format, args...)})
}

// report is everything doctor prints, in order.
type report struct {
	header   string
	sections []*section
	// incomplete says why some checks were not made ("": all were).
	incomplete string
	// writesUnprobed: the write endpoints were left alone, as by default.
	writesUnprobed bool
}

// section returns the section titled title, added at the end when new.
func (r *report) section(title string) *section {
	for _, s := range r.sections {
		if s.title == title {
			return s
		}
	}
	s := &section{title: title}
	r.sections = append(r.sections, s)
	return s
}

// count is how many findings have verdict v.
func (r *report) count(v verdict) int {
	n := 0
	for _, s := range r.sections {
		for _, f := range s.findings {
			if f.verdict == v {
				n++
			}
		}
	}
	return n
}

// failed reports a FAIL anywhere: doctor then exits 1.
func (r *report) failed() bool { return r.count(verdictFail) > 0 }

// print writes the report for a terminal or a pull request comment: one
// line per check under its section, then the counts and the conclusion.
func (r *report) print(w io.Writer) {
	var b strings.Builder
	if r.header != "" {
		fmt.Fprintf(&b, "%s\n\n", r.header)
	}
	for _, s := range r.sections {
		if len(s.findings) == 0 {
			continue
		}
		fmt.Fprintln(&b, s.title)
		for _, f := range s.findings {
			fmt.Fprintf(&b, "  %-4s  %s: %s\n", f.verdict, f.check, f.saw)
		}
	}
	conclusion := "the operator can reconcile this account"
	switch {
	case r.failed():
		conclusion = "the operator cannot reconcile this account"
	case r.incomplete != "":
		conclusion = "no mismatch so far, but not every check was made: " + r.incomplete
	case r.writesUnprobed:
		conclusion = "no mismatch in the reads; the write endpoints were not probed (--probe-write-endpoints)"
	}
	fmt.Fprintf(&b, "\n%d ok, %d warn, %d FAIL, %d skipped: %s\n",
		r.count(verdictOK), r.count(verdictWarn), r.count(verdictFail), r.count(verdictSkip), conclusion)
	_, _ = io.WriteString(w, b.String())
}
