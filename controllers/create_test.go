package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

func TestLostResponseOnAddMakesOneGroup(t *testing.T) {
	s := newStory(t)
	// The add is committed, then the connection drops: the operator never
	// sees the id, and must find the group rather than add a second one.
	s.sim.LoseNext("add", 1)
	s.group("sales", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	g := s.waitReady("sales")
	r := s.remote()
	if len(r) != 1 {
		t.Fatalf("remote groups %+v, want exactly one", r)
	}
	if g.Status.GroupID != strconv.FormatInt(r[0].ID, 10) || pendingCreate(g) {
		t.Errorf("status %+v, want groupId %d and no pending create", g.Status, r[0].ID)
	}
	if c := s.calls(); c["add"] != 1 {
		t.Errorf("add calls = %d, want 1", c["add"])
	}
}

// dieAfterAdd stands for a manager that dies (SIGKILL) between the add
// call and the status write: the add reaches the API, the reconcile never
// learns the id.
type dieAfterAdd struct {
	groupapi.Interface
	died chan<- struct{}
}

func (d dieAfterAdd) Add(ctx context.Context, name string) (string, error) {
	if _, err := d.Interface.Add(ctx, name); err != nil {
		return "", err
	}
	close(d.died)
	return "", errors.New("killed before the answer was read")
}

func TestManagerStoppedMidCreateMakesOneGroup(t *testing.T) {
	died := make(chan struct{})
	s := newStory(t, func(s *story) {
		s.wrap = func(c groupapi.Interface) groupapi.Interface { return dieAfterAdd{Interface: c, died: died} }
	})
	s.group("sales", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001", "1002") })
	select {
	case <-died:
	case <-time.After(20 * time.Second):
		t.Fatal("the add call was never made")
	}
	s.stop()
	if g := s.get("sales"); g.Status.GroupID != "" || !pendingCreate(g) {
		t.Fatalf("after the crash status = %+v, want a pending create and no id", g.Status)
	}
	if len(s.remote()) != 1 {
		t.Fatalf("remote groups %+v, want the one the add created", s.remote())
	}

	s.wrap = nil
	s.start()
	g := s.waitReady("sales")
	r := s.remote()
	if len(r) != 1 || g.Status.GroupID != strconv.FormatInt(r[0].ID, 10) {
		t.Fatalf("remote %+v, status.groupId %q: want one group, bound", r, g.Status.GroupID)
	}
	if len(r[0].Members) != 2 {
		t.Errorf("remote members %v, want both", r[0].Members)
	}
	if c := s.calls(); c["add"] != 1 {
		t.Errorf("add calls = %d, want 1", c["add"])
	}
}

func TestNameConflictThenAdoption(t *testing.T) {
	s := newStory(t)
	existing, err := s.sim.CreateGroup(testUser, "Support")
	s.must(err)
	s.group("support", func(g *deepcallv1.AgentGroup) {
		g.Spec.GroupName = "support" // names compare case-insensitively
		g.Spec.Members = agents("1001")
	})
	g := s.waitReason("support", metav1.ConditionFalse, deepcallv1.ReasonNameConflict)
	msg := findCondition(g, deepcallv1.ConditionReady).Message
	if !strings.Contains(msg, strconv.FormatInt(existing, 10)) || !strings.Contains(msg, "adoptionPolicy: ByName") {
		t.Errorf("NameConflict message %q should name the remote id and how to adopt", msg)
	}
	if c := findCondition(g, deepcallv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Stalled = %+v, want True", c)
	}
	if v := s.kstatus("support"); v != status.FailedStatus {
		t.Errorf("kstatus = %s, want Failed", v)
	}
	if c := s.calls(); c["add"] != 0 {
		t.Fatalf("add called despite the conflict: %v", c)
	}

	s.update("support", func(g *deepcallv1.AgentGroup) { g.Spec.AdoptionPolicy = deepcallv1.AdoptionByName })
	g = s.waitReady("support")
	if g.Status.GroupID != strconv.FormatInt(existing, 10) {
		t.Errorf("adopted %q, want %d", g.Status.GroupID, existing)
	}
	r := s.remote()
	if len(r) != 1 || r[0].Name != "support" || len(r[0].Members) != 1 {
		t.Errorf("remote %+v, want the one group renamed to the spec's case, with its member", r)
	}
	if findCondition(g, deepcallv1.ConditionStalled) != nil {
		t.Errorf("Stalled still present: %+v", g.Status.Conditions)
	}
}

func TestAdoptionByGroupID(t *testing.T) {
	s := newStory(t)
	existing, err := s.sim.CreateGroup(testUser, "Legacy Billing")
	s.must(err)
	s.group("billing", func(g *deepcallv1.AgentGroup) {
		g.Spec.GroupName = "Billing"
		g.Spec.GroupID = strconv.FormatInt(existing, 10)
		g.Spec.Members = agents("1001")
	})
	g := s.waitReady("billing")
	if g.Status.GroupID != strconv.FormatInt(existing, 10) {
		t.Errorf("status.groupId %q, want %d", g.Status.GroupID, existing)
	}
	if r := s.remote(); len(r) != 1 || r[0].Name != "Billing" {
		t.Errorf("remote %+v, want the bound group renamed", r)
	}
	if c := s.calls(); c["add"] != 0 {
		t.Errorf("add calls %d, want 0", c["add"])
	}

	// A groupId naming no group is reported, never replaced by a new one.
	s.group("ghost", func(g *deepcallv1.AgentGroup) { g.Spec.GroupID = "999999" })
	s.waitReason("ghost", metav1.ConditionFalse, deepcallv1.ReasonRemoteGroupNotFound)
	if len(s.remote()) != 1 {
		t.Errorf("remote %+v, want no new group", s.remote())
	}
}

func TestTwoAgentGroupsOneName(t *testing.T) {
	s := newStory(t)
	s.group("ops-a", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "Ops" })
	s.waitReady("ops-a")
	s.group("ops-b", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "OPS" })
	g := s.waitReason("ops-b", metav1.ConditionFalse, deepcallv1.ReasonDuplicateGroupName)
	if msg := findCondition(g, deepcallv1.ConditionReady).Message; !strings.Contains(msg, "ops-a") {
		t.Errorf("message %q should name the other AgentGroup", msg)
	}
	if r := s.remote(); len(r) != 1 {
		t.Errorf("remote %+v, want one group", r)
	}

	// When the first goes (and deletes its group), the second takes the name.
	s.must(k8s.Delete(ctxBG, s.get("ops-a")))
	s.waitGone("ops-a")
	g = s.waitReady("ops-b")
	if r := s.remote(); len(r) != 1 || r[0].Name != "OPS" || strconv.FormatInt(r[0].ID, 10) != g.Status.GroupID {
		t.Errorf("remote %+v, want one group OPS bound to ops-b", r)
	}
}

func TestPermissionDeniedStallsWithoutCalls(t *testing.T) {
	s := newStory(t)
	s.sim.FailNext("submitAssignGroupToAgent", 1000, groupapi.CodePermissionDenied)
	s.group("vip", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	g := s.waitReason("vip", metav1.ConditionFalse, deepcallv1.ReasonPermissionDenied)
	if c := findCondition(g, deepcallv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("Stalled = %+v, want True", c)
	}
	if v := s.kstatus("vip"); v != status.FailedStatus {
		t.Errorf("kstatus = %s, want Failed", v)
	}
	before := s.calls()
	time.Sleep(30 * time.Second)
	after := s.calls()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("calls went on while stalled: %v, then %v", before, after)
	}

	// A spec change is a reason to try again.
	s.sim.FailNext("submitAssignGroupToAgent", 0, 0)
	s.update("vip", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001", "1002") })
	s.waitReady("vip")
	if r := s.remote(); len(r) != 1 || len(r[0].Members) != 2 {
		t.Errorf("remote %+v, want both members after the retry", r)
	}
}
