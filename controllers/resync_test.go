package controllers

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// TestResyncRequestIsAcknowledged: the resync annotation is a person's
// request for a drift check now; the pass that handles it says so in
// status.lastHandledResync, with one status write, and other annotation
// changes still write nothing while the group is in sync.
func TestResyncRequestIsAcknowledged(t *testing.T) {
	s := newStory(t)
	s.group("support", func(g *deepcallv1.AgentGroup) {
		g.Spec.Members = agents("1001", "1002")
		g.Spec.ReceiveCall = agents("1001")
	})
	id := remoteID(t, s.waitReady("support"))

	// Drift by hand, then a resync request: corrected and acknowledged.
	s.must(s.sim.SetMembers(testUser, id, []string{"1001", "1002", "1099"}, []string{"1001"}))
	first, _ := s.annotate("support", deepcallv1.AnnotationResync, resyncValue())
	s.eventually(10*time.Second, func() error {
		if r := s.remote(); len(r) != 1 || !cmp.Equal(r[0].Members, []string{"1001", "1002"}) {
			return fmt.Errorf("remote not corrected: %+v", r)
		}
		if got := s.get("support").Status.LastHandledResync; got != first {
			return fmt.Errorf("status.lastHandledResync = %q, want %q", got, first)
		}
		return nil
	})
	s.waitReady("support")

	// A second request on a group in sync: one read, no remote write, and
	// exactly one status write (the acknowledgement).
	s.sim.ResetCalls()
	second, rv := s.annotate("support", deepcallv1.AnnotationResync, resyncValue())
	count := s.watchWrites("support", rv)
	s.eventually(10*time.Second, func() error {
		if got := s.get("support").Status.LastHandledResync; got != second {
			return fmt.Errorf("status.lastHandledResync = %q, want %q", got, second)
		}
		return nil
	})
	if n := count(3 * time.Second); n != 1 {
		t.Errorf("object writes after the second resync request = %d, want 1 (the acknowledgement)", n)
	}
	if c := s.calls(); c["getGroupAgentRelation"] != 1 || writes(c) != 0 {
		t.Errorf("calls for a resync of a group in sync: %v, want one read and no write", c)
	}

	// Any other annotation still makes the operator look, and writes
	// nothing when the group is in sync.
	s.sim.ResetCalls()
	_, rv = s.annotate("support", "bench.agentgroups.dev/poke", "1")
	count = s.watchWrites("support", rv)
	s.eventually(10*time.Second, func() error {
		if c := s.calls(); c["getGroupAgentRelation"] < 1 {
			return fmt.Errorf("the remote group was not read: %v", c)
		}
		return nil
	})
	if n := count(3 * time.Second); n != 0 {
		t.Errorf("object writes after another annotation = %d, want 0", n)
	}
	if got := s.get("support").Status.LastHandledResync; got != second {
		t.Errorf("status.lastHandledResync = %q after another annotation, want %q still", got, second)
	}
}

// TestResyncOfAStalledGroupIsAcknowledged: a pass that can do nothing
// (NameConflict) still handles the request; Ready says why.
func TestResyncOfAStalledGroupIsAcknowledged(t *testing.T) {
	s := newStory(t)
	_, err := s.sim.CreateGroup(testUser, "Taken")
	s.must(err)
	s.group("taken", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "Taken" })
	s.waitReason("taken", metav1.ConditionFalse, deepcallv1.ReasonNameConflict)
	want, _ := s.annotate("taken", deepcallv1.AnnotationResync, resyncValue())
	s.eventually(10*time.Second, func() error {
		if got := s.get("taken").Status.LastHandledResync; got != want {
			return fmt.Errorf("status.lastHandledResync = %q, want %q", got, want)
		}
		return nil
	})
	s.waitReason("taken", metav1.ConditionFalse, deepcallv1.ReasonNameConflict)
}

// TestResyncAnsweredByOutcome: which passes answer a resync request.
func TestResyncAnsweredByOutcome(t *testing.T) {
	cases := map[string]struct {
		out      outcome
		answered bool
	}{
		"synced":           {out: outcome{final: true, reason: deepcallv1.ReasonSynced}, answered: true},
		"stalled":          {out: outcome{final: true, reason: deepcallv1.ReasonNameConflict}, answered: true},
		"suspended":        {out: outcome{final: true, reason: deepcallv1.ReasonSuspended}, answered: true},
		"no Account":       {out: outcome{reason: deepcallv1.ReasonAccountNotFound}, answered: true},
		"Account broken":   {out: outcome{reason: deepcallv1.ReasonAccountNotReady}, answered: true},
		"retrying":         {out: outcome{reason: deepcallv1.ReasonRemoteError, err: fmt.Errorf("1009")}},
		"throttled":        {out: outcome{reason: deepcallv1.ReasonThrottled}},
		"create not known": {out: outcome{reason: deepcallv1.ReasonCreatePending}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Generation: 1,
				Annotations: map[string]string{deepcallv1.AnnotationResync: "new"}}}
			g.Status.LastHandledResync = "old"
			applyOutcome(g, tc.out)
			want := map[bool]string{true: "new", false: "old"}[tc.answered]
			if got := g.Status.LastHandledResync; got != want {
				t.Errorf("status.lastHandledResync = %q, want %q", got, want)
			}
		})
	}
}

// resyncValue is what `kubectl agentgroup resync` writes: the time.
func resyncValue() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// annotate sets one annotation of an AgentGroup and returns its value and
// the resourceVersion of that write.
func (s *story) annotate(name, key, value string) (string, string) {
	s.t.Helper()
	var rv string
	s.eventually(10*time.Second, func() error {
		g := s.get(name)
		if g.Annotations == nil {
			g.Annotations = map[string]string{}
		}
		g.Annotations[key] = value
		if err := k8s.Update(ctxBG, g); err != nil {
			return err
		}
		rv = g.ResourceVersion
		return nil
	})
	return value, rv
}

// watchWrites watches the AgentGroup from resourceVersion rv; the function
// it returns waits settle, then says how many writes the object saw since.
func (s *story) watchWrites(name, rv string) func(settle time.Duration) int {
	s.t.Helper()
	wc, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	s.must(err)
	w, err := wc.Watch(ctxBG, &deepcallv1.AgentGroupList{}, client.InNamespace(s.ns), &client.ListOptions{Raw: &metav1.ListOptions{
		FieldSelector: "metadata.name=" + name, ResourceVersion: rv,
	}})
	s.must(err)
	return func(settle time.Duration) int {
		defer w.Stop()
		n := 0
		deadline := time.After(settle)
		for {
			select {
			case e, open := <-w.ResultChan():
				if !open {
					s.t.Errorf("the watch of %s ended early", name)
					return n
				}
				if e.Type == watch.Modified {
					n++
				}
			case <-deadline:
				return n
			}
		}
	}
}
