package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

const (
	importUser  = "u1"
	importToken = "import-test-token-7f3a"
)

// importWorld is a simulator account with five groups made by hand, and a
// cluster (a fake client) with its Account, a ClusterAccount on the same
// credentials lent to the namespaces labelled tenant=yes (team-x and
// team-y), and AgentGroups managing some of the groups:
//
//	1 "Sales Team"   members 1001 1002, 1001 receives  managed by team-a/sales (same Account)
//	2 "sales team 1" disabled, empty
//	3 "客服 Desk"    members 2 10 1000, 2 receives
//	4 "Support"                                        managed by team-b/support (same remote account)
//	5 "Night Shift"                                    bound by team-c/night on another remote account
type importWorld struct {
	sim *sim.Server
	// remote is the remote account the Account in team-a resolves to.
	remote string
	objs   []client.Object
}

func newImportWorld(t *testing.T) *importWorld {
	t.Helper()
	s := sim.New(sim.Options{})
	s.AddUser(sim.User{ID: importUser, Token: importToken, Agents: sim.AgentRange(1, 2000)})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	for _, g := range []struct {
		name      string
		disabled  bool
		members   []string
		receivers []string
	}{
		{name: "Sales Team", members: []string{"1002", "1001"}, receivers: []string{"1001"}},
		{name: "sales team", disabled: true},
		{name: "客服 Desk", members: []string{"1000", "10", "2"}, receivers: []string{"2"}},
		{name: "Support"},
		{name: "Night Shift"},
	} {
		id, err := s.CreateGroup(importUser, g.name)
		if err != nil {
			t.Fatal(err)
		}
		if g.disabled {
			off := 0
			_ = s.UpdateGroup(importUser, id, nil, &off)
		}
		if err := s.SetMembers(importUser, id, g.members, g.receivers); err != nil {
			t.Fatal(err)
		}
	}
	spec := deepcallv1.AccountSpec{BaseURL: srv.URL, CredentialsSecretRef: deepcallv1.SecretReference{Name: "creds"}, RequestsPerSecond: 100, Burst: 100}
	clusterSpec := spec
	clusterSpec.CredentialsSecretRef.Namespace = "platform"
	remote := accounts.RemoteAccount{Host: accounts.HostOf(srv.URL), User: importUser}.String()
	tenant := func(ns string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"tenant": "yes"}}}
	}
	secret := func(ns string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: ns},
			Data: map[string][]byte{"userId": []byte(importUser), "token": []byte(importToken)}}
	}
	bound := func(ns, name, id, remote string, ref deepcallv1.AccountReference) *deepcallv1.AgentGroup {
		return &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:   deepcallv1.AgentGroupSpec{AccountRef: ref},
			Status: deepcallv1.AgentGroupStatus{GroupID: id, RemoteAccount: remote}}
	}
	return &importWorld{sim: s, remote: remote, objs: []client.Object{
		secret("team-a"), secret("platform"), tenant("team-x"), tenant("team-y"),
		&deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "team-a"}, Spec: spec,
			Status: deepcallv1.AccountStatus{RemoteAccount: remote}},
		&deepcallv1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Spec: deepcallv1.ClusterAccountSpec{AccountSpec: clusterSpec,
			AllowedNamespaces: &metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "yes"}}}},
		bound("team-a", "sales", "1", "", deepcallv1.AccountReference{Name: "default"}),
		bound("team-b", "support", "4", remote, deepcallv1.AccountReference{Name: "default"}),
		bound("team-c", "night", "5", "u9@127.0.0.1", deepcallv1.AccountReference{Name: "default"}),
	}}
}

// run runs import with args for namespace ns, as `kubectl agentgroup`
// does once it has a cluster client, and returns its output and the
// remote calls it made.
func (w *importWorld) run(t *testing.T, ns string, c client.Client, args ...string) (stdout, stderr string, err error, calls map[string]int) {
	t.Helper()
	if c == nil {
		c = fake.NewClientBuilder().WithScheme(scheme).WithObjects(w.objs...).Build()
	}
	var out, errOut bytes.Buffer
	f := &Factory{Flags: genericclioptions.NewConfigFlags(true), AllowInsecureLoopback: true,
		Streams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}}
	o := &importOptions{output: "yaml"}
	fl := pflag.NewFlagSet("import", pflag.ContinueOnError)
	o.addFlags(fl)
	if err := fl.Parse(args); err != nil {
		t.Fatal(err)
	}
	w.sim.ResetCalls()
	err = o.importInto(context.Background(), f, c, ns)
	if strings.Contains(out.String()+errOut.String(), importToken) {
		t.Errorf("the token is in import's output")
	}
	return out.String(), errOut.String(), err, w.sim.Calls()
}

func TestImportWritesTheGroupsNoAgentGroupManages(t *testing.T) {
	w := newImportWorld(t)
	stdout, stderr, err, calls := w.run(t, "team-a", nil, "--account", "default")
	if err != nil {
		t.Fatal(err)
	}
	const want = `apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata:
  name: sales-team-1-2
  namespace: team-a
spec:
  accountRef:
    name: default
  deletionPolicy: Orphan
  enabled: false
  groupId: "2"
  groupName: sales team 1
  managementPolicy: Observe
---
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata:
  name: desk-3
  namespace: team-a
spec:
  accountRef:
    name: default
  deletionPolicy: Orphan
  enabled: true
  groupId: "3"
  groupName: 客服 Desk
  managementPolicy: Observe
  members:
  - "2"
  - "10"
  - "1000"
  receiveCall:
  - "2"
---
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata:
  name: night-shift-5
  namespace: team-a
spec:
  accountRef:
    name: default
  deletionPolicy: Orphan
  enabled: true
  groupId: "5"
  groupName: Night Shift
  managementPolicy: Observe
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	const wantErr = `3 AgentGroups written for 3 of the 5 groups of Account team-a/default (managementPolicy Observe, deletionPolicy Orphan: they never change or delete a remote group).
2 groups skipped because AgentGroups already manage them: team-a/sales (group 1), team-b/support (group 4). --all writes them too.
Next: save the output to a file and kubectl apply -f it.
`
	if diff := cmp.Diff(wantErr, stderr); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"list": 1, "getGroupAgentRelation": 3}, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestImportAllManageAsAJSONList(t *testing.T) {
	w := newImportWorld(t)
	stdout, _, err, calls := w.run(t, "team-a", nil, "--account", "default", "--all", "--manage", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Items      []deepcallv1.AgentGroup
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	var got []string
	for _, g := range list.Items {
		got = append(got, g.Name+" "+g.Spec.GroupID+" "+string(g.Spec.ManagementPolicy)+" "+string(g.Spec.DeletionPolicy))
	}
	// Group 1 keeps the name of team-a/sales, which holds it; group 4's
	// AgentGroup is in another namespace.
	want := []string{"sales 1 Manage Delete", "sales-team-1-2 2 Manage Delete", "desk-3 3 Manage Delete", "support-4 4 Manage Delete", "night-shift-5 5 Manage Delete"}
	if list.APIVersion != "v1" || list.Kind != "List" {
		t.Errorf("a %s %s, want a v1 List", list.APIVersion, list.Kind)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"list": 1, "getGroupAgentRelation": 5}, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestImportIntoADirectory(t *testing.T) {
	w := newImportWorld(t)
	stream, _, err, _ := w.run(t, "team-a", nil, "--account", "default")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "new", "groups")
	stdout, stderr, err, _ := w.run(t, "team-a", nil, "--account", "default", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing: the manifests are in files", stdout)
	}
	var docs []string
	for i, name := range []string{"sales-team-1-2", "desk-3", "night-shift-5"} {
		file := filepath.Join(dir, name+".yaml")
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
		if line := strings.Split(stderr, "\n")[i]; line != "wrote "+file {
			t.Errorf("stderr line %d: %q, want %q", i+1, line, "wrote "+file)
		}
	}
	if diff := cmp.Diff(stream, strings.Join(docs, "---\n")); diff != "" {
		t.Errorf("the files are not the documents of the stream (-stream +files):\n%s", diff)
	}
	if !strings.HasSuffix(stderr, "Next: kubectl apply -f "+dir+"\n") {
		t.Errorf("stderr does not end with the next step:\n%s", stderr)
	}
}

func TestImportFromAClusterAccount(t *testing.T) {
	w := newImportWorld(t)
	// The ClusterAccount's remote account is not recorded yet: import
	// learns it from the listing. Group 5 is managed by an AgentGroup of
	// a namespace it lends itself to; group 1 by one whose Account is on
	// the same remote account, group 4 by one that recorded it.
	w.objs = append(w.objs, &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Name: "night", Namespace: "team-y"},
		Spec: deepcallv1.AgentGroupSpec{AccountRef: deepcallv1.AccountReference{Kind: deepcallv1.KindClusterAccount, Name: "shared"}, GroupID: "5"}})
	stdout, stderr, err, _ := w.run(t, "team-x", nil, "--cluster-account", "shared")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, doc := range strings.Split(stdout, "---\n") {
		var g deepcallv1.AgentGroup
		if err := yaml.Unmarshal([]byte(doc), &g); err != nil {
			t.Fatal(err)
		}
		got = append(got, g.Namespace+"/"+g.Name+" "+g.Spec.AccountRef.Kind+" "+g.Spec.AccountRef.Name)
	}
	want := []string{"team-x/sales-team-1-2 ClusterAccount shared", "team-x/desk-3 ClusterAccount shared"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AgentGroups (-want +got):\n%s", diff)
	}
	if !strings.Contains(stderr, "of ClusterAccount shared") || !strings.Contains(stderr, "team-a/sales (group 1), team-b/support (group 4), team-y/night (group 5)") {
		t.Errorf("stderr does not name the ClusterAccount and the AgentGroups that manage groups 1, 4 and 5:\n%s", stderr)
	}

	// A namespace the ClusterAccount does not lend itself to: the
	// manifests are written, with a note that they would stall.
	_, stderr, err, _ = w.run(t, "team-z", nil, "--cluster-account", "shared")
	want2 := `note: ClusterAccount "shared" does not allow namespace team-z: its spec.allowedNamespaces does not select the namespace's labels (ask the platform team that owns it): applied, the AgentGroups would stall with AccountNotAllowed` + "\n"
	if err != nil || !strings.HasPrefix(stderr, want2) {
		t.Errorf("import into a namespace the ClusterAccount does not lend to: %v, stderr:\n%s\nwant it to start with:\n%s", err, stderr, want2)
	}
}

// An AgentGroup of another namespace whose Account is on the same remote
// account holds its group even before it is bound: written again, the
// group would be GroupIDInUse.
func TestImportSkipsAGroupAnotherAccountOnTheSameRemoteNames(t *testing.T) {
	w := newImportWorld(t)
	w.objs = append(w.objs,
		&deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "team-d"}, Status: deepcallv1.AccountStatus{RemoteAccount: w.remote}},
		&deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Name: "desk", Namespace: "team-d"}, Spec: deepcallv1.AgentGroupSpec{GroupID: "3"}})
	stdout, stderr, err, _ := w.run(t, "team-a", nil, "--account", "default")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, `groupId: "3"`) || !strings.Contains(stderr, "team-d/desk (group 3)") {
		t.Errorf("group 3, named by team-d/desk, written or not reported as managed:\n%s%s", stdout, stderr)
	}
}

// A name import would give a group that another AgentGroup of the
// namespace already has is refused: applied, it would rebind that
// AgentGroup.
func TestImportRefusesANameTaken(t *testing.T) {
	w := newImportWorld(t)
	w.objs = append(w.objs, &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Name: "desk-3", Namespace: "team-a"}, Spec: deepcallv1.AgentGroupSpec{GroupName: "Desk"}})
	stdout, stderr, err, _ := w.run(t, "team-a", nil, "--account", "default")
	if err == nil || err.Error() != "1 group of Account team-a/default cannot be AgentGroups as they are (listed above)" {
		t.Errorf("error %v, want one saying a group cannot be imported", err)
	}
	want := `not imported: group 3 "客服 Desk": AgentGroup team-a/desk-3, which does not manage this group, has the name import gives it: rename that AgentGroup, or import into another namespace` + "\n"
	if !strings.HasPrefix(stderr, want) || strings.Contains(stdout, "name: desk-3") {
		t.Errorf("stderr:\n%s\nwant it to start with:\n%s", stderr, want)
	}
}

func TestImportWhenAgentGroupsMayNotBeListedClusterWide(t *testing.T) {
	w := newImportWorld(t)
	c := interceptor.NewClient(fake.NewClientBuilder().WithScheme(scheme).WithObjects(w.objs...).Build(), interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if (&client.ListOptions{}).ApplyOptions(opts).Namespace == "" {
				return apierrors.NewForbidden(schema.GroupResource{Group: deepcallv1.GroupVersion.Group, Resource: "agentgroups"}, "", nil)
			}
			return c.List(ctx, list, opts...)
		},
	})
	stdout, stderr, err, _ := w.run(t, "team-a", c, "--account", "default")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stderr, "note: you may not list AgentGroups in all namespaces; groups AgentGroups already manage are looked for only in namespace team-a\n") {
		t.Errorf("stderr does not start with the note:\n%s", stderr)
	}
	if !strings.Contains(stdout, "name: support-4\n") || strings.Contains(stdout, "name: sales-team-1\n") {
		t.Errorf("want group 4 (managed in team-b, unseen) imported and group 1 (managed in team-a) skipped:\n%s", stdout)
	}
}

func TestImportNamesWhatTheCRDWouldRefuse(t *testing.T) {
	w := newImportWorld(t)
	for _, name := range []string{"Line\nBreak", strings.Repeat("x", 101), " Padded"} {
		if _, err := w.sim.CreateGroup(importUser, name); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, err, _ := w.run(t, "team-a", nil, "--account", "default")
	if err == nil || err.Error() != "2 groups of Account team-a/default cannot be AgentGroups as they are (listed above)" {
		t.Errorf("error %v, want one saying 2 groups cannot be imported", err)
	}
	for _, want := range []string{
		`not imported: group 6 "Line\nBreak": spec.groupName "Line\nBreak" starts or ends with a space or holds a line break; the CRD's rule is ^\S(.*\S)?$; change it in DeepCall and import again`,
		`not imported: group 7 "` + strings.Repeat("x", 101) + `": spec.groupName is 101 characters long; the CRD allows at most 100; change it in DeepCall and import again`,
	} {
		if !strings.Contains(stderr, want+"\n") {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stderr, "\n4 AgentGroups written for 4 of the 8 groups") {
		t.Errorf("stderr does not count 4 written of 8:\n%s", stderr)
	}
	if got := strings.Count(stdout, "kind: AgentGroup\n"); got != 4 {
		t.Errorf("%d manifests, want the 4 importable ones", got)
	}
	// The client reads names trimmed, as the operator does: " Padded" is
	// "Padded" to both, and imported so.
	if !strings.Contains(stdout, "  name: padded-8\n") || !strings.Contains(stdout, "  groupName: Padded\n") {
		t.Errorf("group 8 \" Padded\" not imported as Padded:\n%s", stdout)
	}
}

func TestImportSkipsAGroupDeletedSinceTheList(t *testing.T) {
	w := newImportWorld(t)
	w.sim.Fail(sim.FailRule{Op: "getGroupAgentRelation", N: 1, Code: 1503, GroupID: "3"})
	stdout, stderr, err, _ := w.run(t, "team-a", nil, "--account", "default")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, "groupId: \"3\"") || !strings.Contains(stderr, "not imported: 1 group deleted since the account was listed: 3\n") {
		t.Errorf("group 3 (1503) written or not reported:\n%s%s", stdout, stderr)
	}
}

func TestImportWithNothingLeft(t *testing.T) {
	w := newImportWorld(t)
	for i, id := range []string{"2", "3", "5"} {
		w.objs = append(w.objs, &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Name: "g" + id, Namespace: "team-a"},
			Spec: deepcallv1.AgentGroupSpec{GroupID: id}, Status: deepcallv1.AgentGroupStatus{GroupID: []string{"", id, id}[i], RemoteAccount: w.remote}})
	}
	stdout, stderr, err, calls := w.run(t, "team-a", nil, "--account", "default")
	if err != nil {
		t.Fatal(err)
	}
	want := "Nothing to import: AgentGroups already manage all 5 groups of Account team-a/default: team-a/sales (group 1), team-a/g2 (group 2), team-a/g3 (group 3), and 2 more. --all writes them anyway.\n"
	if stdout != "" || stderr != want {
		t.Errorf("stdout %q, stderr:\n%s\nwant no manifest and:\n%s", stdout, stderr, want)
	}
	if diff := cmp.Diff(map[string]int{"list": 1}, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// Bad flags are refused before the cluster is read.
func TestImportFlags(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string
	}{
		"no account":    {args: []string{"import"}, want: "error: name the account to import: --account NAME (an Account in the namespace) or --cluster-account NAME\n"},
		"two accounts":  {args: []string{"import", "--account", "a", "--cluster-account", "b"}, want: "error: --account and --cluster-account name two accounts: give one\n"},
		"output format": {args: []string{"import", "--account", "a", "-o", "wide"}, want: "error: --output \"wide\": import writes yaml or json\n"},
		"arguments":     {args: []string{"import", "sales"}, want: "error: unknown command \"sales\" for \"kubectl agentgroup import\"\n"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(append(tc.args, "--kubeconfig", filepath.Join(t.TempDir(), "none")), genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			if code != ExitError || errOut.String() != tc.want || out.Len() != 0 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out.String(), errOut.String(), tc.want)
			}
		})
	}
}

func TestImportWhenTheAccountIsMissing(t *testing.T) {
	w := newImportWorld(t)
	_, _, err, calls := w.run(t, "team-z", nil, "--account", "default")
	if err == nil || err.Error() != `Account "default" in namespace team-z not found` {
		t.Errorf("error %v, want the Account not found", err)
	}
	if len(calls) != 0 {
		t.Errorf("calls %v, want none", calls)
	}
}
