// Package plan is the pure diff of one AgentGroup's spec against its remote
// DeepCall group: the ordered remote calls that converge it, and the
// differences in words people read. The AgentGroup controller runs it
// between observe and apply; `kubectl agentgroup diff` prints it. No I/O,
// no clock: the same input gives the same plan.
package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Mode says whether the plan may contain writes.
type Mode string

const (
	// Manage converges the remote group.
	Manage Mode = "Manage"
	// Observe only reports differences.
	Observe Mode = "Observe"
)

// Desired is what the spec asks for. Members and Receivers are sets: order
// and repetition do not matter.
type Desired struct {
	Name      string
	Members   []string
	Receivers []string
	Enabled   bool
}

// Validate reports input the API would refuse (the CRD already rejects it;
// raw manifests read by the kubectl plugin may not have been through it).
func (d Desired) Validate() error {
	members := toSet(d.Members)
	var missing []string
	for r := range toSet(d.Receivers) {
		if !members[r] {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		sortIDs(missing)
		return fmt.Errorf("receiveCall entries must also be listed in members: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Remote is what the API reported for the bound group.
type Remote struct {
	ID        string
	Name      string
	Enabled   bool
	Members   []string
	Receivers []string
}

// Kind is the remote call an action makes.
type Kind string

const (
	Create Kind = "Create" // add
	Update Kind = "Update" // update: name and status together
	Assign Kind = "Assign" // submitAssignGroupToAgent: the whole membership
)

// Action is one remote call.
type Action struct {
	Kind Kind
	// GroupID is empty for Create and for actions after it: the applier
	// fills in the id the create returned.
	GroupID   string
	Name      string   // Create, Update
	Enabled   bool     // Update: the status to send (always sent)
	Members   []string // Assign: sorted, deduplicated
	Receivers []string // Assign: sorted, deduplicated
	Reason    string   // in words, for logs and the plugin
}

// Plan is the actions in order and the differences found.
type Plan struct {
	Actions []Action
	Drift   []string
}

// InSync reports whether the remote group matches the spec.
func (p Plan) InSync() bool { return len(p.Drift) == 0 }

// Writes is the number of write calls the plan makes.
func (p Plan) Writes() int { return len(p.Actions) }

// MaxDrift bounds the drift list; the last entry counts the rest.
const MaxDrift = 20

// DriftMissing is the drift entry for a group that does not exist remotely.
const DriftMissing = "group does not exist remotely"

// Compute diffs desired against remote (nil: no remote group). It assumes
// d.Validate() holds.
func Compute(d Desired, remote *Remote, mode Mode) Plan {
	members, receivers := sortedSet(d.Members), sortedSet(d.Receivers)
	if remote == nil {
		p := Plan{Drift: []string{DriftMissing}}
		if mode != Manage {
			return p
		}
		p.Actions = append(p.Actions, Action{Kind: Create, Name: d.Name, Reason: fmt.Sprintf("create group %q", d.Name)})
		if !d.Enabled {
			p.Actions = append(p.Actions, Action{Kind: Update, Name: d.Name, Enabled: false, Reason: "disable the new group"})
		}
		if len(members) > 0 {
			p.Actions = append(p.Actions, Action{Kind: Assign, Members: members, Receivers: receivers,
				Reason: fmt.Sprintf("assign %d members, %d receiving calls", len(members), len(receivers))})
		}
		return p
	}

	var drift, updates []string
	if remote.Name != d.Name {
		drift = append(drift, fmt.Sprintf("name is %q remotely, spec wants %q", remote.Name, d.Name))
		updates = append(updates, fmt.Sprintf("rename %q to %q", remote.Name, d.Name))
	}
	if remote.Enabled != d.Enabled {
		drift = append(drift, fmt.Sprintf("group is %s remotely, spec wants it %s", enabledWord(remote.Enabled), enabledWord(d.Enabled)))
		updates = append(updates, strings.TrimSuffix(enabledWord(d.Enabled), "d"))
	}
	haveM, haveR := toSet(remote.Members), toSet(remote.Receivers)
	wantM, wantR := toSet(members), toSet(receivers)
	extraM, missingM := difference(haveM, wantM), difference(wantM, haveM)
	extraR, missingR := difference(haveR, wantR), difference(wantR, haveR)
	for _, a := range extraM {
		drift = append(drift, fmt.Sprintf("agent %s is a member remotely but not in spec", a))
	}
	for _, a := range missingM {
		drift = append(drift, fmt.Sprintf("agent %s is in spec but not a member remotely", a))
	}
	for _, a := range extraR {
		drift = append(drift, fmt.Sprintf("agent %s receives calls remotely but not in spec", a))
	}
	for _, a := range missingR {
		drift = append(drift, fmt.Sprintf("agent %s should receive calls but does not remotely", a))
	}
	p := Plan{Drift: bound(drift)}
	if mode != Manage {
		return p
	}
	if len(updates) > 0 {
		p.Actions = append(p.Actions, Action{Kind: Update, GroupID: remote.ID, Name: d.Name, Enabled: d.Enabled, Reason: strings.Join(updates, ", ")})
	}
	if len(extraM)+len(missingM)+len(extraR)+len(missingR) > 0 {
		p.Actions = append(p.Actions, Action{Kind: Assign, GroupID: remote.ID, Members: members, Receivers: receivers,
			Reason: fmt.Sprintf("members +%d -%d, receivers +%d -%d", len(missingM), len(extraM), len(missingR), len(extraR))})
	}
	return p
}

func enabledWord(e bool) string {
	if e {
		return "enabled"
	}
	return "disabled"
}

func bound(drift []string) []string {
	if len(drift) <= MaxDrift {
		return drift
	}
	out := append([]string{}, drift[:MaxDrift-1]...)
	return append(out, fmt.Sprintf("... and %d more differences", len(drift)-(MaxDrift-1)))
}

func toSet(ids []string) map[string]bool {
	s := make(map[string]bool, len(ids))
	for _, id := range ids {
		s[id] = true
	}
	return s
}

// difference returns a - b, sorted.
func difference(a, b map[string]bool) []string {
	var out []string
	for id := range a {
		if !b[id] {
			out = append(out, id)
		}
	}
	sortIDs(out)
	return out
}

// sortedSet returns ids deduplicated and sorted, never nil, so an empty
// membership is sent as an empty list.
func sortedSet(ids []string) []string {
	out := make([]string, 0, len(ids))
	for id := range toSet(ids) {
		out = append(out, id)
	}
	sortIDs(out)
	return out
}

// sortIDs orders agent ids numerically when both are numbers ("2" before
// "10"), otherwise as strings.
func sortIDs(ids []string) {
	sort.Slice(ids, func(i, j int) bool {
		a, aerr := strconv.ParseUint(ids[i], 10, 64)
		b, berr := strconv.ParseUint(ids[j], 10, 64)
		if aerr == nil && berr == nil && a != b {
			return a < b
		}
		if (aerr == nil) != (berr == nil) {
			return aerr == nil
		}
		return ids[i] < ids[j]
	})
}
