package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// waitAccount waits until the Account's Ready condition has this reason.
func (s *story) waitAccount(name string, st metav1.ConditionStatus, reason string) *deepcallv1.Account {
	s.t.Helper()
	a := &deepcallv1.Account{}
	s.eventually(20*time.Second, func() error {
		if err := k8s.Get(ctxBG, key(s.ns, name), a); err != nil {
			return err
		}
		c := meta.FindStatusCondition(a.Status.Conditions, deepcallv1.ConditionReady)
		if c == nil || c.Status != st || c.Reason != reason || c.ObservedGeneration != a.Generation {
			return fmt.Errorf("Account %s Ready = %+v, want %s %s", name, c, st, reason)
		}
		return nil
	})
	return a
}

// setSecret replaces the credentials Secret's data.
func (s *story) setSecret(data map[string]string) {
	s.t.Helper()
	s.eventually(10*time.Second, func() error {
		sec := &corev1.Secret{}
		if err := k8s.Get(ctxBG, key(s.ns, "deepcall-credentials"), sec); err != nil {
			return err
		}
		sec.Data, sec.StringData = nil, data
		return k8s.Update(ctxBG, sec)
	})
}

func TestAccountCountsGroups(t *testing.T) {
	s := newStory(t)
	_, err := s.sim.CreateGroup(testUser, "Made by hand")
	s.must(err)
	s.group("a", nil)
	s.group("b", nil)
	s.waitReady("a")
	s.waitReady("b")
	s.eventually(20*time.Second, func() error {
		a := s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
		if a.Status.ManagedGroups != 2 || a.Status.UnmanagedGroups != 1 {
			return fmt.Errorf("managed %d unmanaged %d, want 2 and 1", a.Status.ManagedGroups, a.Status.UnmanagedGroups)
		}
		return nil
	})
}

func TestAccountCredentialErrors(t *testing.T) {
	s := newStory(t)
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)

	s.setSecret(map[string]string{"userId": testUser, "token": testToken, "ssid": "also"})
	a := s.waitAccount("default", metav1.ConditionFalse, deepcallv1.ReasonInvalidCredentials)
	msg := meta.FindStatusCondition(a.Status.Conditions, deepcallv1.ConditionReady).Message
	if !strings.Contains(msg, "ssid, token, userId") || strings.Contains(msg, testToken) {
		t.Errorf("message %q should list the keys and hold no value", msg)
	}

	s.waitEvent("default", deepcallv1.ReasonInvalidCredentials)

	s.setSecret(map[string]string{"userId": testUser, "token": "wrong-token"})
	a = s.waitAccount("default", metav1.ConditionFalse, deepcallv1.ReasonUnauthorized)
	if msg := meta.FindStatusCondition(a.Status.Conditions, deepcallv1.ConditionReady).Message; strings.Contains(msg, "wrong-token") {
		t.Errorf("message %q holds the token", msg)
	}

	// A group waits for its Account instead of failing on its own.
	s.group("waiting", nil)
	s.waitReason("waiting", metav1.ConditionFalse, deepcallv1.ReasonAccountNotReady)
	if v := s.kstatus("waiting"); v != status.InProgressStatus {
		t.Errorf("kstatus of a group waiting for its Account = %s, want InProgress", v)
	}

	s.must(k8s.Delete(ctxBG, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "deepcall-credentials"}}))
	// The Secret is in use: its finalizer keeps it until the Account goes.
	s.eventually(5*time.Second, func() error {
		sec := &corev1.Secret{}
		if err := k8s.Get(ctxBG, key(s.ns, "deepcall-credentials"), sec); err != nil {
			return err
		}
		if sec.DeletionTimestamp.IsZero() {
			return fmt.Errorf("Secret not marked for deletion")
		}
		return nil
	})
}

func TestSecretRotationTakesEffectWithoutRestart(t *testing.T) {
	s := newStory(t)
	s.group("sales", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	s.waitReady("sales")

	// The account moves to a session id; the old token stops working.
	s.sim.AddUser(sim.User{ID: testUser, Token: "", SSIDs: []string{"fresh-ssid"}, Agents: sim.AgentRange(1000, 1999)})
	s.setSecret(map[string]string{"ssid": "fresh-ssid"})
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)

	s.update("sales", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001", "1002") })
	s.waitReady("sales")
	if r := s.remote(); len(r) != 1 || len(r[0].Members) != 2 {
		t.Errorf("remote %+v, want the change made with the new credentials", r)
	}
}

func TestSyncBudgetStretchesTheInterval(t *testing.T) {
	s := newStory(t)
	s.eventually(10*time.Second, func() error {
		a := &deepcallv1.Account{}
		if err := k8s.Get(ctxBG, key(s.ns, "default"), a); err != nil {
			return err
		}
		a.Spec.RequestsPerSecond = 1
		a.Spec.SyncInterval = metav1.Duration{Duration: 30 * time.Second}
		return k8s.Update(ctxBG, a)
	})
	for i := range 20 {
		s.group(fmt.Sprintf("g%02d", i), nil)
	}
	s.eventually(60*time.Second, func() error {
		a := &deepcallv1.Account{}
		if err := k8s.Get(ctxBG, key(s.ns, "default"), a); err != nil {
			return err
		}
		c := meta.FindStatusCondition(a.Status.Conditions, deepcallv1.ConditionSyncBudget)
		// 20 groups at half of 1 request/s need 40s, more than 30s.
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != deepcallv1.ReasonIntervalStretched ||
			a.Status.EffectiveSyncInterval == nil || a.Status.EffectiveSyncInterval.Duration != 40*time.Second {
			return fmt.Errorf("SyncBudget %+v, effective %v", c, a.Status.EffectiveSyncInterval)
		}
		return nil
	})
}
