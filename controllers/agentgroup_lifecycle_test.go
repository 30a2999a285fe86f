package controllers

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

func agents(in ...string) []deepcallv1.AgentID {
	out := make([]deepcallv1.AgentID, len(in))
	for i, s := range in {
		out[i] = deepcallv1.AgentID(s)
	}
	return out
}

// TestLifecycle follows one group from creation through every kind of spec
// change, asserting each time the exact remote calls made.
func TestLifecycle(t *testing.T) {
	s := newStory(t)

	s.group("sales", func(g *deepcallv1.AgentGroup) {
		g.Spec.GroupName = "Sales Team"
		g.Spec.Members = agents("1001", "1002", "1003")
		g.Spec.ReceiveCall = agents("1001", "1003")
	})
	g := s.waitReady("sales")
	remote := s.remote()
	if len(remote) != 1 {
		t.Fatalf("remote groups: %+v, want exactly one", remote)
	}
	if got, want := g.Status.GroupID, fmt.Sprint(remote[0].ID); got != want {
		t.Errorf("status.groupId = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"1001", "1002", "1003"}, remote[0].Members); diff != "" {
		t.Errorf("remote members (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1001", "1003"}, remote[0].Receivers); diff != "" {
		t.Errorf("remote receivers (-want +got):\n%s", diff)
	}
	if g.Status.GroupName != "Sales Team" || g.Status.Members != 3 || g.Status.ReceiveCall != 2 {
		t.Errorf("status = %+v", g.Status)
	}
	if got := s.calls(); got["add"] != 1 || got["submitAssignGroupToAgent"] != 1 || got["update"] != 0 {
		t.Errorf("calls to create: %v, want one add and one assign", got)
	}
	if v := s.kstatus("sales"); v != status.CurrentStatus {
		t.Errorf("kstatus = %s, want Current", v)
	}

	steps := []struct {
		name   string
		mutate func(*deepcallv1.AgentGroup)
		calls  map[string]int
		check  func() error
	}{
		{
			name: "add and remove members",
			mutate: func(g *deepcallv1.AgentGroup) {
				g.Spec.Members = agents("1001", "1003", "1004")
				g.Spec.ReceiveCall = agents("1001")
			},
			calls: map[string]int{"submitAssignGroupToAgent": 1},
			check: func() error {
				r := s.remote()[0]
				if !cmp.Equal(r.Members, []string{"1001", "1003", "1004"}) || !cmp.Equal(r.Receivers, []string{"1001"}) {
					return fmt.Errorf("remote members %v receivers %v", r.Members, r.Receivers)
				}
				return nil
			},
		},
		{
			name:   "rename",
			mutate: func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "Sales EU" },
			calls:  map[string]int{"update": 1, "list": 1},
			check: func() error {
				if r := s.remote()[0]; r.Name != "Sales EU" || r.Status != 1 {
					return fmt.Errorf("remote %+v", r)
				}
				return nil
			},
		},
		{
			name:   "disable",
			mutate: func(g *deepcallv1.AgentGroup) { g.Spec.Enabled = new(bool) },
			calls:  map[string]int{"update": 1},
			check: func() error {
				if r := s.remote()[0]; r.Status != 0 || r.Name != "Sales EU" {
					return fmt.Errorf("remote %+v, want status 0 and the name kept", r)
				}
				return nil
			},
		},
		{
			name:   "no-op resync",
			mutate: nil,
			calls:  map[string]int{},
		},
	}
	for _, step := range steps {
		s.sim.ResetCalls()
		if step.mutate != nil {
			s.update("sales", step.mutate)
		} else {
			s.touch("sales")
		}
		s.waitReady("sales")
		s.eventually(5*time.Second, func() error {
			if got := s.calls(); got["getGroupAgentRelation"] < 1 {
				return fmt.Errorf("%s: the remote group was not read: %v", step.name, got)
			}
			return nil
		})
		got := s.calls()
		delete(got, "getGroupAgentRelation")
		for op, n := range got {
			if n == 0 {
				delete(got, op)
			}
		}
		if diff := cmp.Diff(step.calls, got); diff != "" {
			t.Errorf("%s: calls besides the one read (-want +got):\n%s", step.name, diff)
		}
		if step.check != nil {
			if err := step.check(); err != nil {
				t.Errorf("%s: %v", step.name, err)
			}
		}
		if v := s.kstatus("sales"); v != status.CurrentStatus {
			t.Errorf("%s: kstatus = %s, want Current", step.name, v)
		}
	}
	if c := s.get("sales").Status.Conditions; len(c) == 0 {
		t.Fatal("no conditions")
	}
}
