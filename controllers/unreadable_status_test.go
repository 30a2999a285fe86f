package controllers

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// A fact of the status this version cannot read, as a later version's
// form would be after a rollback (its CRD left in place, here a CRD whose
// status.pendingCreate takes anything): the informer still lists every
// AgentGroup and the others carry on; that one says which fact, does
// nothing, and keeps its remote group when deleted, until the fact reads.
func TestUnreadableFactStallsOnlyItsAgentGroup(t *testing.T) {
	s := newStory(t)
	s.group("fine", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	s.group("odd", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1002") })
	s.waitReady("fine")
	odd := s.waitReady("odd")

	loosenStatusSchema(t, "pendingCreate")
	s.setStatusField("AgentGroup", "odd", map[string]any{"name": "odd", "startedAt": int64(1764020488)}, "pendingCreate")
	s.touch("odd")
	g := s.waitReason("odd", metav1.ConditionFalse, deepcallv1.ReasonStatusUnreadable)
	if c := findCondition(g, deepcallv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue ||
		!strings.HasPrefix(c.Message, "this version of the operator cannot read status.pendingCreate (") {
		t.Errorf("Stalled: %+v", c)
	}
	s.eventually(10*time.Second, func() error { // the event is written after the status
		if events := s.events("odd"); !slices.Contains(events, deepcallv1.ReasonStatusUnreadable) {
			return fmt.Errorf("events %v, want a %s warning", events, deepcallv1.ReasonStatusUnreadable)
		}
		return nil
	})
	s.update("fine", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001", "1003") })
	s.waitReady("fine")

	// Deleting it waits: the fact it cannot read may be a create in flight.
	writesBefore := writes(s.calls())
	s.must(k8s.Delete(ctxBG, g))
	s.resync("odd", "after-delete")
	if w := writes(s.calls()); w != writesBefore || len(s.remote()) != 2 {
		t.Fatalf("writes %d → %d, remote %+v: the AgentGroup acted without its fact", writesBefore, w, s.remote())
	}

	// A person sets it right: the deletion goes through.
	s.setStatusField("AgentGroup", "odd", nil, "pendingCreate")
	s.annotate("odd", deepcallv1.AnnotationResync, "after-fix")
	s.waitGone("odd")
	for _, r := range s.remote() {
		if fmt.Sprint(r.ID) == odd.Status.GroupID {
			t.Errorf("remote group %s of the deleted AgentGroup is still there", odd.Status.GroupID)
		}
	}
}

// A field a pass finds again (here a time with a lower-case t and z, which
// RFC 3339 and the schema allow and the Go type does not): the next pass
// writes the status anew, with a warning, on an AgentGroup and on an
// Account alike, and nothing else changes: a field of a later version
// that this one does not know stays.
func TestUnreadableObservationIsWrittenAnew(t *testing.T) {
	s := newStory(t)
	s.group("sales", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	before := s.waitReady("sales")
	writesBefore := writes(s.calls())
	loosenStatusSchema(t, "laterFact")
	later := map[string]any{"recordedAt": "2026-12-01T00:00:00Z"}
	s.setStatusField("AgentGroup", "sales", later, "laterFact")

	for _, kind := range []string{"AgentGroup", "Account"} {
		name := map[string]string{"AgentGroup": "sales", "Account": "default"}[kind]
		s.setStatusField(kind, name, "2026-11-24t21:41:28z", "lastSyncTime")
		s.eventually(10*time.Second, func() error { // an annotation is what makes either look now
			u := s.read(kind, name)
			u.SetAnnotations(map[string]string{deepcallv1.AnnotationResync: "rewrite"})
			return k8s.Update(ctxBG, u)
		})
		s.eventually(20*time.Second, func() error {
			u := s.read(kind, name)
			if at, _, _ := unstructured.NestedString(u.Object, "status", "lastSyncTime"); at == "2026-11-24t21:41:28z" {
				return fmt.Errorf("%s %s: status.lastSyncTime still %s", kind, name, at)
			}
			if ready, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions"); len(ready) == 0 {
				return fmt.Errorf("%s %s: no conditions", kind, name)
			}
			return nil
		})
		s.eventually(10*time.Second, func() error { // the event is written after the status
			if events := s.events(name); !slices.Contains(events, deepcallv1.ReasonStatusUnreadable) {
				return fmt.Errorf("%s events %v, want a %s warning", kind, events, deepcallv1.ReasonStatusUnreadable)
			}
			return nil
		})
	}
	if kept, _, _ := unstructured.NestedMap(s.read("AgentGroup", "sales").Object, "status", "laterFact"); !reflect.DeepEqual(kept, later) {
		t.Errorf("status.laterFact is %v after the rewrite, want %v kept", kept, later)
	}
	after := s.waitReady("sales")
	if after.Status.GroupID != before.Status.GroupID || meta.FindStatusCondition(after.Status.Conditions, deepcallv1.ConditionReady).Reason != deepcallv1.ReasonSynced {
		t.Errorf("status %+v, want Synced on group %s", after.Status, before.Status.GroupID)
	}
	if w := writes(s.calls()); w != writesBefore {
		t.Errorf("%d remote writes to write a status anew", w-writesBefore)
	}
}

// setStatusField writes one field of a stored status as given (nil
// removes it), as another version or a person would.
func (s *story) setStatusField(kind, name string, value any, field ...string) {
	s.t.Helper()
	s.eventually(10*time.Second, func() error { // a loosened schema takes a moment to serve
		u := s.read(kind, name)
		path := append([]string{"status"}, field...)
		if value == nil {
			unstructured.RemoveNestedField(u.Object, path...)
		} else if err := unstructured.SetNestedField(u.Object, value, path...); err != nil {
			return err
		}
		return k8s.Status().Update(ctxBG, u)
	})
}

// read gets an object of the story's namespace as stored.
func (s *story) read(kind, name string) *unstructured.Unstructured {
	s.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(deepcallv1.GroupVersion.WithKind(kind))
	s.must(k8s.Get(ctxBG, key(s.ns, name), u))
	return u
}

// resync asks for a pass as `kubectl agentgroup resync` does and waits
// until one has answered it: whatever the pass did is done.
func (s *story) resync(name, request string) {
	s.t.Helper()
	s.annotate(name, deepcallv1.AnnotationResync, request)
	s.eventually(20*time.Second, func() error {
		if at, _, _ := unstructured.NestedString(s.read("AgentGroup", name).Object, "status", "lastHandledResync"); at != request {
			return fmt.Errorf("AgentGroup %s answered resync %q, want %q", name, at, request)
		}
		return nil
	})
}

// loosenStatusSchema lets the AgentGroup CRD store anything in the status
// field (one it has, or a new one), as a later version's CRD might, until
// the test ends.
func loosenStatusSchema(t *testing.T, field string) {
	t.Helper()
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	name := key("", "agentgroups."+deepcallv1.GroupVersion.Group)
	if err := k8s.Get(ctxBG, name, crd); err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	path := []string{"schema", "openAPIV3Schema", "properties", "status", "properties", field}
	v := versions[0].(map[string]any)
	original, _, _ := unstructured.NestedMap(v, path...)
	set := func(schema map[string]any) {
		t.Helper()
		if err := k8s.Get(ctxBG, name, crd); err != nil {
			t.Fatal(err)
		}
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		if schema == nil {
			unstructured.RemoveNestedField(versions[0].(map[string]any), path...)
		} else if err := unstructured.SetNestedMap(versions[0].(map[string]any), schema, path...); err != nil {
			t.Fatal(err)
		}
		if err := unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions"); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Update(ctxBG, crd); err != nil {
			t.Fatal(err)
		}
	}
	set(map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true})
	t.Cleanup(func() { set(original) })
}

func TestRewrittenStatusNamesEachField(t *testing.T) {
	got := rewrittenStatus(map[string]string{"pendingCreate": "startedAt: bad", "members": "json: cannot unmarshal string into Go value of type int32"})
	want := "this version of the operator could not read status.members (json: cannot unmarshal string into Go value of type int32), status.pendingCreate (startedAt: bad) and wrote the status anew from what it found"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
