package plugin

import (
	"bytes"
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// One rule for diff and import: is an AgentGroup on this remote account?
func TestOnRemoteOf(t *testing.T) {
	const here, elsewhere = "u1@h", "u2@h"
	account := func(ns, name, remote string) *deepcallv1.Account {
		return &deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Status: deepcallv1.AccountStatus{RemoteAccount: remote}}
	}
	namespace := func(name string, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	objs := []client.Object{
		account("team-a", "default", here), account("team-b", "default", here), account("team-c", "default", elsewhere),
		account("team-d", "default", ""), account("team-e", "fresh", ""),
		&deepcallv1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Status: deepcallv1.AccountStatus{RemoteAccount: here},
			Spec: deepcallv1.ClusterAccountSpec{AllowedNamespaces: &metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "yes"}}}},
		&deepcallv1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: "unresolved"},
			Spec: deepcallv1.ClusterAccountSpec{AllowedNamespaces: &metav1.LabelSelector{MatchLabels: map[string]string{"tenant": "yes"}}}},
		namespace("lent", map[string]string{"tenant": "yes"}), namespace("unlent", nil),
	}
	byAccount := deepcallv1.AccountReference{Name: "default"}
	byCluster := func(name string) deepcallv1.AccountReference {
		return deepcallv1.AccountReference{Kind: deepcallv1.KindClusterAccount, Name: name}
	}
	group := func(ns string, ref deepcallv1.AccountReference, remote string) *deepcallv1.AgentGroup {
		return &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "g"},
			Spec: deepcallv1.AgentGroupSpec{AccountRef: ref, GroupID: "7"}, Status: deepcallv1.AgentGroupStatus{RemoteAccount: remote}}
	}
	teamA := types.NamespacedName{Namespace: "team-a", Name: "default"}
	cases := map[string]struct {
		group   *deepcallv1.AgentGroup
		account types.NamespacedName
		want    bool
	}{
		"both recorded, same":                                   {group: group("team-c", byAccount, here), account: teamA, want: true},
		"both recorded, other, same Account":                    {group: group("team-a", byAccount, elsewhere), account: teamA},
		"not bound yet, same Account":                           {group: group("team-a", byAccount, ""), account: teamA, want: true},
		"not bound yet, another Account on the same remote":     {group: group("team-b", byAccount, ""), account: teamA, want: true},
		"not bound yet, another Account on another remote":      {group: group("team-c", byAccount, ""), account: teamA},
		"not bound yet, another Account not resolved yet":       {group: group("team-d", byAccount, ""), account: teamA},
		"not bound yet, an Account that does not exist":         {group: group("team-z", byAccount, ""), account: teamA},
		"not bound yet, a ClusterAccount lent to it":            {group: group("lent", byCluster("shared"), ""), account: teamA, want: true},
		"not bound yet, a ClusterAccount not lent to it":        {group: group("unlent", byCluster("shared"), ""), account: teamA},
		"not bound yet, a namespace that cannot be read":        {group: group("hidden", byCluster("shared"), ""), account: teamA, want: true},
		"account not resolved yet, its own AgentGroup":          {group: group("team-e", deepcallv1.AccountReference{Name: "fresh"}, here), account: types.NamespacedName{Namespace: "team-e", Name: "fresh"}, want: true},
		"account not resolved yet, another Account's":           {group: group("team-a", byAccount, here), account: types.NamespacedName{Namespace: "team-e", Name: "fresh"}},
		"ClusterAccount not resolved yet, lent":                 {group: group("lent", byCluster("unresolved"), ""), account: types.NamespacedName{Name: "unresolved"}, want: true},
		"ClusterAccount not resolved yet, not lent":             {group: group("unlent", byCluster("unresolved"), ""), account: types.NamespacedName{Name: "unresolved"}},
		"ClusterAccount, an Account's AgentGroup on its remote": {group: group("team-b", byAccount, ""), account: types.NamespacedName{Name: "shared"}, want: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
				Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					if _, ok := obj.(*corev1.Namespace); ok && key.Name == "hidden" {
						return apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, key.Name, errors.New("no"))
					}
					return c.Get(ctx, key, obj, opts...)
				},
			}).Build()
			var notes bytes.Buffer
			book := newAccountBook(c, &notes)
			a := book.get(context.Background(), tc.account)
			if a.err != nil {
				t.Fatal(a.err)
			}
			if got := book.onRemoteOf(context.Background(), tc.group, a); got != tc.want {
				t.Errorf("onRemoteOf = %v, want %v", got, tc.want)
			}
			wantNote := ""
			if tc.group.Namespace == "hidden" {
				wantNote = "note: you may not get namespaces; whether a ClusterAccount's spec.allowedNamespaces lends it to a namespace is not checked\n"
			}
			if notes.String() != wantNote {
				t.Errorf("notes %q, want %q", notes.String(), wantNote)
			}
		})
	}
}
