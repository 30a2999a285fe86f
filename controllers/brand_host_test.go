package controllers

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// readyMessage is the message of an Account's Ready condition.
func readyMessage(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, deepcallv1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

// Plain http:// goes only to loopback, and only when the manager allows
// it: without --allow-insecure-loopback the Account refuses the
// simulator's URL and says how to allow it, and nothing is sent.
func TestPlainHTTPNeedsTheLoopbackFlag(t *testing.T) {
	s := newStory(t, withoutInsecureLoopback())
	s.group("sales", nil)
	a := s.waitAccount("default", metav1.ConditionFalse, deepcallv1.ReasonInvalidBaseURL)
	t.Logf("Account: %s", readyMessage(a.Status.Conditions))
	if msg := readyMessage(a.Status.Conditions); !strings.Contains(msg, "--allow-insecure-loopback") {
		t.Errorf("Account message %q does not say how to allow it", msg)
	}
	if v := s.accountKstatus("default"); v != status.FailedStatus {
		t.Errorf("kstatus of the Account = %s, want Failed (Stalled)", v)
	}
	g := s.waitReason("sales", metav1.ConditionFalse, deepcallv1.ReasonAccountNotReady)
	if msg := readyMessage(g.Status.Conditions); !strings.Contains(msg, "--allow-insecure-loopback") {
		t.Errorf("AgentGroup message %q does not carry the Account's", msg)
	}
	if c := s.calls(); len(c) != 0 {
		t.Errorf("simulator got calls %v, want none", c)
	}
}
