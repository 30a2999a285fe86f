package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

const (
	diffUser  = "u1"
	diffToken = "diff-token-7f3a"
)

// diffFixture is a cluster (a fake client) with Account team-a/default of
// a simulated remote account, and the AgentGroups live in it.
type diffFixture struct {
	t      *testing.T
	sim    *sim.Server
	remote string // the remote account, as status fields record it
	objs   []client.Object
	// forbidAllNamespaces refuses listing AgentGroups cluster-wide.
	forbidAllNamespaces bool
	// forbidNamespaces refuses reading namespaces.
	forbidNamespaces bool
	// unreadable names, per AgentGroup name, the status fields its
	// decoding could not read (the fake client keeps typed objects, so it
	// cannot store a status the types refuse).
	unreadable map[string]map[string]string
}

func newDiffFixture(t *testing.T) *diffFixture {
	s := sim.New(sim.Options{})
	s.AddUser(sim.User{ID: diffUser, Token: diffToken, Agents: sim.AgentRange(1000, 1099)})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	remote := accounts.RemoteAccount{Host: accounts.HostOf(srv.URL), User: diffUser}.String()
	f := &diffFixture{t: t, sim: s, remote: remote}
	f.objs = append(f.objs,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b", Labels: map[string]string{"tenant": "yes"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "team-a"}, Data: map[string][]byte{"userId": []byte(diffUser), "token": []byte(diffToken)}},
		&deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "team-a"},
			Spec:   deepcallv1.AccountSpec{BaseURL: srv.URL, CredentialsSecretRef: deepcallv1.SecretReference{Name: "creds"}, RequestsPerSecond: 100, Burst: 100},
			Status: deepcallv1.AccountStatus{RemoteAccount: remote}})
	return f
}

// clusterAccount adds ClusterAccount "shared" on the same remote account,
// lent to the namespaces labelled tenant=yes (team-b, not team-a).
func (f *diffFixture) clusterAccount() {
	var account *deepcallv1.Account
	for _, o := range f.objs {
		if a, ok := o.(*deepcallv1.Account); ok {
			account = a
		}
	}
	spec := account.Spec
	spec.CredentialsSecretRef.Namespace = "team-a"
	f.objs = append(f.objs, &deepcallv1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: "shared"},
		Spec:   deepcallv1.ClusterAccountSpec{AccountSpec: spec, AllowedNamespaces: &metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "yes"}}},
		Status: deepcallv1.AccountStatus{RemoteAccount: f.remote}})
}

// group makes a remote group by hand, with members.
func (f *diffFixture) group(name string, members ...string) string {
	f.t.Helper()
	id, err := f.sim.CreateGroup(diffUser, name)
	if err == nil {
		err = f.sim.SetMembers(diffUser, id, members, nil)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return fmt.Sprint(id)
}

// live adds an AgentGroup to the cluster, bound to remote group id ("":
// unbound), created age ago.
func (f *diffFixture) live(ns, name, groupName, id string, age time.Duration, mut ...func(*deepcallv1.AgentGroup)) {
	g := &deepcallv1.AgentGroup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + ns + "-" + name), CreationTimestamp: metav1.NewTime(time.Now().Add(-age).Truncate(time.Second))},
		Spec:       deepcallv1.AgentGroupSpec{GroupName: groupName},
	}
	if id != "" {
		g.Status.GroupID, g.Status.RemoteAccount = id, f.remote
	}
	for _, m := range mut {
		m(g)
	}
	f.objs = append(f.objs, g)
}

// diff runs `kubectl agentgroup diff -f -` on manifests (namespace team-a
// by default) and returns its output and exit code.
func (f *diffFixture) diff(manifests string, args ...string) (stdout, stderr string, code int) {
	f.t.Helper()
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(f.objs...).WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if lo := (&client.ListOptions{}).ApplyOptions(opts); f.forbidAllNamespaces && lo.Namespace == "" {
				return apierrors.NewForbidden(schema.GroupResource{Group: deepcallv1.GroupVersion.Group, Resource: "agentgroups"}, "", errors.New("no"))
			}
			err := c.List(ctx, list, opts...)
			if groups, ok := list.(*deepcallv1.AgentGroupList); ok {
				for i := range groups.Items {
					groups.Items[i].Status.Unreadable = f.unreadable[groups.Items[i].Name]
				}
			}
			return err
		},
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.Namespace); ok && f.forbidNamespaces {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, key.Name, errors.New("no"))
			}
			err := c.Get(ctx, key, obj, opts...)
			if g, ok := obj.(*deepcallv1.AgentGroup); ok {
				g.Status.Unreadable = f.unreadable[g.Name]
			}
			return err
		},
	}).Build()
	var out, errOut bytes.Buffer
	o := &diffOptions{f: &Factory{Streams: genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}, AllowInsecureLoopback: true}}
	if len(args) > 0 {
		o.output = args[0]
	}
	ms, err := readDiffManifests(strings.NewReader(manifests), []string{"-"}, false, "team-a", false)
	if err != nil {
		f.t.Fatal(err)
	}
	err = o.report(context.Background(), c, ms)
	var exit exitCode
	switch {
	case errors.As(err, &exit):
		code = int(exit)
	case err != nil:
		f.t.Fatal(err)
	}
	if calls := f.sim.Calls(); calls["add"]+calls["update"]+calls["delete"]+calls["submitAssignGroupToAgent"] > 0 {
		f.t.Errorf("the diff made write calls: %v", calls)
	}
	return out.String(), errOut.String(), code
}

func agentGroupYAML(name, groupName string, members []string, extra ...string) string {
	quoted := make([]string, len(members))
	for i, m := range members {
		quoted[i] = fmt.Sprintf("%q", m)
	}
	spec := fmt.Sprintf("  groupName: %q\n  members: [%s]\n", groupName, strings.Join(quoted, ", "))
	for _, e := range extra {
		spec += "  " + e + "\n"
	}
	return fmt.Sprintf("apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: %s}\nspec:\n%s---\n", name, spec)
}

func TestDiffDecisions(t *testing.T) {
	type setup func(f *diffFixture) (manifests string, want []string)
	cases := map[string]struct {
		setup setup
		code  int
	}{
		"a new group is created, then assigned": {code: 2, setup: func(f *diffFixture) (string, []string) {
			return agentGroupYAML("fresh", "Fresh", []string{"1002", "1001"}, `receiveCall: ["1001"]`), []string{
				`create    AgentGroup team-a/fresh: a new remote group "Fresh"` + "\n" +
					`  add: create group "Fresh"` + "\n" +
					`  submitAssignGroupToAgent: assign 2 members, 1 receiving calls` + "\n" +
					`    members 1001, 1002; receiving calls 1001` + "\n\n" +
					"1 to create, 0 to change, 0 unchanged\n"}
		}},
		"a bound group that matches is not shown": {code: 0, setup: func(f *diffFixture) (string, []string) {
			f.live("team-a", "sales", "Sales", f.group("Sales", "1001"), time.Hour)
			return agentGroupYAML("sales", "Sales", []string{"1001"}), []string{"0 to create, 0 to change, 1 unchanged\n"}
		}},
		"a rename and a disable are one update": {code: 2, setup: func(f *diffFixture) (string, []string) {
			id := f.group("Sales", "1001")
			f.live("team-a", "sales", "Sales", id, time.Hour)
			return agentGroupYAML("sales", "Sales Team", []string{"1001"}, "enabled: false"), []string{
				fmt.Sprintf(`change    AgentGroup team-a/sales: remote group %s "Sales"`, id),
				`  update: rename "Sales" to "Sales Team", disable` + "\n" +
					"  differences:\n" +
					`    name is "Sales" remotely, spec wants "Sales Team"` + "\n" +
					"    group is enabled remotely, spec wants it disabled\n"}
		}},
		"members and receivers added and removed": {code: 2, setup: func(f *diffFixture) (string, []string) {
			f.live("team-a", "sales", "Sales", f.group("Sales", "1001", "1002"), time.Hour)
			return agentGroupYAML("sales", "Sales", []string{"1001", "1003"}, `receiveCall: ["1003"]`), []string{
				"  submitAssignGroupToAgent: members +1 -1, receivers +1 -0\n",
				"    agent 1002 is a member remotely but not in spec\n    agent 1003 is in spec but not a member remotely\n    agent 1003 should receive calls but does not remotely\n",
				"0 to create, 1 to change, 0 unchanged\n"}
		}},
		"a name made by hand is a NameConflict": {code: 1, setup: func(f *diffFixture) (string, []string) {
			id := f.group("Hand Made")
			return agentGroupYAML("hand", "hand made", nil), []string{
				"stall     AgentGroup team-a/hand: NameConflict\n" +
					fmt.Sprintf(`  remote group %s "Hand Made" already exists and was not created by this AgentGroup: set spec.adoptionPolicy: ByName or spec.groupId: "%s" to manage it, or choose another spec.groupName`, id, id) + "\n",
				"0 to create, 0 to change, 0 unchanged, 1 would stall\n"}
		}},
		"adoption by name, then the members": {code: 2, setup: func(f *diffFixture) (string, []string) {
			id := f.group("Hand Made")
			return agentGroupYAML("hand", "Hand Made", []string{"1001"}, "adoptionPolicy: ByName"), []string{
				fmt.Sprintf(`adopt     AgentGroup team-a/hand: remote group %s "Hand Made", taken over by name (adoptionPolicy ByName)`, id),
				"  submitAssignGroupToAgent: members +1 -0, receivers +0 -0\n",
				"0 to create, 0 to change, 0 unchanged, 1 to adopt\n"}
		}},
		"two new manifests with one name: the first in the files wins": {code: 1, setup: func(f *diffFixture) (string, []string) {
			return agentGroupYAML("first", "Ops", nil) + agentGroupYAML("second", "OPS", nil), []string{
				`create    AgentGroup team-a/first: a new remote group "Ops"`,
				"stall     AgentGroup team-a/second: DuplicateGroupName\n" +
					fmt.Sprintf(`  AgentGroup team-a/first already manages the group name "OPS" on remote account %s: give this AgentGroup another spec.groupName`, f.remote)}
		}},
		"a live AgentGroup in another namespace holds the name": {code: 1, setup: func(f *diffFixture) (string, []string) {
			f.live("team-b", "ops", "Ops", f.group("Ops"), time.Hour)
			return agentGroupYAML("ops", "ops", nil), []string{"stall     AgentGroup team-a/ops: DuplicateGroupName\n  AgentGroup team-b/ops already manages"}
		}},
		"spec.groupId held by another AgentGroup is GroupIDInUse": {code: 1, setup: func(f *diffFixture) (string, []string) {
			id := f.group("Front")
			f.live("team-b", "front", "Front", id, time.Hour)
			return agentGroupYAML("front", "Front", nil, fmt.Sprintf("groupId: %q", id)), []string{
				"stall     AgentGroup team-a/front: GroupIDInUse\n" +
					fmt.Sprintf("  remote group %s is managed by AgentGroup team-b/front: this AgentGroup makes no change to it, and deleting it leaves the group alone. Delete one of the two, or give this one another spec.groupId\n", id)}
		}},
		"spec.groupId other than the bound one is GroupIDMismatch": {code: 1, setup: func(f *diffFixture) (string, []string) {
			f.live("team-a", "front", "Front", f.group("Front"), time.Hour)
			return agentGroupYAML("front", "Front", nil, `groupId: "77"`), []string{"stall     AgentGroup team-a/front: GroupIDMismatch\n"}
		}},
		"spec.groupId of no group is RemoteGroupNotFound": {code: 1, setup: func(f *diffFixture) (string, []string) {
			return agentGroupYAML("front", "Front", nil, `groupId: "77"`), []string{
				"stall     AgentGroup team-a/front: RemoteGroupNotFound\n  remote group 77 (spec.groupId) does not exist or is not visible to this account\n"}
		}},
		"a bound group deleted by hand is created again": {code: 2, setup: func(f *diffFixture) (string, []string) {
			f.live("team-a", "sales", "Sales", "77", time.Hour)
			return agentGroupYAML("sales", "Sales", nil), []string{
				`create    AgentGroup team-a/sales: its remote group was deleted outside the operator; a new remote group "Sales"` + "\n  add: create group \"Sales\"\n\n"}
		}},
		"a rename onto another group's name is a NameConflict": {code: 1, setup: func(f *diffFixture) (string, []string) {
			id := f.group("Sales")
			other := f.group("Support")
			f.live("team-a", "sales", "Sales", id, time.Hour)
			return agentGroupYAML("sales", "Support", nil), []string{
				fmt.Sprintf("stall     AgentGroup team-a/sales: NameConflict\n  cannot rename remote group %s to \"Support\": remote group %s already has that name; choose another spec.groupName\n", id, other)}
		}},
		"a binding in another remote account is AccountChanged": {code: 1, setup: func(f *diffFixture) (string, []string) {
			f.live("team-a", "sales", "Sales", "5", time.Hour, func(g *deepcallv1.AgentGroup) { g.Status.RemoteAccount = "u9@elsewhere" })
			return agentGroupYAML("sales", "Sales", nil), []string{
				fmt.Sprintf("stall     AgentGroup team-a/sales: AccountChanged\n  remote group 5 belongs to remote account u9@elsewhere, but Account default now resolves to %s:", f.remote)}
		}},
		"Observe reports drift and writes nothing": {code: 0, setup: func(f *diffFixture) (string, []string) {
			id := f.group("Watched", "1001", "1002")
			f.live("team-a", "watched", "Watched", id, time.Hour)
			return agentGroupYAML("watched", "Watched", []string{"1001"}, "managementPolicy: Observe"), []string{
				fmt.Sprintf("observe   AgentGroup team-a/watched: remote group %s \"Watched\"; managementPolicy Observe writes nothing\n  drift it would report:\n    agent 1002 is a member remotely but not in spec\n", id),
				"0 to create, 0 to change, 0 unchanged, 1 observed with drift\n"}
		}},
		"Observe of a name no group has": {code: 0, setup: func(f *diffFixture) (string, []string) {
			return agentGroupYAML("watched", "Watched", nil, "managementPolicy: Observe"), []string{
				"observe   AgentGroup team-a/watched: no remote group named \"Watched\" exists; managementPolicy Observe never creates one\n"}
		}},
		"suspended makes no call": {code: 0, setup: func(f *diffFixture) (string, []string) {
			return agentGroupYAML("paused", "Paused", []string{"1001"}, "suspend: true"), []string{
				"suspended AgentGroup team-a/paused: spec.suspend is true: no remote calls are made\n",
				"0 to create, 0 to change, 0 unchanged, 1 suspended\n"}
		}},
		"a ClusterAccount not lent to the namespace is AccountNotAllowed": {code: 1, setup: func(f *diffFixture) (string, []string) {
			f.clusterAccount()
			return agentGroupYAML("borrowed", "Borrowed", nil, "accountRef: {kind: ClusterAccount, name: shared}"), []string{
				"stall     AgentGroup team-a/borrowed: AccountNotAllowed\n" +
					`  ClusterAccount "shared" does not allow namespace team-a: its spec.allowedNamespaces does not select the namespace's labels (ask the platform team that owns it)` + "\n",
				"0 to create, 0 to change, 0 unchanged, 1 would stall\n"}
		}},
		"a ClusterAccount lent to the namespace by the manifests' Namespace": {code: 2, setup: func(f *diffFixture) (string, []string) {
			f.clusterAccount()
			return "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a, labels: {tenant: \"yes\"}}\n---\n" +
					agentGroupYAML("borrowed", "Borrowed", nil, "accountRef: {kind: ClusterAccount, name: shared}"), []string{
					`create    AgentGroup team-a/borrowed: a new remote group "Borrowed"`}
		}},
		"an AgentGroup whose ClusterAccount is not lent to its namespace holds no name": {code: 2, setup: func(f *diffFixture) (string, []string) {
			f.clusterAccount()
			f.live("team-c", "ops", "Ops", "", time.Hour, func(g *deepcallv1.AgentGroup) {
				g.Spec.AccountRef = deepcallv1.AccountReference{Kind: deepcallv1.KindClusterAccount, Name: "shared"}
			})
			return agentGroupYAML("ops", "Ops", nil), []string{`create    AgentGroup team-a/ops: a new remote group "Ops"`}
		}},
		"an AgentGroup of a ClusterAccount lent to its namespace holds the name": {code: 1, setup: func(f *diffFixture) (string, []string) {
			f.clusterAccount()
			f.live("team-b", "ops", "Ops", "", time.Hour, func(g *deepcallv1.AgentGroup) {
				g.Spec.AccountRef = deepcallv1.AccountReference{Kind: deepcallv1.KindClusterAccount, Name: "shared"}
			})
			return agentGroupYAML("ops", "Ops", nil), []string{"stall     AgentGroup team-a/ops: DuplicateGroupName\n  AgentGroup team-b/ops already manages"}
		}},
		"an unreadable create intent is the operator's error": {code: 1, setup: func(f *diffFixture) (string, []string) {
			f.live("team-a", "sales", "Sales", "", time.Hour, func(g *deepcallv1.AgentGroup) {
				g.Annotations = map[string]string{deepcallv1.AnnotationCreateIntent: "{"}
			})
			return agentGroupYAML("sales", "Sales", nil), []string{
				"error     AgentGroup team-a/sales: annotation deepcall.agentgroups.dev/create-intent is not a create intent (unexpected end of JSON input): an add may have been sent; restore it, or remove it once sure no remote group was made for this AgentGroup\n"}
		}},
		"a fact of the status the operator cannot read is StatusUnreadable": {code: 1, setup: func(f *diffFixture) (string, []string) {
			f.live("team-a", "sales", "Sales", "", time.Hour)
			f.unreadable = map[string]map[string]string{"sales": {"pendingCreate": "startedAt: json: cannot unmarshal number into Go value of type string"}}
			return agentGroupYAML("sales", "Sales", nil), []string{
				"stall     AgentGroup team-a/sales: StatusUnreadable\n  this version of the operator cannot read status.pendingCreate (startedAt: json: cannot unmarshal number"}
		}},
		"a status field a pass finds again is no reason to stall": {code: 2, setup: func(f *diffFixture) (string, []string) {
			id := f.group("Sales", "1001")
			f.live("team-a", "sales", "Sales", id, time.Hour)
			f.unreadable = map[string]map[string]string{"sales": {"lastSyncTime": "parsing time"}}
			return agentGroupYAML("sales", "Sales", []string{"1002"}), []string{fmt.Sprintf(`change    AgentGroup team-a/sales: remote group %s "Sales"`, id)}
		}},
		"a missing Account fails that group only": {code: 1, setup: func(f *diffFixture) (string, []string) {
			return agentGroupYAML("lost", "Lost", nil, "accountRef: {name: other}") + agentGroupYAML("fresh", "Fresh", nil), []string{
				"error     AgentGroup team-a/lost: Account \"other\" in namespace team-a not found\n",
				"create    AgentGroup team-a/fresh",
				"1 to create, 0 to change, 0 unchanged, 1 failed\n"}
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newDiffFixture(t)
			manifests, want := tc.setup(f)
			out, _, code := f.diff(manifests)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

func TestDiffWithoutClusterWideList(t *testing.T) {
	f := newDiffFixture(t)
	f.forbidAllNamespaces = true
	f.live("team-b", "ops", "Ops", f.group("Ops"), time.Hour) // not seen
	out, errOut, code := f.diff(agentGroupYAML("ops", "Ops", nil, "adoptionPolicy: ByName"))
	if code != 2 || !strings.Contains(out, "adopt     AgentGroup team-a/ops") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
	if want := "note: you may not list AgentGroups in all namespaces; names and group ids other AgentGroups hold are looked for only in namespace team-a\n"; errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
}

// Without the right to read namespaces, whether a ClusterAccount lends
// itself is not judged, and a note says so.
func TestDiffWithoutNamespaces(t *testing.T) {
	f := newDiffFixture(t)
	f.forbidNamespaces = true
	f.clusterAccount()
	out, errOut, code := f.diff(agentGroupYAML("borrowed", "Borrowed", nil, "accountRef: {kind: ClusterAccount, name: shared}"))
	if code != 2 || !strings.Contains(out, `create    AgentGroup team-a/borrowed: a new remote group "Borrowed"`) {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
	if want := "note: you may not get namespaces; whether a ClusterAccount's spec.allowedNamespaces lends it to a namespace is not checked\n"; errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
}

// The account field names the account the same way whether it was read
// or not.
func TestDiffJSONNamesTheAccount(t *testing.T) {
	f := newDiffFixture(t)
	f.clusterAccount()
	out, _, _ := f.diff(agentGroupYAML("lost", "Lost", nil, "accountRef: {name: other}")+agentGroupYAML("fresh", "Fresh", nil)+
		agentGroupYAML("borrowed", "Borrowed", nil, "accountRef: {kind: ClusterAccount, name: shared}")+
		agentGroupYAML("gone", "Gone", nil, "accountRef: {kind: ClusterAccount, name: gone}"), "json")
	var doc struct {
		Groups []struct{ Name, Result, Account string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var got []string
	for _, g := range doc.Groups {
		got = append(got, g.Name+" "+g.Result+" "+g.Account)
	}
	want := "[lost Error Account team-a/other fresh Create Account team-a/default borrowed Stall ClusterAccount shared gone Error ClusterAccount gone]"
	if fmt.Sprint(got) != want {
		t.Errorf("groups %v, want %s", got, want)
	}
}

func TestDiffJSON(t *testing.T) {
	f := newDiffFixture(t)
	id := f.group("Sales", "1001", "1002")
	f.live("team-a", "sales", "Sales", id, time.Hour)
	hand := f.group("Hand Made")
	out, _, code := f.diff(agentGroupYAML("sales", "Sales", []string{"1001"})+agentGroupYAML("fresh", "Fresh", nil, "enabled: false")+
		agentGroupYAML("hand", "Hand Made", nil)+"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "json")
	if code != 1 {
		t.Errorf("exit %d, want 1 (a stall)", code)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	want := fmt.Sprintf(`{
  "groups": [
    {
      "namespace": "team-a",
      "name": "sales",
      "result": "Change",
      "account": "Account team-a/default",
      "remoteAccount": %[1]q,
      "groupName": "Sales",
      "groupId": %[2]q,
      "remoteName": "Sales",
      "actions": [
        {
          "call": "submitAssignGroupToAgent",
          "groupId": %[2]q,
          "members": [
            "1001"
          ],
          "receivers": [],
          "description": "members +0 -1, receivers +0 -0"
        }
      ],
      "drift": [
        "agent 1002 is a member remotely but not in spec"
      ]
    },
    {
      "namespace": "team-a",
      "name": "fresh",
      "result": "Create",
      "account": "Account team-a/default",
      "remoteAccount": %[1]q,
      "groupName": "Fresh",
      "actions": [
        {
          "call": "add",
          "name": "Fresh",
          "description": "create group \"Fresh\""
        },
        {
          "call": "update",
          "name": "Fresh",
          "enabled": false,
          "description": "disable the new group"
        }
      ],
      "drift": [
        "group does not exist remotely"
      ]
    },
    {
      "namespace": "team-a",
      "name": "hand",
      "result": "Stall",
      "account": "Account team-a/default",
      "remoteAccount": %[1]q,
      "groupName": "Hand Made",
      "actions": [],
      "drift": [],
      "reason": "NameConflict",
      "message": "remote group %[3]s \"Hand Made\" already exists and was not created by this AgentGroup: set spec.adoptionPolicy: ByName or spec.groupId: \"%[3]s\" to manage it, or choose another spec.groupName"
    }
  ],
  "summary": {
    "create": 1,
    "change": 1,
    "adopt": 0,
    "unchanged": 0,
    "observe": 0,
    "suspended": 0,
    "stall": 1,
    "error": 0
  },
  "ignored": 1
}
`, f.remote, id, hand)
	if out != want {
		t.Errorf("diff -o json:\n%s\nwant:\n%s", out, want)
	}
}
