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
				return history.GetAgentGroup(ctx, k8s, s.restored[ns], name)
			}
			s.eventually(60*time.Second, func() error {
				if problems := snap.Converged(ctxBG, user, s.sim.Groups(user), resyncRequest, get); len(problems) > 0 {
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

// resyncRequest is asked of every restored AgentGroup: its answer shows
// that today's manager looked at it.
const resyncRequest = "today"

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
			annotations := o.GetAnnotations()
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations[deepcallv1.AnnotationResync] = resyncRequest // answered by today's first pass
			o.SetAnnotations(annotations)
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
