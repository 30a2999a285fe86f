package controllers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

func TestDeletionPolicies(t *testing.T) {
	s := newStory(t)
	s.group("temp", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "Temp" })
	s.group("keep", func(g *deepcallv1.AgentGroup) {
		g.Spec.GroupName = "Keep"
		g.Spec.DeletionPolicy = deepcallv1.DeletionOrphan
	})
	s.group("paused", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "Paused" })
	s.waitReady("temp")
	s.waitReady("keep")
	s.waitReady("paused")
	s.update("paused", func(g *deepcallv1.AgentGroup) { g.Spec.Suspend = true })
	s.waitReason("paused", metav1.ConditionTrue, deepcallv1.ReasonSuspended)

	// The remote group is already gone: "not found" counts as deleted.
	gone := remoteID(t, s.get("temp"))
	s.must(s.sim.DeleteGroup(testUser, gone))
	s.group("twice", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "Twice" })
	s.waitReady("twice")

	for _, name := range []string{"temp", "keep", "paused", "twice"} {
		s.must(k8s.Delete(ctxBG, s.get(name)))
	}
	for _, name := range []string{"temp", "keep", "paused", "twice"} {
		s.waitGone(name)
	}
	var names []string
	for _, r := range s.remote() {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	if fmt.Sprint(names) != "[Keep Paused]" {
		t.Errorf("remote groups left: %v, want [Keep Paused] (Orphan and suspended)", names)
	}
}

// TestNamespaceDeletion deletes a namespace holding the Secret, the Account
// and many AgentGroups at once, with kube-controller-manager's namespace
// controller doing it as in a real cluster.
func TestNamespaceDeletion(t *testing.T) {
	s := newStory(t)
	startNamespaceController(t)
	const n = 20
	for i := range n {
		s.group(fmt.Sprintf("g%02d", i), func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	}
	for i := range n {
		s.waitReady(fmt.Sprintf("g%02d", i))
	}
	if got := len(s.remote()); got != n {
		t.Fatalf("remote groups %d, want %d", got, n)
	}
	s.must(k8s.Delete(ctxBG, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns}}))
	s.eventually(90*time.Second, func() error {
		err := k8s.Get(ctxBG, key("", s.ns), &corev1.Namespace{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("namespace %s still there (%v); remote groups left: %d", s.ns, err, len(s.remote()))
	})
	if r := s.remote(); len(r) != 0 {
		t.Errorf("remote groups left behind: %+v", r)
	}
}

// startNamespaceController runs bin/k8s/kube-controller-manager with only
// the namespace and garbage-collector controllers (envtest runs none).
func startNamespaceController(t *testing.T) {
	t.Helper()
	bin := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kube-controller-manager not built (make k8s-bins): %v", err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*localenv.Kubeconfig(restConfig), kubeconfig); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin,
		"--kubeconfig="+kubeconfig,
		"--controllers=namespace,garbagecollector",
		"--leader-elect=false",
		"--secure-port=0",
		"--cert-dir="+dir,
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("kube-controller-manager output:\n%s", tail(out.Bytes(), 4000))
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// TestDefaultDeletionPolicyOrphan: a cautious team runs the manager with
// --default-deletion-policy=Orphan. An AgentGroup that says nothing about
// deletion leaves its remote group when deleted; one that asks for Delete
// still gets it.
func TestDefaultDeletionPolicyOrphan(t *testing.T) {
	s := newStory(t, withDefaultDeletionPolicy(deepcallv1.DeletionOrphan))
	s.group("unsaid", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "Unsaid" })
	s.group("explicit", func(g *deepcallv1.AgentGroup) {
		g.Spec.GroupName = "Explicit"
		g.Spec.DeletionPolicy = deepcallv1.DeletionDelete
	})
	s.waitReady("unsaid")
	s.waitReady("explicit")
	if p := s.get("unsaid").Spec.DeletionPolicy; p != "" {
		t.Errorf("stored deletionPolicy %q: the API server defaulted it, so the manager's default can never apply", p)
	}
	for _, name := range []string{"unsaid", "explicit"} {
		s.must(k8s.Delete(ctxBG, s.get(name)))
	}
	s.waitGone("unsaid")
	s.waitGone("explicit")
	var names []string
	for _, r := range s.remote() {
		names = append(names, r.Name)
	}
	if fmt.Sprint(names) != "[Unsaid]" {
		t.Errorf("remote groups left: %v, want [Unsaid] (the manager's default, Orphan)", names)
	}
	s.eventually(10*time.Second, func() error {
		var list eventsv1.EventList
		s.must(k8s.List(ctxBG, &list, client.InNamespace(s.ns)))
		for _, e := range list.Items {
			if e.Regarding.Name == "unsaid" && e.Reason == deepcallv1.EventOrphaned && strings.Contains(e.Note, "--default-deletion-policy") {
				return nil
			}
		}
		return fmt.Errorf("no Orphaned event on unsaid naming --default-deletion-policy")
	})
}
