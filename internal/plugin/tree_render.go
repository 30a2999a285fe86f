package plugin

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// treeStyle is how the tree is printed: in colour or not, and the width
// message lines are cut to.
type treeStyle struct {
	Color bool
	Width int
}

// treeWidth is the width of message lines when stdout is not a terminal:
// a pull request comment or a log.
const treeWidth = 120

// renderTree prints each account, then its AgentGroups as a tree, stuck
// ones first, with the message of each one not Ready under it. Ages are
// counted back from now.
func renderTree(w io.Writer, nodes []accountNode, now time.Time, style treeStyle) error {
	var b strings.Builder
	for i, n := range nodes {
		if i > 0 {
			b.WriteString("\n")
		}
		writeAccountLines(&b, n, now, style)
		writeGroupTree(&b, n, now, style)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Colours, as SGR codes.
const (
	sgrBold   = "1"
	sgrRed    = "31"
	sgrGreen  = "32"
	sgrYellow = "33"
)

func (s treeStyle) paint(code, text string) string {
	if !s.Color || code == "" || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// treeHealth is how far from done an object is: stalled (a person must act),
// not ready (on its way, or waiting), ready.
type treeHealth int

const (
	treeStalled treeHealth = iota
	treeNotReady
	treeReady
)

func treeHealthOf(conds []metav1.Condition) treeHealth {
	switch {
	case meta.IsStatusConditionTrue(conds, deepcallv1.ConditionStalled):
		return treeStalled
	case meta.IsStatusConditionTrue(conds, deepcallv1.ConditionReady):
		return treeReady
	}
	return treeNotReady
}

func (h treeHealth) color() string {
	return [...]string{treeStalled: sgrRed, treeNotReady: sgrYellow, treeReady: sgrGreen}[h]
}

// compareStuckFirst orders AgentGroups stalled first, then not Ready, then
// Ready; by namespace and name within each.
func compareStuckFirst(a, b deepcallv1.AgentGroup) int {
	return cmp.Or(cmp.Compare(treeHealthOf(a.Status.Conditions), treeHealthOf(b.Status.Conditions)),
		cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// treeReadyOf is Ready's status and reason ("Unknown" and "-" before the
// operator first wrote them), and its message.
func treeReadyOf(conds []metav1.Condition) (status, reason, message string) {
	c := meta.FindStatusCondition(conds, deepcallv1.ConditionReady)
	if c == nil {
		return string(metav1.ConditionUnknown), "-", ""
	}
	return string(c.Status), cmp.Or(c.Reason, "-"), c.Message
}

func writeAccountLines(b *strings.Builder, n accountNode, now time.Time, style treeStyle) {
	name := n.Kind + "/" + n.Key.Name
	if n.Key.Namespace != "" {
		name += " in " + n.Key.Namespace
	}
	a := n.Account
	switch {
	case a == nil && n.Problem != "":
		fmt.Fprintf(b, "%s %s: %s\n", style.paint(sgrRed, "(unreadable)"), style.paint(sgrBold, name), n.Problem)
		return
	case a == nil:
		fmt.Fprintf(b, "%s %s\n", style.paint(sgrRed, "(missing)"), style.paint(sgrBold, name))
		return
	}
	st := a.Status
	ready, reason, message := treeReadyOf(st.Conditions)
	h := treeHealthOf(st.Conditions)
	fmt.Fprintf(b, "%s: Ready %s", style.paint(sgrBold, name), style.paint(h.color(), ready+" ("+reason+")"))
	if st.RemoteAccount != "" {
		fmt.Fprintf(b, ", remote account %s", st.RemoteAccount)
	}
	b.WriteString("\n")
	// The counts are the Account's, from its last listing of the account.
	fmt.Fprintf(b, "  groups: %d managed, %d unmanaged", st.ManagedGroups, st.UnmanagedGroups)
	if st.LastSyncTime != nil {
		fmt.Fprintf(b, " (listed %s ago)", treeAge(now, st.LastSyncTime.Time))
	}
	fmt.Fprintf(b, "\n  budget: %d requests/s, burst %d; %s", a.Spec.RequestsPerSecond, a.Spec.Burst, treeSyncLine(a))
	if st.OldestGroupCheck != nil {
		fmt.Fprintf(b, "; oldest check %s ago", treeAge(now, st.OldestGroupCheck.Time))
	}
	b.WriteString("\n")
	if t := st.ThrottledUntil; t != nil && t.After(now) {
		fmt.Fprintf(b, "  %s until %s (%s from now)\n", style.paint(sgrYellow, "throttled"), t.UTC().Format(time.RFC3339), treeAge(t.Time, now))
	}
	if h != treeReady && message != "" {
		b.WriteString("  " + style.paint(h.color(), treeCut(message, style.Width-2)) + "\n")
	}
}

// treeSyncLine is how often the account's groups are re-read, and whether the
// rate limit stretched that.
func treeSyncLine(a *Account) string {
	want := a.Spec.SyncInterval.Duration
	every := want
	if e := a.Status.EffectiveSyncInterval; e != nil {
		every = e.Duration
	}
	if every == 0 {
		return "sync interval not known yet"
	}
	if every != want && want != 0 {
		return fmt.Sprintf("sync every %s (stretched from %s to fit the budget)", every, want)
	}
	return "sync every " + every.String()
}

func writeGroupTree(b *strings.Builder, n accountNode, now time.Time, style treeStyle) {
	if len(n.Groups) == 0 {
		b.WriteString("  (no AgentGroups)\n")
		return
	}
	qualify := n.Kind == deepcallv1.KindClusterAccount // its groups come from several namespaces
	rows := [][]string{{"NAME", "READY", "REASON", "DRIFT", "LAST SYNC", "GROUP ID"}}
	colors := [][]string{make([]string, 6)}
	messages := []string{""}
	for i, g := range n.Groups {
		branch := "├─ "
		if i == len(n.Groups)-1 {
			branch = "└─ "
		}
		name := g.Name
		if qualify {
			name = g.Namespace + "/" + g.Name
		}
		ready, reason, message := treeReadyOf(g.Status.Conditions)
		h := treeHealthOf(g.Status.Conditions)
		drift, driftColor := "-", ""
		if d := len(g.Status.Drift); d > 0 {
			drift, driftColor = strconv.Itoa(d), sgrYellow
		}
		lastSync := "-"
		if t := g.Status.LastSyncTime; t != nil {
			lastSync = treeAge(now, t.Time)
		}
		reasonColor := ""
		if h != treeReady {
			reasonColor = h.color()
		} else {
			message = ""
		}
		rows = append(rows, []string{branch + name, ready, reason, drift, lastSync, cmp.Or(g.Status.GroupID, "-")})
		colors = append(colors, []string{"", h.color(), reasonColor, driftColor, "", ""})
		messages = append(messages, message)
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for c, cell := range row {
			widths[c] = max(widths[c], utf8.RuneCountInString(cell))
		}
	}
	for r, row := range rows {
		var line strings.Builder
		for c, cell := range row {
			line.WriteString(style.paint(colors[r][c], cell))
			if c < len(row)-1 {
				line.WriteString(strings.Repeat(" ", widths[c]-utf8.RuneCountInString(cell)+3))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
		if messages[r] != "" {
			indent := "│    "
			if r == len(rows)-1 {
				indent = "     "
			}
			b.WriteString(indent + style.paint(colors[r][1], treeCut(messages[r], style.Width-utf8.RuneCountInString(indent))) + "\n")
		}
	}
}

// treeAge is how long before now t was, as kubectl prints ages.
func treeAge(now, t time.Time) string {
	return duration.HumanDuration(now.Sub(t))
}

// treeCut shortens s to at most width characters, marking the cut; a message
// is one line.
func treeCut(s string, width int) string {
	s = strings.Join(strings.Fields(s), " ")
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}
