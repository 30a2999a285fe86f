package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// TestLoadTree: which accounts tree shows for each way of naming one, and
// which AgentGroups go under each, as "Kind ns/name: groups".
func TestLoadTree(t *testing.T) {
	account := func(ns, name string) client.Object {
		return &deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	clusterAccount := func(name string) client.Object {
		return &deepcallv1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	group := func(ns, name string, ref deepcallv1.AccountReference) client.Object {
		return &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: deepcallv1.AgentGroupSpec{AccountRef: ref}}
	}
	def := deepcallv1.AccountReference{}
	named := func(name string) deepcallv1.AccountReference { return deepcallv1.AccountReference{Name: name} }
	cluster := func(name string) deepcallv1.AccountReference {
		return deepcallv1.AccountReference{Kind: deepcallv1.KindClusterAccount, Name: name}
	}
	objects := []client.Object{
		account("a", "default"), account("b", "default"), account("a", "shared"),
		clusterAccount("shared"), clusterAccount("platform"), clusterAccount("unused"),
		group("a", "one", def), group("a", "two", named("default")), group("a", "three", cluster("shared")),
		group("a", "four", named("ghost")), group("a", "five", cluster("platform")),
		group("b", "six", def), group("b", "seven", cluster("shared")), group("b", "eight", cluster("gone")),
	}
	inA, all := treeScope{Namespace: "a"}, treeScope{AllNamespaces: true}
	cases := map[string]struct {
		scope   treeScope
		arg     string
		want    []string
		wantErr string
	}{
		"the namespace": {scope: inA, want: []string{
			"Account a/default: one two", "Account a/shared: -", "ClusterAccount platform: five", "ClusterAccount shared: three", "(missing) Account a/ghost: four",
		}},
		"every namespace": {scope: all, want: []string{
			"Account a/default: one two", "Account a/shared: -", "Account b/default: six",
			"ClusterAccount platform: five", "ClusterAccount shared: three seven", "ClusterAccount unused: -",
			"(missing) Account a/ghost: four", "(missing) ClusterAccount gone: eight",
		}},
		"a name: the Account first": {scope: inA, arg: "shared", want: []string{"Account a/shared: -"}},
		"account/NAME":              {scope: inA, arg: "account/default", want: []string{"Account a/default: one two"}},
		"an Account name everywhere": {scope: all, arg: "default", want: []string{
			"Account a/default: one two", "Account b/default: six",
		}},
		"no Account: the ClusterAccount":     {scope: inA, arg: "platform", want: []string{"ClusterAccount platform: five"}},
		"clusteraccount/NAME in a namespace": {scope: inA, arg: "clusteraccount/shared", want: []string{"ClusterAccount shared: three"}},
		"clusteraccount/NAME everywhere":     {scope: all, arg: "ClusterAccount/shared", want: []string{"ClusterAccount shared: three seven"}},
		"a missing Account its groups name":  {scope: inA, arg: "ghost", want: []string{"(missing) Account a/ghost: four"}},
		"a missing ClusterAccount":           {scope: all, arg: "clusteraccount/gone", want: []string{"(missing) ClusterAccount gone: eight"}},
		"no such account":                    {scope: inA, arg: "nothing", wantErr: `no Account or ClusterAccount named "nothing" in namespace a`},
		"no such Account":                    {scope: inA, arg: "account/platform", wantErr: `Account "platform" not found in namespace a`},
		"not an account":                     {scope: inA, arg: "secret/x", wantErr: `"secret/x": name an Account as NAME, account/NAME or clusteraccount/NAME`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			nodes, err := loadTree(context.Background(), fakeClient(t, objects...), tc.scope, tc.arg)
			if tc.wantErr != "" || err != nil {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			var got []string
			for _, n := range nodes {
				who := n.Kind + " " + strings.TrimPrefix(n.Key.String(), "/")
				if n.Account == nil {
					who = "(missing) " + who
				}
				groups := []string{"-"}
				if len(n.Groups) > 0 {
					groups = nil
				}
				for _, g := range n.Groups {
					groups = append(groups, g.Name)
				}
				got = append(got, fmt.Sprintf("%s: %s", who, strings.Join(groups, " ")))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("accounts shown (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLoadTreeWithoutAccountRights: a person who may list AgentGroups but
// not read Accounts or ClusterAccounts (the aggregated view role) still
// sees every group, under accounts that say why they are not shown.
func TestLoadTreeWithoutAccountRights(t *testing.T) {
	forbidden := func(kind string) error {
		return apierrors.NewForbidden(schema.GroupResource{Group: deepcallv1.GroupVersion.Group, Resource: kind}, "", errors.New("RBAC"))
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "default"}},
		&deepcallv1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: "shared"}},
		&deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "one"}},
		&deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "two"},
			Spec: deepcallv1.AgentGroupSpec{AccountRef: deepcallv1.AccountReference{Kind: deepcallv1.KindClusterAccount, Name: "shared"}}},
	).WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			switch list.(type) {
			case *deepcallv1.AccountList:
				return forbidden("accounts")
			case *deepcallv1.ClusterAccountList:
				return forbidden("clusteraccounts")
			}
			return c.List(ctx, list, opts...)
		},
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*deepcallv1.ClusterAccount); ok {
				return forbidden("clusteraccounts")
			}
			return c.Get(ctx, key, obj, opts...)
		},
	}).Build()
	for _, tc := range []struct {
		scope treeScope
		arg   string
	}{{scope: treeScope{Namespace: "a"}}, {scope: treeScope{AllNamespaces: true}}} {
		nodes, err := loadTree(context.Background(), c, tc.scope, tc.arg)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if err := renderTree(&out, nodes, treeNow, treeStyle{Width: treeWidth}); err != nil {
			t.Fatal(err)
		}
		want := `(unreadable) Account/default in a: your kubeconfig may not read Accounts (list accounts)
NAME     READY     REASON   DRIFT   LAST SYNC   GROUP ID
└─ one   Unknown   -        -       -           -

(unreadable) ClusterAccount/shared: your kubeconfig may not read it (get clusteraccounts)
NAME       READY     REASON   DRIFT   LAST SYNC   GROUP ID
└─ a/two   Unknown   -        -       -           -
`
		if diff := cmp.Diff(want, out.String()); diff != "" {
			t.Errorf("tree in %s (-want +got):\n%s", tc.scope, diff)
		}
	}
	nodes, err := loadTree(context.Background(), c, treeScope{Namespace: "a"}, "default")
	if err != nil || len(nodes) != 1 || nodes[0].Problem == "" || len(nodes[0].Groups) != 1 {
		t.Errorf("tree default: %+v, %v; want the unreadable Account with its group", nodes, err)
	}
}
