package plan

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestSenior(t *testing.T) {
	older := Claimant{Owner: "a/older", UID: "u2", Created: t0}
	newer := Claimant{Owner: "b/newer", UID: "u1", Created: t0.Add(time.Second)}
	twin := Claimant{Owner: "c/twin", UID: "u0", Created: t0}
	bound := Claimant{Owner: "d/bound", UID: "u9", Created: t0.Add(time.Hour), Bound: true}
	cases := map[string]struct {
		claimants []Claimant
		want      int // the index of the senior one
	}{
		"the only one":                       {[]Claimant{newer}, 0},
		"the oldest":                         {[]Claimant{newer, older}, 1},
		"a bound one before an older one":    {[]Claimant{older, bound, newer}, 1},
		"the smallest UID at the same time":  {[]Claimant{older, twin}, 1},
		"the first of two identical entries": {[]Claimant{older, older}, 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Senior(tc.claimants); got != tc.want {
				t.Errorf("Senior = %d (%s), want %d (%s)", got, tc.claimants[got].Owner, tc.want, tc.claimants[tc.want].Owner)
			}
		})
	}
}

func TestBindingDecisions(t *testing.T) {
	sales := Remote{ID: "12", Name: "Sales"}
	cases := map[string]struct {
		got       *Stall
		reason    Reason
		message   string
		noMessage bool
	}{
		"account unchanged": {got: AccountChanged("12", "u1@host", "u1@host", "Account default"), noMessage: true},
		"nothing recorded":  {got: AccountChanged("", "", "u2@host", "Account default"), noMessage: true},
		"account resolves elsewhere": {
			got: AccountChanged("12", "u1@host", "u2@host", "Account default"), reason: ReasonAccountChanged,
			message: "remote group 12 belongs to remote account u1@host, but Account default now resolves to u2@host: nothing is created, changed or deleted. " +
				"Point the Account back at u1@host, or see AccountChanged in docs/reference.md to move",
		},
		"a pending create, ssid credentials of an empty account": {
			got: AccountChanged("", "u1@host", "", "ClusterAccount shared"), reason: ReasonAccountChanged,
			message: "the pending create of this AgentGroup belongs to remote account u1@host; the ssid credentials of ClusterAccount shared cannot be matched to it, " +
				"because the account they open lists no group: nothing is created, changed or deleted. Use userId and token credentials, or see AccountChanged in docs/reference.md",
		},
		"group in use": {
			got: InUse("12", "team-a/sales"), reason: ReasonGroupIDInUse,
			message: "remote group 12 is managed by AgentGroup team-a/sales: this AgentGroup makes no change to it, and deleting it leaves the group alone. " +
				"Delete one of the two, or give this one another spec.groupId",
		},
		"rename onto another group's name": {
			got: RenameConflict("12", "Support", []Remote{sales, {ID: "13", Name: "support"}}), reason: ReasonNameConflict,
			message: `cannot rename remote group 12 to "Support": remote group 13 already has that name; choose another spec.groupName`,
		},
		"rename onto a free name":  {got: RenameConflict("12", "Support", []Remote{sales, {ID: "13", Name: "Support 2"}}), noMessage: true},
		"a change of case is ours": {got: RenameConflict("12", "SALES", []Remote{sales}), noMessage: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.noMessage {
				if tc.got != nil {
					t.Fatalf("want no stall, got %+v", tc.got)
				}
				return
			}
			if diff := cmp.Diff(&Stall{tc.reason, tc.message}, tc.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBoundID(t *testing.T) {
	cases := map[string]struct {
		status, spec string
		id           string
		reason       Reason
	}{
		"unbound":                     {},
		"bound":                       {status: "12", id: "12"},
		"named":                       {spec: "12", id: "12"},
		"bound to the named one":      {status: "12", spec: "12", id: "12"},
		"bound to another than named": {status: "12", spec: "13", reason: ReasonGroupIDMismatch},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			id, st := BoundID(tc.status, tc.spec)
			var reason Reason
			if st != nil {
				reason = st.Reason
			}
			if id != tc.id || reason != tc.reason {
				t.Errorf("BoundID(%q, %q) = %q, %+v; want %q, %s", tc.status, tc.spec, id, st, tc.id, tc.reason)
			}
		})
	}
	if _, st := BoundID("12", "13"); st.Message != "this AgentGroup manages remote group 12 (status.groupId); spec.groupId 13 would leave it unmanaged, so nothing is done. "+
		"To manage 13 instead, delete this AgentGroup (deletionPolicy decides what happens to 12) and create one with spec.groupId 13" {
		t.Errorf("GroupIDMismatch message: %s", st.Message)
	}
}

func TestGone(t *testing.T) {
	cases := map[string]struct {
		named, observe bool
		lookUpName     bool
		reason         Reason
	}{
		"deleted by hand is created again":             {lookUpName: true},
		"observe has nothing to observe":               {observe: true},
		"spec.groupId names a group that is not there": {named: true, reason: ReasonRemoteGroupNotFound},
		"spec.groupId wins over observe":               {named: true, observe: true, reason: ReasonRemoteGroupNotFound},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			lookUp, st := Gone("12", tc.named, tc.observe)
			var reason Reason
			if st != nil {
				reason = st.Reason
			}
			if lookUp != tc.lookUpName || reason != tc.reason {
				t.Errorf("Gone = %v, %+v; want %v, %s", lookUp, st, tc.lookUpName, tc.reason)
			}
		})
	}
	if _, st := Gone("12", true, false); st.Message != "remote group 12 (spec.groupId) does not exist or is not visible to this account" {
		t.Errorf("RemoteGroupNotFound message: %s", st.Message)
	}
}

func TestCheckNameHolder(t *testing.T) {
	self := Claimant{Owner: "a/new", UID: "u5", Created: t0.Add(time.Minute)}
	older := Claimant{Owner: "b/old", UID: "u6", Created: t0}
	if st := CheckNameHolder("Sales", "u1@host", self, nil); st != nil {
		t.Errorf("alone: %+v", st)
	}
	want := &Stall{ReasonDuplicateGroupName, `AgentGroup b/old already manages the group name "Sales" on remote account u1@host: give this AgentGroup another spec.groupName`}
	if diff := cmp.Diff(want, CheckNameHolder("Sales", "u1@host", self, []Claimant{older})); diff != "" {
		t.Errorf("an older claimant (-want +got):\n%s", diff)
	}
	self.Bound = true
	if st := CheckNameHolder("Sales", "u1@host", self, []Claimant{older}); st != nil {
		t.Errorf("bound before older: %+v", st)
	}
}

func TestLookUpAndAdopt(t *testing.T) {
	groups := []Remote{{ID: "1", Name: "Sales"}, {ID: "2", Name: "Billing (2)"}, {ID: "3", Name: "Support"}, {ID: "4", Name: "SUPPORT"}}
	cases := map[string]struct {
		name    string
		observe bool
		want    Lookup
	}{
		"free name":          {name: "Payroll", want: Lookup{Create: true, KnownTwins: []string{}}},
		"free with a twin":   {name: "billing", want: Lookup{Create: true, KnownTwins: []string{"2"}}},
		"one with the name":  {name: "SALES", want: Lookup{Found: &groups[0]}},
		"observe a free one": {name: "Payroll", observe: true, want: Lookup{}},
		"several with the name": {name: "support", want: Lookup{Stall: &Stall{ReasonNameConflict,
			`remote groups 3, 4 are all named "support": set spec.groupId to the one to manage`}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, LookUp(tc.name, groups, tc.observe)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	sales := groups[0]
	other := Claimant{Owner: "b/sales", UID: "u2"}
	adoptions := map[string]struct {
		holder   Claimant
		byName   bool
		adoption Adoption
		stall    *Stall
	}{
		"our own create":          {holder: Claimant{Owner: "a/sales", UID: "u1"}, adoption: Ours},
		"adopt by name":           {byName: true, adoption: Adopted},
		"never adopts by default": {stall: &Stall{ReasonNameConflict, `remote group 1 "Sales" already exists and was not created by this AgentGroup: set spec.adoptionPolicy: ByName or spec.groupId: "1" to manage it, or choose another spec.groupName`}},
		"held by another":         {holder: other, byName: true, stall: &Stall{ReasonDuplicateGroupName, `remote group 1 "Sales" is already managed by AgentGroup b/sales: give this AgentGroup another spec.groupName`}},
	}
	for name, tc := range adoptions {
		t.Run(name, func(t *testing.T) {
			adoption, st := Adopt(sales, "u1", tc.holder, tc.byName)
			if adoption != tc.adoption || !cmp.Equal(st, tc.stall) {
				t.Errorf("Adopt = %q, %+v; want %q, %+v", adoption, st, tc.adoption, tc.stall)
			}
		})
	}
}
