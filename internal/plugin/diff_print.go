package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// diffSummary counts the AgentGroups of a diff by result.
type diffSummary struct {
	Create    int `json:"create"`
	Change    int `json:"change"`
	Adopt     int `json:"adopt"`
	Unchanged int `json:"unchanged"`
	Observe   int `json:"observe"`
	Suspended int `json:"suspended"`
	Stall     int `json:"stall"`
	Error     int `json:"error"`
}

func summarize(verdicts []diffVerdict) diffSummary {
	var s diffSummary
	for _, v := range verdicts {
		*map[diffResult]*int{diffCreate: &s.Create, diffChange: &s.Change, diffAdopt: &s.Adopt, diffUnchanged: &s.Unchanged,
			diffObserve: &s.Observe, diffSuspended: &s.Suspended, diffStall: &s.Stall, diffError: &s.Error}[v.Result]++
	}
	return s
}

// exitCode is kubectl diff's: 1 when a group would stall or could not be
// judged, else 2 when the operator would write (or adopt), else 0.
func (s diffSummary) exitCode() int {
	switch {
	case s.Stall+s.Error > 0:
		return ExitError
	case s.Create+s.Change+s.Adopt > 0:
		return ExitChanges
	}
	return ExitOK
}

// String is the summary line: the three counts always, the others when
// not zero.
func (s diffSummary) String() string {
	parts := []string{fmt.Sprintf("%d to create, %d to change, %d unchanged", s.Create, s.Change, s.Unchanged)}
	for _, c := range []struct {
		n    int
		what string
	}{{s.Adopt, "to adopt"}, {s.Observe, "observed with drift"}, {s.Suspended, "suspended"}, {s.Stall, "would stall"}, {s.Error, "failed"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return strings.Join(parts, ", ")
}

// printDiffText writes one block per AgentGroup the operator would do
// something for (or could not be judged), in the manifests' order, then
// the summary line: plain text, fit for a pull request comment.
func printDiffText(w io.Writer, verdicts []diffVerdict) {
	for _, v := range verdicts {
		if v.Result == diffUnchanged {
			continue
		}
		fmt.Fprintf(w, "%-9s AgentGroup %s: %s\n", strings.ToLower(string(v.Result)), v.Key, v.headline())
		switch v.Result {
		case diffStall:
			fmt.Fprintf(w, "  %s\n", v.Stall.Message)
		case diffCreate, diffChange, diffAdopt:
			for _, a := range v.Plan.Actions {
				fmt.Fprintf(w, "  %s: %s\n", callOf(a.Kind), a.Reason)
				if a.Kind == plan.Assign && a.GroupID == "" {
					fmt.Fprintf(w, "    members %s; receiving calls %s\n", idList(a.Members), idList(a.Receivers))
				}
			}
			if v.Result != diffCreate {
				printDrift(w, "differences", v.Plan.Drift)
			}
		case diffObserve:
			if v.GroupID != "" {
				printDrift(w, "drift it would report", v.Plan.Drift)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, summarize(verdicts))
}

// headline says in a few words what happens to the group.
func (v diffVerdict) headline() string {
	switch v.Result {
	case diffCreate:
		if v.Recreate {
			return fmt.Sprintf("its remote group was deleted outside the operator; a new remote group %q", v.Plan.Actions[0].Name)
		}
		return fmt.Sprintf("a new remote group %q", v.Plan.Actions[0].Name)
	case diffChange:
		return fmt.Sprintf("remote group %s %q", v.GroupID, v.RemoteName)
	case diffAdopt:
		return fmt.Sprintf("remote group %s %q, taken over by name (adoptionPolicy ByName)", v.GroupID, v.RemoteName)
	case diffObserve:
		if v.GroupID == "" {
			return fmt.Sprintf("no remote group named %q exists; managementPolicy Observe never creates one", v.Name)
		}
		return fmt.Sprintf("remote group %s %q; managementPolicy Observe writes nothing", v.GroupID, v.RemoteName)
	case diffSuspended:
		return "spec.suspend is true: no remote calls are made"
	case diffStall:
		return string(v.Stall.Reason)
	case diffError:
		return v.Err.Error()
	}
	return ""
}

func printDrift(w io.Writer, title string, drift []string) {
	if len(drift) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s:\n", title)
	for _, d := range drift {
		fmt.Fprintf(w, "    %s\n", d)
	}
}

func idList(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// callOf is the Group API operation an action calls.
func callOf(k plan.Kind) groupapi.Operation {
	switch k {
	case plan.Create:
		return groupapi.OpAdd
	case plan.Update:
		return groupapi.OpUpdate
	}
	return groupapi.OpSubmitAssignGroupToAgent
}

// diffDocument is `diff -o json` (docs/kubectl-agentgroup/diff.md
// describes every field; add fields, never rename or drop one).
type diffDocument struct {
	Groups  []diffGroupDoc `json:"groups"`
	Summary diffSummary    `json:"summary"`
	// Ignored counts the objects of other kinds the files held.
	Ignored int `json:"ignored"`
}

type diffGroupDoc struct {
	Namespace     string          `json:"namespace"`
	Name          string          `json:"name"`
	Result        diffResult      `json:"result"`
	Account       string          `json:"account"`
	RemoteAccount string          `json:"remoteAccount,omitempty"`
	GroupName     string          `json:"groupName"`
	GroupID       string          `json:"groupId,omitempty"`
	RemoteName    string          `json:"remoteName,omitempty"`
	Recreate      bool            `json:"recreate,omitempty"`
	Actions       []diffActionDoc `json:"actions"`
	Drift         []string        `json:"drift"`
	Reason        string          `json:"reason,omitempty"`
	Message       string          `json:"message,omitempty"`
	Error         string          `json:"error,omitempty"`
}

type diffActionDoc struct {
	Call groupapi.Operation `json:"call"`
	// GroupID is empty for the group the add creates.
	GroupID     string    `json:"groupId,omitempty"`
	Name        string    `json:"name,omitempty"`
	Enabled     *bool     `json:"enabled,omitempty"`
	Members     *[]string `json:"members,omitempty"`
	Receivers   *[]string `json:"receivers,omitempty"`
	Description string    `json:"description"`
}

func printDiffJSON(w io.Writer, verdicts []diffVerdict, ignored int) error {
	doc := diffDocument{Groups: []diffGroupDoc{}, Summary: summarize(verdicts), Ignored: ignored}
	for _, v := range verdicts {
		g := diffGroupDoc{Namespace: v.Key.Namespace, Name: v.Key.Name, Result: v.Result, Account: v.Account, RemoteAccount: v.RemoteAccount,
			GroupName: v.Name, GroupID: v.GroupID, RemoteName: v.RemoteName, Recreate: v.Recreate, Actions: []diffActionDoc{}, Drift: []string{}}
		g.Drift = append(g.Drift, v.Plan.Drift...)
		for _, a := range v.Plan.Actions {
			d := diffActionDoc{Call: callOf(a.Kind), GroupID: a.GroupID, Description: a.Reason}
			switch a.Kind {
			case plan.Create:
				d.Name = a.Name
			case plan.Update:
				d.Name, d.Enabled = a.Name, &a.Enabled
			case plan.Assign:
				d.Members, d.Receivers = &a.Members, &a.Receivers
			}
			g.Actions = append(g.Actions, d)
		}
		if v.Stall != nil {
			g.Reason, g.Message = string(v.Stall.Reason), v.Stall.Message
		}
		if v.Err != nil {
			g.Error = v.Err.Error()
		}
		doc.Groups = append(doc.Groups, g)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
