package plugin

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

func TestOnRemoteAccountOf(t *testing.T) {
	account := &Account{Key: types.NamespacedName{Namespace: "team-a", Name: "default"}}
	cluster := &Account{Key: types.NamespacedName{Name: "default"}}
	group := func(ns string, ref deepcallv1.AccountReference, remote string) *deepcallv1.AgentGroup {
		return &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "g"},
			Spec: deepcallv1.AgentGroupSpec{AccountRef: ref}, Status: deepcallv1.AgentGroupStatus{RemoteAccount: remote}}
	}
	byName := deepcallv1.AccountReference{Name: "default"}
	byCluster := deepcallv1.AccountReference{Kind: deepcallv1.KindClusterAccount, Name: "default"}
	cases := map[string]struct {
		group         *deepcallv1.AgentGroup
		acct          *Account
		accountRemote string
		want          bool
	}{
		"both recorded, same":                     {group: group("team-b", byName, "u1@h"), acct: account, accountRemote: "u1@h", want: true},
		"both recorded, other, same Account":      {group: group("team-a", byName, "u2@h"), acct: account, accountRemote: "u1@h", want: false},
		"group not bound yet, same Account":       {group: group("team-a", byName, ""), acct: account, accountRemote: "u1@h", want: true},
		"group not bound yet, other namespace":    {group: group("team-b", byName, ""), acct: account, accountRemote: "u1@h", want: false},
		"account not resolved yet, same Account":  {group: group("team-a", byName, "u1@h"), acct: account, want: true},
		"account not resolved yet, other Account": {group: group("team-a", deepcallv1.AccountReference{Name: "other"}, "u1@h"), acct: account, want: false},
		"ClusterAccount, any namespace":           {group: group("team-z", byCluster, ""), acct: cluster, want: true},
		"ClusterAccount, not the Account":         {group: group("team-a", byCluster, ""), acct: account, want: false},
		"Account, not the ClusterAccount":         {group: group("team-a", byName, ""), acct: cluster, want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			acct := *tc.acct
			acct.Status.RemoteAccount = tc.accountRemote
			if got := onRemoteAccountOf(tc.group, &acct); got != tc.want {
				t.Errorf("onRemoteAccountOf = %v, want %v", got, tc.want)
			}
		})
	}
}
