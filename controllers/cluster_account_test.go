package controllers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// A platform team lends one DeepCall account to the namespaces labelled
// for it: a team there manages groups with it; a team elsewhere gets
// AccountNotAllowed, and nothing is called for it with those credentials,
// until the platform team labels its namespace.
func TestClusterAccountLendsCredentialsOnlyToAllowedNamespaces(t *testing.T) {
	s := newStory(t, withNamespaces(2))
	platform, denied := s.others[0], s.others[1]
	const label = "deepcall.example.com/tenant"
	s.labelNamespace(s.ns, label, "yes")
	name := "platform-" + s.ns
	s.must(k8s.Create(ctxBG, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: platform, Name: "lent-credentials"},
		StringData: map[string]string{"userId": testUser, "token": testToken},
	}))
	ca := &deepcallv1.ClusterAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: deepcallv1.ClusterAccountSpec{
			AccountSpec: deepcallv1.AccountSpec{
				BaseURL:              s.simURL,
				CredentialsSecretRef: deepcallv1.SecretReference{Namespace: platform, Name: "lent-credentials"},
				RequestsPerSecond:    50, Burst: 50,
				SyncInterval: metav1.Duration{Duration: 10 * time.Minute},
			},
			AllowedNamespaces: &metav1.LabelSelector{MatchLabels: map[string]string{label: "yes"}},
		},
	}
	s.must(k8s.Create(ctxBG, ca))
	useLent := func(g *deepcallv1.AgentGroup) {
		g.Spec.AccountRef = deepcallv1.AccountReference{Kind: deepcallv1.KindClusterAccount, Name: name}
		g.Spec.Members = []deepcallv1.AgentID{"1001"}
	}

	s.groupIn(s.ns, "allowed", useLent)
	s.waitReasonIn(s.ns, "allowed", metav1.ConditionTrue, "")
	if got := s.remoteNames(); !slices.Contains(got, "allowed") {
		t.Fatalf("remote groups %v, want the allowed namespace's group", got)
	}
	s.eventually(20*time.Second, func() error {
		return s.clusterAccountReady(name, 1)
	})
	if err := s.secretHoldsIn(platform, "lent-credentials", secretFinalizer); err != nil {
		t.Errorf("the lent Secret is not guarded while the ClusterAccount uses it: %v", err)
	}

	before := s.calls()
	s.groupIn(denied, "borrowed", useLent)
	g := s.waitReasonIn(denied, "borrowed", metav1.ConditionFalse, deepcallv1.ReasonAccountNotAllowed)
	if c := meta.FindStatusCondition(g.Status.Conditions, deepcallv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("AccountNotAllowed is terminal until the platform team acts: Stalled = %+v", c)
	}
	if st := s.kstatusIn(denied, "AgentGroup", "borrowed"); st != status.FailedStatus {
		t.Errorf("kstatus %s, want %s: %+v", st, status.FailedStatus, s.getIn(denied, "borrowed").Status)
	}
	time.Sleep(2 * time.Second) // room for a call that must not come
	after := s.calls()
	for _, op := range []string{"add", "get", "update", "delete", "submitAssignGroupToAgent"} {
		if after[op] != before[op] {
			t.Errorf("%s calls went from %d to %d for an AgentGroup whose namespace may not use the credentials", op, before[op], after[op])
		}
	}
	if got := s.remoteNames(); slices.Contains(got, "borrowed") {
		t.Errorf("remote groups %v hold the denied namespace's group", got)
	}

	// Nor does it take a name from a namespace that may use the account:
	// an older AgentGroup there, denied, claims nothing.
	s.groupIn(denied, "squatter", func(g *deepcallv1.AgentGroup) { useLent(g); g.Spec.GroupName = "Shared Name" })
	s.waitReasonIn(denied, "squatter", metav1.ConditionFalse, deepcallv1.ReasonAccountNotAllowed)
	s.groupIn(s.ns, "claimant", func(g *deepcallv1.AgentGroup) { useLent(g); g.Spec.GroupName = "Shared Name" })
	s.waitReasonIn(s.ns, "claimant", metav1.ConditionTrue, "")

	// The platform team lends the account to that namespace too.
	s.labelNamespace(denied, label, "yes")
	s.waitReasonIn(denied, "borrowed", metav1.ConditionTrue, "")
	if got := s.remoteNames(); !slices.Contains(got, "borrowed") {
		t.Errorf("remote groups %v, want the newly allowed namespace's group", got)
	}

	// Narrowing the selector again stops the namespace at once.
	s.eventually(10*time.Second, func() error {
		cur := &deepcallv1.ClusterAccount{}
		if err := k8s.Get(ctxBG, key("", name), cur); err != nil {
			return err
		}
		cur.Spec.AllowedNamespaces = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": s.ns}}
		return k8s.Update(ctxBG, cur)
	})
	s.waitReasonIn(denied, "borrowed", metav1.ConditionFalse, deepcallv1.ReasonAccountNotAllowed)
	s.waitReasonIn(s.ns, "allowed", metav1.ConditionTrue, "")

	// The platform team retires the ClusterAccount: once its groups are
	// gone, it goes, and so does its hold on the lent Secret.
	for _, g := range []struct{ ns, name string }{{s.ns, "allowed"}, {s.ns, "claimant"}, {denied, "borrowed"}, {denied, "squatter"}} {
		s.updateIn(g.ns, g.name, func(g *deepcallv1.AgentGroup) { g.Spec.DeletionPolicy = deepcallv1.DeletionOrphan })
		s.must(k8s.Delete(ctxBG, &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: g.ns, Name: g.name}}))
	}
	s.must(k8s.Delete(ctxBG, &deepcallv1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	s.eventually(20*time.Second, func() error {
		if err := s.secretHoldsIn(platform, "lent-credentials", secretFinalizer); err == nil {
			return fmt.Errorf("the ClusterAccount is gone, yet its Secret holds %s", secretFinalizer)
		}
		return nil
	})
}

func (s *story) labelNamespace(ns, k, v string) {
	s.t.Helper()
	s.eventually(10*time.Second, func() error {
		n := &corev1.Namespace{}
		if err := k8s.Get(ctxBG, key("", ns), n); err != nil {
			return err
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[k] = v
		return k8s.Update(ctxBG, n)
	})
}

// remoteNames are the names of the test user's remote groups.
func (s *story) remoteNames() []string {
	var names []string
	for _, g := range s.remote() {
		names = append(names, g.Name)
	}
	return names
}

func (s *story) clusterAccountReady(name string, managed int32) error {
	ca := &deepcallv1.ClusterAccount{}
	if err := k8s.Get(ctxBG, key("", name), ca); err != nil {
		return err
	}
	c := meta.FindStatusCondition(ca.Status.Conditions, deepcallv1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionTrue || ca.Status.ManagedGroups != managed || ca.Status.RemoteAccount == "" {
		return fmt.Errorf("ClusterAccount %s: Ready %+v, managedGroups %d (want %d), remoteAccount %q", name, c, ca.Status.ManagedGroups, managed, ca.Status.RemoteAccount)
	}
	return nil
}
