package controllers

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// A person moves the Account to a new Secret and deletes the old one at
// once: the old Secret goes, nobody has to strip a finalizer by hand, and
// another owner's finalizer on it is left as it was.
func TestCredentialsFinalizerReleasedWhenTheRefChanges(t *testing.T) {
	s := newStory(t)
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	s.eventually(20*time.Second, func() error { return s.secretHolds("deepcall-credentials", secretFinalizer) })
	s.must(k8s.Create(ctxBG, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "rotated-credentials"},
		StringData: map[string]string{"userId": testUser, "token": testToken},
	}))
	// Another controller also guards the old Secret.
	s.eventually(20*time.Second, func() error {
		sec := &corev1.Secret{}
		if err := k8s.Get(ctxBG, key(s.ns, "deepcall-credentials"), sec); err != nil {
			return err
		}
		sec.Finalizers = append(sec.Finalizers, "example.com/backup")
		return k8s.Update(ctxBG, sec)
	})

	s.updateAccount("default", func(a *deepcallv1.Account) { a.Spec.CredentialsSecretRef.Name = "rotated-credentials" })
	s.eventually(20*time.Second, func() error { return s.secretHolds("rotated-credentials", secretFinalizer) })
	s.eventually(20*time.Second, func() error {
		sec := &corev1.Secret{}
		if err := k8s.Get(ctxBG, key(s.ns, "deepcall-credentials"), sec); err != nil {
			return err
		}
		if slices.Contains(sec.Finalizers, secretFinalizer) {
			return fmt.Errorf("the old Secret still holds %s: %v", secretFinalizer, sec.Finalizers)
		}
		if !slices.Contains(sec.Finalizers, "example.com/backup") {
			return fmt.Errorf("the other owner's finalizer was rewritten: %v", sec.Finalizers)
		}
		return nil
	})

	// With the other owner done, deleting the old Secret takes it at once.
	s.eventually(20*time.Second, func() error {
		sec := &corev1.Secret{}
		if err := k8s.Get(ctxBG, key(s.ns, "deepcall-credentials"), sec); err != nil {
			return err
		}
		sec.Finalizers = slices.DeleteFunc(sec.Finalizers, func(f string) bool { return f == "example.com/backup" })
		return k8s.Update(ctxBG, sec)
	})
	s.must(k8s.Delete(ctxBG, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "deepcall-credentials"}}))
	s.eventually(20*time.Second, func() error {
		err := k8s.Get(ctxBG, key(s.ns, "deepcall-credentials"), &corev1.Secret{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("old Secret still there: %v", err)
	})
	// The Account still works with the new Secret.
	g := s.group("after-move", nil)
	s.waitReady(g.Name)
}

// Deleting the only Account of a Secret releases the Secret, while a
// Secret two Accounts share keeps its finalizer until both are gone.
func TestCredentialsFinalizerReleasedWhenTheLastAccountGoes(t *testing.T) {
	s := newStory(t)
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	s.must(k8s.Create(ctxBG, &deepcallv1.Account{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "second"},
		Spec: deepcallv1.AccountSpec{BaseURL: s.simURL, CredentialsSecretRef: deepcallv1.SecretReference{Name: "deepcall-credentials"},
			RequestsPerSecond: 5, Burst: 5, SyncInterval: metav1.Duration{Duration: 10 * time.Minute}},
	}))
	s.waitAccount("second", metav1.ConditionTrue, deepcallv1.ReasonSynced)

	s.must(k8s.Delete(ctxBG, &deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "default"}}))
	s.waitAccountGone("default")
	if err := s.secretHolds("deepcall-credentials", secretFinalizer); err != nil {
		t.Fatalf("with Account second still using it: %v", err)
	}
	s.must(k8s.Delete(ctxBG, &deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "second"}}))
	s.eventually(20*time.Second, func() error {
		if err := s.secretHolds("deepcall-credentials", secretFinalizer); err == nil {
			return fmt.Errorf("no Account uses the Secret, yet it holds %s", secretFinalizer)
		}
		return nil
	})
}

// secretHolds reports nil when the Secret carries the finalizer.
func (s *story) secretHolds(name, finalizer string) error {
	return s.secretHoldsIn(s.ns, name, finalizer)
}

// secretHoldsIn is secretHolds for a Secret of namespace ns.
func (s *story) secretHoldsIn(ns, name, finalizer string) error {
	sec := &corev1.Secret{}
	if err := k8s.Get(ctxBG, key(ns, name), sec); err != nil {
		return err
	}
	if !slices.Contains(sec.Finalizers, finalizer) {
		return fmt.Errorf("Secret %s does not hold %s: %v", name, finalizer, sec.Finalizers)
	}
	return nil
}

// updateAccount changes an Account's spec, retrying on conflicts.
func (s *story) updateAccount(name string, mutate func(*deepcallv1.Account)) {
	s.t.Helper()
	s.eventually(10*time.Second, func() error {
		a := &deepcallv1.Account{}
		if err := k8s.Get(ctxBG, key(s.ns, name), a); err != nil {
			return err
		}
		mutate(a)
		return k8s.Update(ctxBG, a)
	})
}

// waitAccountGone waits until the Account no longer exists.
func (s *story) waitAccountGone(name string) {
	s.t.Helper()
	s.eventually(20*time.Second, func() error {
		err := k8s.Get(ctxBG, key(s.ns, name), &deepcallv1.Account{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("Account %s still exists (%v)", name, err)
	})
}
