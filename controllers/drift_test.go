package controllers

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

func remoteID(t *testing.T, g *deepcallv1.AgentGroup) int64 {
	t.Helper()
	id, err := strconv.ParseInt(g.Status.GroupID, 10, 64)
	if err != nil {
		t.Fatalf("status.groupId %q: %v", g.Status.GroupID, err)
	}
	return id
}

// waitEvent waits until an event with this reason exists for the object.
func (s *story) waitEvent(name, reason string) {
	s.t.Helper()
	s.eventually(10*time.Second, func() error {
		if got := s.events(name); !slices.Contains(got, reason) {
			return fmt.Errorf("events of %s: %v, want one with reason %s", name, got, reason)
		}
		return nil
	})
}

func TestDriftByHandIsCorrected(t *testing.T) {
	s := newStory(t)
	s.group("support", func(g *deepcallv1.AgentGroup) {
		g.Spec.GroupName = "Support"
		g.Spec.Members = agents("1001", "1002")
		g.Spec.ReceiveCall = agents("1001")
	})
	id := remoteID(t, s.waitReady("support"))

	// By hand: another member, another receiver, a new name, disabled.
	name, disabled := "Support (old)", 0
	s.must(s.sim.SetMembers(testUser, id, []string{"1001", "1002", "1099"}, []string{"1001", "1002"}))
	s.must(s.sim.UpdateGroup(testUser, id, &name, &disabled))
	s.sim.ResetCalls()
	s.touch("support")

	s.eventually(10*time.Second, func() error {
		r := s.remote()
		if len(r) != 1 || r[0].Name != "Support" || r[0].Status != 1 ||
			!cmp.Equal(r[0].Members, []string{"1001", "1002"}) || !cmp.Equal(r[0].Receivers, []string{"1001"}) {
			return fmt.Errorf("remote not corrected: %+v", r)
		}
		return nil
	})
	g := s.waitReady("support")
	if len(g.Status.Drift) != 0 {
		t.Errorf("status.drift after correction = %v, want empty", g.Status.Drift)
	}
	if c := s.calls(); c["update"] != 1 || c["submitAssignGroupToAgent"] != 1 || c["add"] != 0 {
		t.Errorf("calls to correct: %v, want one update and one assign", c)
	}
	s.waitEvent("support", deepcallv1.ReasonDriftDetected)
	s.waitEvent("support", deepcallv1.ReasonDriftCorrected)
}

func TestDriftFoundByThePeriodicResync(t *testing.T) {
	s := newStory(t)
	s.update30sInterval()
	s.group("night", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	id := remoteID(t, s.waitReady("night"))
	s.must(s.sim.SetMembers(testUser, id, []string{"1001", "1002"}, nil))
	// Nothing pokes the AgentGroup: only the resync (at most 1.5 intervals
	// away) can find and correct the change.
	s.eventually(60*time.Second, func() error {
		if r := s.remote(); len(r) != 1 || !cmp.Equal(r[0].Members, []string{"1001"}) {
			return fmt.Errorf("remote members not corrected: %+v", r)
		}
		return nil
	})
	s.waitEvent("night", deepcallv1.ReasonDriftCorrected)
}

// update30sInterval sets the shortest allowed syncInterval on the Account.
func (s *story) update30sInterval() {
	s.t.Helper()
	s.eventually(10*time.Second, func() error {
		a := &deepcallv1.Account{}
		if err := k8s.Get(ctxBG, key(s.ns, "default"), a); err != nil {
			return err
		}
		a.Spec.SyncInterval = metav1.Duration{Duration: 30 * time.Second}
		return k8s.Update(ctxBG, a)
	})
}

func TestGroupDeletedByHandIsRecreated(t *testing.T) {
	s := newStory(t)
	s.group("billing", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001", "1002") })
	old := remoteID(t, s.waitReady("billing"))
	s.must(s.sim.DeleteGroup(testUser, old))
	s.touch("billing")
	s.eventually(10*time.Second, func() error {
		r := s.remote()
		if len(r) != 1 || r[0].ID == old || r[0].Name != "billing" || !cmp.Equal(r[0].Members, []string{"1001", "1002"}) {
			return fmt.Errorf("remote: %+v, want one new group named billing with both members", r)
		}
		return nil
	})
	g := s.waitReady("billing")
	if g.Status.GroupID != strconv.FormatInt(s.remote()[0].ID, 10) {
		t.Errorf("status.groupId = %s, remote %+v", g.Status.GroupID, s.remote())
	}
	s.waitEvent("billing", deepcallv1.EventRecreated)
}

func TestObserveReportsWithoutWriting(t *testing.T) {
	s := newStory(t)
	id, err := s.sim.CreateGroup(testUser, "Support")
	s.must(err)
	s.must(s.sim.SetMembers(testUser, id, []string{"1006", "1007"}, []string{"1006"}))
	s.group("support", func(g *deepcallv1.AgentGroup) {
		g.Spec.GroupName = "Support"
		g.Spec.Members = agents("1006", "1007")
		g.Spec.ReceiveCall = agents("1006", "1007")
		g.Spec.ManagementPolicy = deepcallv1.ManagementObserve
		g.Spec.AdoptionPolicy = deepcallv1.AdoptionByName
	})
	g := s.waitReason("support", metav1.ConditionTrue, deepcallv1.ReasonObserving)
	want := []string{"agent 1007 should receive calls but does not remotely"}
	if diff := cmp.Diff(want, g.Status.Drift); diff != "" {
		t.Errorf("status.drift (-want +got):\n%s", diff)
	}
	if c := findCondition(g, deepcallv1.ConditionInSync); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("InSync = %+v, want False", c)
	}

	// A change by hand updates the report, with one more event.
	s.must(s.sim.SetMembers(testUser, id, []string{"1006"}, []string{"1006"}))
	s.touch("support")
	s.eventually(10*time.Second, func() error {
		if d := s.get("support").Status.Drift; len(d) != 2 {
			return fmt.Errorf("drift %v, want the missing member and receiver", d)
		}
		return nil
	})
	// Deleting an Observe group never deletes the remote one.
	s.must(k8s.Delete(ctxBG, s.get("support")))
	s.waitGone("support")
	if c := s.calls(); writes(c) != 0 {
		t.Errorf("Observe made write calls: %v", c)
	}
	if len(s.remote()) != 1 {
		t.Errorf("remote groups %+v, want Support kept", s.remote())
	}
}
