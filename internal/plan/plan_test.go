package plan

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestCompute(t *testing.T) {
	sales := func(mut func(*Remote)) *Remote {
		r := &Remote{ID: "12", Name: "Sales", Enabled: true, Members: []string{"1001", "1002"}, Receivers: []string{"1001"}}
		if mut != nil {
			mut(r)
		}
		return r
	}
	want := Desired{Name: "Sales", Members: []string{"1001", "1002"}, Receivers: []string{"1001"}, Enabled: true}
	with := func(mut func(*Desired)) Desired {
		d := want
		mut(&d)
		return d
	}
	assign := func(id string, m, r []string) Action {
		return Action{Kind: Assign, GroupID: id, Members: m, Receivers: r}
	}
	update := func(id, name string, enabled bool) Action {
		return Action{Kind: Update, GroupID: id, Name: name, Enabled: enabled}
	}
	many := make([]string, 30)
	for i := range many {
		many[i] = fmt.Sprint(2000 + i)
	}

	cases := map[string]struct {
		desired Desired
		remote  *Remote
		mode    Mode
		actions []Action
		drift   []string
	}{
		"create an enabled group with members": {
			desired: want, mode: Manage,
			actions: []Action{{Kind: Create, Name: "Sales"}, assign("", []string{"1001", "1002"}, []string{"1001"})},
			drift:   []string{DriftMissing},
		},
		"create a disabled group": {
			desired: with(func(d *Desired) { d.Enabled = false }), mode: Manage,
			actions: []Action{{Kind: Create, Name: "Sales"}, {Kind: Update, Name: "Sales", Enabled: false}, assign("", []string{"1001", "1002"}, []string{"1001"})},
			drift:   []string{DriftMissing},
		},
		"create a group with no members needs no assign": {
			desired: Desired{Name: "Empty", Enabled: true}, mode: Manage,
			actions: []Action{{Kind: Create, Name: "Empty"}},
			drift:   []string{DriftMissing},
		},
		"create a disabled empty group": {
			desired: Desired{Name: "Empty"}, mode: Manage,
			actions: []Action{{Kind: Create, Name: "Empty"}, {Kind: Update, Name: "Empty"}},
			drift:   []string{DriftMissing},
		},
		"observe never creates": {
			desired: want, mode: Observe,
			drift: []string{DriftMissing},
		},
		"in sync": {
			desired: want, remote: sales(nil), mode: Manage,
		},
		"in sync with members in another order": {
			desired: with(func(d *Desired) { d.Members = []string{"1002", "1001"} }), remote: sales(nil), mode: Manage,
		},
		"in sync with members repeated": {
			desired: with(func(d *Desired) { d.Members = []string{"1002", "1001", "1002"} }), remote: sales(nil), mode: Manage,
		},
		"in sync when remote lists repeat": {
			desired: want, remote: sales(func(r *Remote) { r.Members = []string{"1002", "1001", "1001"} }), mode: Manage,
		},
		"nil and empty sets are equal": {
			desired: Desired{Name: "E", Enabled: true, Members: nil}, remote: &Remote{ID: "1", Name: "E", Enabled: true, Members: []string{}}, mode: Manage,
		},
		"rename": {
			desired: with(func(d *Desired) { d.Name = "Sales Team" }), remote: sales(nil), mode: Manage,
			actions: []Action{update("12", "Sales Team", true)},
			drift:   []string{`name is "Sales" remotely, spec wants "Sales Team"`},
		},
		"a change of case is a rename": {
			desired: with(func(d *Desired) { d.Name = "SALES" }), remote: sales(nil), mode: Manage,
			actions: []Action{update("12", "SALES", true)},
			drift:   []string{`name is "Sales" remotely, spec wants "SALES"`},
		},
		"disable": {
			desired: with(func(d *Desired) { d.Enabled = false }), remote: sales(nil), mode: Manage,
			actions: []Action{update("12", "Sales", false)},
			drift:   []string{"group is enabled remotely, spec wants it disabled"},
		},
		"enable keeps the name": {
			desired: want, remote: sales(func(r *Remote) { r.Enabled = false }), mode: Manage,
			actions: []Action{update("12", "Sales", true)},
			drift:   []string{"group is disabled remotely, spec wants it enabled"},
		},
		"rename and disable in one update": {
			desired: with(func(d *Desired) { d.Name = "Old Sales"; d.Enabled = false }), remote: sales(nil), mode: Manage,
			actions: []Action{update("12", "Old Sales", false)},
			drift:   []string{`name is "Sales" remotely, spec wants "Old Sales"`, "group is enabled remotely, spec wants it disabled"},
		},
		"add a member": {
			desired: with(func(d *Desired) { d.Members = []string{"1001", "1002", "1003"} }), remote: sales(nil), mode: Manage,
			actions: []Action{assign("12", []string{"1001", "1002", "1003"}, []string{"1001"})},
			drift:   []string{"agent 1003 is in spec but not a member remotely"},
		},
		"remove a member": {
			desired: with(func(d *Desired) { d.Members = []string{"1001"} }), remote: sales(nil), mode: Manage,
			actions: []Action{assign("12", []string{"1001"}, []string{"1001"})},
			drift:   []string{"agent 1002 is a member remotely but not in spec"},
		},
		"swap a member": {
			desired: with(func(d *Desired) { d.Members = []string{"1001", "1009"} }), remote: sales(nil), mode: Manage,
			actions: []Action{assign("12", []string{"1001", "1009"}, []string{"1001"})},
			drift:   []string{"agent 1002 is a member remotely but not in spec", "agent 1009 is in spec but not a member remotely"},
		},
		"receivers only": {
			desired: with(func(d *Desired) { d.Receivers = []string{"1001", "1002"} }), remote: sales(nil), mode: Manage,
			actions: []Action{assign("12", []string{"1001", "1002"}, []string{"1001", "1002"})},
			drift:   []string{"agent 1002 should receive calls but does not remotely"},
		},
		"receiver removed": {
			desired: with(func(d *Desired) { d.Receivers = nil }), remote: sales(nil), mode: Manage,
			actions: []Action{assign("12", []string{"1001", "1002"}, []string{})},
			drift:   []string{"agent 1001 receives calls remotely but not in spec"},
		},
		"members and receivers in one assign": {
			desired: with(func(d *Desired) { d.Members = []string{"1002", "1003"}; d.Receivers = []string{"1003"} }), remote: sales(nil), mode: Manage,
			actions: []Action{assign("12", []string{"1002", "1003"}, []string{"1003"})},
			drift: []string{
				"agent 1001 is a member remotely but not in spec",
				"agent 1003 is in spec but not a member remotely",
				"agent 1001 receives calls remotely but not in spec",
				"agent 1003 should receive calls but does not remotely",
			},
		},
		"everyone removed is an assign with empty lists": {
			desired: with(func(d *Desired) { d.Members = nil; d.Receivers = nil }), remote: sales(nil), mode: Manage,
			actions: []Action{assign("12", []string{}, []string{})},
			drift:   []string{"agent 1001 is a member remotely but not in spec", "agent 1002 is a member remotely but not in spec", "agent 1001 receives calls remotely but not in spec"},
		},
		"rename and members: update before assign": {
			desired: with(func(d *Desired) { d.Name = "S2"; d.Members = []string{"1001"} }), remote: sales(nil), mode: Manage,
			actions: []Action{update("12", "S2", true), assign("12", []string{"1001"}, []string{"1001"})},
			drift:   []string{`name is "Sales" remotely, spec wants "S2"`, "agent 1002 is a member remotely but not in spec"},
		},
		"ids sort numerically": {
			desired: Desired{Name: "N", Enabled: true, Members: []string{"10", "9", "100"}}, remote: &Remote{ID: "1", Name: "N", Enabled: true}, mode: Manage,
			actions: []Action{assign("1", []string{"9", "10", "100"}, []string{})},
			drift:   []string{"agent 9 is in spec but not a member remotely", "agent 10 is in spec but not a member remotely", "agent 100 is in spec but not a member remotely"},
		},
		"observe reports every kind of drift and writes nothing": {
			desired: with(func(d *Desired) {
				d.Name = "Sales Team"
				d.Members = []string{"1001", "1003"}
				d.Receivers = []string{"1003"}
			}),
			remote: sales(func(r *Remote) { r.Enabled = false }), mode: Observe,
			drift: []string{
				`name is "Sales" remotely, spec wants "Sales Team"`,
				"group is disabled remotely, spec wants it enabled",
				"agent 1002 is a member remotely but not in spec",
				"agent 1003 is in spec but not a member remotely",
				"agent 1001 receives calls remotely but not in spec",
				"agent 1003 should receive calls but does not remotely",
			},
		},
		"observe in sync": {
			desired: want, remote: sales(nil), mode: Observe,
		},
		"drift is cut at MaxDrift": {
			desired: Desired{Name: "Big", Enabled: true, Members: many}, remote: &Remote{ID: "5", Name: "Big", Enabled: true}, mode: Observe,
			drift: func() []string {
				var d []string
				for _, id := range many[:MaxDrift-1] {
					d = append(d, "agent "+id+" is in spec but not a member remotely")
				}
				return append(d, "... and 11 more differences")
			}(),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Compute(tc.desired, tc.remote, tc.mode)
			if diff := cmp.Diff(tc.actions, got.Actions, cmpopts.IgnoreFields(Action{}, "Reason"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			// Assign always sends whole lists, never nil.
			for _, a := range got.Actions {
				if a.Kind == Assign && (a.Members == nil || a.Receivers == nil) {
					t.Errorf("assign with a nil list: %+v", a)
				}
			}
			if diff := cmp.Diff(tc.drift, got.Drift, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("drift (-want +got):\n%s", diff)
			}
			if got.InSync() != (len(tc.drift) == 0) || got.Writes() != len(tc.actions) {
				t.Errorf("InSync %v Writes %d", got.InSync(), got.Writes())
			}
			if again := Compute(tc.desired, tc.remote, tc.mode); !cmp.Equal(got, again) {
				t.Errorf("not deterministic:\n%+v\n%+v", got, again)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		desired Desired
		err     string
	}{
		"receivers are members":        {desired: Desired{Members: []string{"1", "2"}, Receivers: []string{"2"}}},
		"no receivers":                 {desired: Desired{Members: []string{"1"}}},
		"nothing":                      {},
		"a receiver that is no member": {desired: Desired{Members: []string{"1"}, Receivers: []string{"1", "5", "3"}}, err: "receiveCall entries must also be listed in members: 3, 5"},
		"receivers without members":    {desired: Desired{Receivers: []string{"7"}}, err: "receiveCall entries must also be listed in members: 7"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.desired.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("Validate() = %q, want %q", got, tc.err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	cases := map[string]struct {
		desired, remote string
		same, twin      bool
	}{
		"identical":                     {desired: "Sales", remote: "Sales", same: true},
		"other case":                    {desired: "Sales", remote: "sALES", same: true},
		"number after a space":          {desired: "Sales", remote: "Sales 2", twin: true},
		"number without a space":        {desired: "Sales", remote: "Sales2", twin: true},
		"number in parentheses":         {desired: "Sales", remote: "Sales (2)", twin: true},
		"number in brackets":            {desired: "Sales", remote: "Sales [12]", twin: true},
		"number after a dash":           {desired: "Sales", remote: "Sales-3", twin: true},
		"twin in another case":          {desired: "Sales", remote: "SALES 1", twin: true},
		"longer name is no twin":        {desired: "Sales", remote: "Sales Team"},
		"number and letters is no twin": {desired: "Sales", remote: "Sales 2b"},
		"prefix is no twin":             {desired: "Sales Team", remote: "Sales"},
		"name ending in digits":         {desired: "Team 7", remote: "Team 7 1", twin: true},
		"digits changed is no twin":     {desired: "Team 7", remote: "Team 8"},
		"empty brackets are no twin":    {desired: "Sales", remote: "Sales ()"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := SameName(tc.desired, tc.remote); got != tc.same {
				t.Errorf("SameName(%q, %q) = %v", tc.desired, tc.remote, got)
			}
			if got := IsTwin(tc.desired, tc.remote); got != tc.twin {
				t.Errorf("IsTwin(%q, %q) = %v", tc.desired, tc.remote, got)
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	groups := []Remote{{ID: "1", Name: "Sales"}, {ID: "2", Name: "Sales Team"}, {ID: "3", Name: "sales 1"}, {ID: "4", Name: "SALES"}, {ID: "5", Name: "Sales (2)"}}
	exact, twins := Candidates("Sales", groups)
	if diff := cmp.Diff([]Remote{groups[0], groups[3]}, exact); diff != "" {
		t.Errorf("exact (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Remote{groups[2], groups[4]}, twins); diff != "" {
		t.Errorf("twins (-want +got):\n%s", diff)
	}
}
