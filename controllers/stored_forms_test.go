package controllers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
	"github.com/agentgroups/agentgroup-operator/internal/history"
)

// An upgrade from any landed version: the objects it stored, in every
// state a crash leaves (testdata/stored, captured by running it), are put
// back as it left them, with its remote groups, and today's manager
// starts on them. Every AgentGroup carries on from where it was, with no
// add for a create that already happened; then everything can be deleted,
// every finalizer the earlier version set released.
func TestStoredFormsConverge(t *testing.T) {
	for _, v := range history.Landed {
		t.Run(v.Commit, func(t *testing.T) {
			snap, err := history.ReadSnapshot(filepath.Join("..", "testdata", "stored", v.Commit))
			if err != nil {
				t.Fatal(err)
			}
			s, user := restoreStory(t, snap)
			get := func(ctx context.Context, ns, name string) (*unstructured.Unstructured, error) {
				u := &unstructured.Unstructured{}
				u.SetGroupVersionKind(deepcallv1.GroupVersion.WithKind("AgentGroup"))
				err := k8s.Get(ctx, key(s.restored[ns], name), u)
				if apierrors.IsNotFound(err) {
					return nil, nil
				}
				return u, err
			}
			s.eventually(60*time.Second, func() error {
				if problems := snap.Converged(ctxBG, user, s.sim.Groups(user), get); len(problems) > 0 {
					return fmt.Errorf("not converged:\n%s", strings.Join(problems, "\n"))
				}
				return nil
			})
			if c := s.calls(); c["add"] != 0 {
				t.Errorf("%d add calls, want none: every create had happened", c["add"])
			}
			s.deleteAll()
		})
	}
}

// knownMetadata are the finalizers and annotations today's manager reads
// and releases: an earlier version's must all be among them.
var knownMetadata = map[string]bool{
	agentGroupFinalizer: true, accountFinalizer: true, secretFinalizer: true,
	deepcallv1.AnnotationCreateIntent: true, deepcallv1.AnnotationResync: true,
}

// restoredStory is a story whose objects were put back from a snapshot.
type restoredStory struct {
	*story
	// restored maps the snapshot's namespaces to the story's.
	restored map[string]string
	objects  []*unstructured.Unstructured
}

// restoreStory puts the snapshot's remote groups into a new simulator and
// its objects into new namespaces, status and deletion included, then
// starts today's manager on them. It returns the simulator user.
func restoreStory(t *testing.T, snap *history.Snapshot) (*restoredStory, string) {
	t.Helper()
	s := &restoredStory{story: &story{t: t, sim: sim.New(sim.Options{}), rps: 50, createSettle: 6 * time.Second, allowInsecureLoopback: true},
		restored: map[string]string{}}
	var user, token string
	for _, o := range snap.Objects {
		if o.GetKind() == "Secret" {
			data, _, _ := unstructured.NestedStringMap(o.Object, "data")
			u, err1 := base64.StdEncoding.DecodeString(data["userId"])
			tok, err2 := base64.StdEncoding.DecodeString(data["token"])
			s.must(errors.Join(err1, err2))
			user, token = string(u), string(tok)
		}
	}
	s.sim.AddUser(sim.User{ID: user, Token: token, Agents: sim.AgentRange(1000, 1099)})
	var remote bytes.Buffer
	s.must(json.NewEncoder(&remote).Encode(snap.Remote))
	s.must(s.sim.Load(&remote))
	s.simURL = serve(t, s.sim)
	s.must(snap.Rehost(s.simURL))

	for _, ns := range []string{history.Namespace, history.WaitingNamespace} {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "stored-"}}
		s.must(k8s.Create(ctxBG, n))
		s.restored[ns] = n.Name
	}
	s.ns, s.others = s.restored[history.Namespace], []string{s.restored[history.WaitingNamespace]}
	clusterAccount := history.ClusterAccountName + "-" + s.ns
	for _, o := range snap.Objects {
		o = o.DeepCopy()
		for _, f := range append(o.GetFinalizers(), slices.Collect(maps.Keys(o.GetAnnotations()))...) {
			if strings.Contains(f, "deepcall.agentgroups.dev/") && !knownMetadata[f] {
				t.Errorf("%s %s: today's manager does not know %q", o.GetKind(), o.GetName(), f)
			}
		}
		if o.GetNamespace() != "" {
			o.SetNamespace(s.restored[o.GetNamespace()])
		}
		switch o.GetKind() {
		case "ClusterAccount":
			o.SetName(clusterAccount)
			s.must(unstructured.SetNestedField(o.Object, s.ns, "spec", "credentialsSecretRef", "namespace"))
		case "AgentGroup":
			if kind, _, _ := unstructured.NestedString(o.Object, "spec", "accountRef", "kind"); kind == "ClusterAccount" {
				s.must(unstructured.SetNestedField(o.Object, clusterAccount, "spec", "accountRef", "name"))
			}
		}
		s.objects = append(s.objects, restore(t, o))
	}
	s.start()
	t.Cleanup(s.stop)
	return s, user
}

// restore creates the object as stored: metadata and spec, then its status
// as the earlier version wrote it (byte for byte, through the status
// subresource), then its deletion if it was being deleted.
func restore(t *testing.T, stored *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	o := stored.DeepCopy()
	deleting := o.GetDeletionTimestamp() != nil
	o.SetDeletionTimestamp(nil)
	status, hasStatus, _ := unstructured.NestedMap(o.Object, "status")
	unstructured.RemoveNestedField(o.Object, "status")
	if err := k8s.Create(ctxBG, o); err != nil {
		t.Fatalf("restore %s %s: %v", o.GetKind(), o.GetName(), err)
	}
	if hasStatus {
		if err := unstructured.SetNestedMap(o.Object, status, "status"); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Status().Update(ctxBG, o); err != nil {
			t.Fatalf("restore the status of %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	if deleting {
		if err := k8s.Delete(ctxBG, o); err != nil {
			t.Fatalf("restore the deletion of %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	return o
}

// deleteAll deletes the AgentGroups, then the Accounts, then the Secrets,
// and waits for each to go: every finalizer is released.
func (s *restoredStory) deleteAll() {
	s.t.Helper()
	for _, kind := range []string{"AgentGroup", "Account", "ClusterAccount", "Secret"} {
		var these []*unstructured.Unstructured
		for _, o := range s.objects {
			if o.GetKind() == kind {
				these = append(these, o)
				if err := k8s.Delete(ctxBG, o); client.IgnoreNotFound(err) != nil {
					s.t.Fatal(err)
				}
			}
		}
		s.eventually(30*time.Second, func() error {
			for _, o := range these {
				got := o.DeepCopy()
				err := k8s.Get(ctxBG, client.ObjectKeyFromObject(o), got)
				if err == nil {
					return fmt.Errorf("%s %s/%s is still there, finalizers %v", kind, o.GetNamespace(), o.GetName(), got.GetFinalizers())
				}
				if !apierrors.IsNotFound(err) {
					return err
				}
			}
			return nil
		})
	}
}

// A status this version cannot read (a later version's form, or a value
// written by hand that the schema allows): the informer still lists every
// AgentGroup, the others carry on, and that one says which field, does
// nothing, and keeps its remote group when deleted, until the field reads.
func TestUnreadableStatusStallsOnlyItsAgentGroup(t *testing.T) {
	s := newStory(t)
	s.group("fine", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	s.group("odd", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1002") })
	s.waitReady("fine")
	odd := s.waitReady("odd")

	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(deepcallv1.GroupVersion.WithKind("AgentGroup"))
	s.must(k8s.Get(ctxBG, key(s.ns, "odd"), stored))
	// RFC 3339 allows a lower-case t and z, and so does the schema's
	// date-time; the Go type does not.
	s.must(unstructured.SetNestedField(stored.Object, "2026-11-24t21:41:28z", "status", "lastSyncTime"))
	s.must(k8s.Status().Update(ctxBG, stored))
	s.touch("odd")

	g := s.waitReason("odd", metav1.ConditionFalse, deepcallv1.ReasonStatusUnreadable)
	if c := findCondition(g, deepcallv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue ||
		!strings.HasPrefix(c.Message, "this version of the operator cannot read status.lastSyncTime (") {
		t.Errorf("Stalled: %+v", c)
	}
	if !slices.Contains(s.events("odd"), deepcallv1.ReasonStatusUnreadable) {
		t.Errorf("events %v, want a %s warning", s.events("odd"), deepcallv1.ReasonStatusUnreadable)
	}
	s.update("fine", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001", "1003") })
	s.waitReady("fine")

	// Deleting it waits: what the unreadable status records is unknown.
	writesBefore := writes(s.calls())
	s.must(k8s.Delete(ctxBG, g))
	s.eventually(10*time.Second, func() error {
		if g := s.get("odd"); g.DeletionTimestamp.IsZero() {
			return fmt.Errorf("not being deleted yet")
		}
		return nil
	})
	s.touch("odd")
	s.waitReason("odd", metav1.ConditionFalse, deepcallv1.ReasonStatusUnreadable)
	if w := writes(s.calls()); w != writesBefore || len(s.remote()) != 2 {
		t.Fatalf("writes %d → %d, remote %+v: the unreadable AgentGroup acted", writesBefore, w, s.remote())
	}

	// A person removes the field: the deletion goes through.
	s.must(k8s.Get(ctxBG, key(s.ns, "odd"), stored))
	unstructured.RemoveNestedField(stored.Object, "status", "lastSyncTime")
	s.must(k8s.Status().Update(ctxBG, stored))
	s.touch("odd")
	s.waitGone("odd")
	for _, r := range s.remote() {
		if fmt.Sprint(r.ID) == odd.Status.GroupID {
			t.Errorf("remote group %s of the deleted AgentGroup is still there", odd.Status.GroupID)
		}
	}
}

// An Account's status holds only what its passes find: a field this
// version cannot read is written anew on the next pass, with a warning,
// and its AgentGroups carry on.
func TestUnreadableAccountStatusIsWrittenAnew(t *testing.T) {
	s := newStory(t)
	s.group("sales", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	s.waitReady("sales")

	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(deepcallv1.GroupVersion.WithKind("Account"))
	s.must(k8s.Get(ctxBG, key(s.ns, "default"), stored))
	s.must(unstructured.SetNestedField(stored.Object, "2026-11-24t21:41:28z", "status", "lastSyncTime"))
	s.must(k8s.Status().Update(ctxBG, stored))
	s.must(k8s.Get(ctxBG, key(s.ns, "default"), stored))
	stored.SetAnnotations(map[string]string{"test/touch": "1"})
	s.must(k8s.Update(ctxBG, stored))

	s.eventually(20*time.Second, func() error {
		acct := &deepcallv1.Account{}
		if err := k8s.Get(ctxBG, key(s.ns, "default"), acct); err != nil {
			return err
		}
		if len(acct.Status.Unreadable) > 0 || acct.Status.LastSyncTime == nil || meta.FindStatusCondition(acct.Status.Conditions, deepcallv1.ConditionReady) == nil {
			return fmt.Errorf("status not written anew: %+v", acct.Status)
		}
		return nil
	})
	if events := s.events("default"); !slices.Contains(events, deepcallv1.ReasonStatusUnreadable) {
		t.Errorf("Account events %v, want a %s warning", events, deepcallv1.ReasonStatusUnreadable)
	}
	s.update("sales", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001", "1002") })
	s.waitReady("sales")
}
