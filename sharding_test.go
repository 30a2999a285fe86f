package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

const baseID = "agentgroup-operator.deepcall.agentgroups.dev"

func TestLeaderElectionID(t *testing.T) {
	id := func(selector string) string {
		t.Helper()
		sel, err := parseWatchSelector(selector)
		if err != nil {
			t.Fatalf("parse %q: %v", selector, err)
		}
		got := leaderElectionID(baseID, sel)
		if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
			t.Errorf("Lease name %q for selector %q: %v", got, selector, errs)
		}
		return got
	}
	for _, s := range []string{"", "  "} {
		if got := id(s); got != baseID {
			t.Errorf("selector %q: Lease %q, want the unsharded %q", s, got, baseID)
		}
	}
	shard1, shard2, def := id(deepcallv1.ShardLabel+"=shard1"), id(deepcallv1.ShardLabel+"=shard2"), id("!"+deepcallv1.ShardLabel)
	if shard1 == shard2 || shard1 == def || shard2 == def || def == baseID {
		t.Errorf("shards share a Lease: shard1 %q, shard2 %q, default %q, unsharded %q", shard1, shard2, def, baseID)
	}
	for _, same := range []string{deepcallv1.ShardLabel + "=shard1", deepcallv1.ShardLabel + " = shard1"} {
		if got := id(same); got != shard1 {
			t.Errorf("selector %q: Lease %q, want %q as for %s=shard1", same, got, shard1, deepcallv1.ShardLabel)
		}
	}
	if a, b := id("team=a,tier=1"), id("tier=1,team=a"); a != b {
		t.Errorf("one selector spelt in two orders gets two Leases: %q and %q", a, b)
	}
}

func TestParseWatchSelectorRejects(t *testing.T) {
	for _, s := range []string{"key=shard 1", "=shard1", "key in (a", "!", "Bad Key=x"} {
		if sel, err := parseWatchSelector(s); err == nil {
			t.Errorf("selector %q accepted as %q, want an error", s, sel)
		}
	}
}

func TestCacheOptionsShardOnlyOwnKinds(t *testing.T) {
	if opts := cacheOptions(nil); len(opts.ByObject) != 0 || opts.DefaultTransform == nil {
		t.Errorf("unsharded cache options %+v: want no per-object selector and the managedFields transform", opts)
	}
	sel, err := parseWatchSelector("!" + deepcallv1.ShardLabel)
	if err != nil {
		t.Fatal(err)
	}
	opts := cacheOptions(sel)
	if opts.DefaultTransform == nil {
		t.Error("sharded cache options lost the managedFields transform")
	}
	var kinds []string
	for obj, by := range opts.ByObject {
		kinds = append(kinds, fmt.Sprintf("%T", obj))
		if by.Label == nil || by.Label.String() != "!"+deepcallv1.ShardLabel {
			t.Errorf("%T: label selector %v, want !%s", obj, by.Label, deepcallv1.ShardLabel)
		}
	}
	slices.Sort(kinds)
	if want := []string{"*v1alpha1.Account", "*v1alpha1.AgentGroup", "*v1alpha1.ClusterAccount"}; !slices.Equal(kinds, want) {
		t.Errorf("sharded kinds %v, want %v (Secrets, Namespaces and Events are never filtered)", kinds, want)
	}
}

// A Secret applied with kubectl carries its data again in an annotation:
// the metadata-only cache must not keep it; other objects keep theirs.
func TestStripForCacheDropsSecretAnnotations(t *testing.T) {
	secret := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name:        "helm-release",
		Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"token\":\"...\"}}"},
		Finalizers:  []string{"deepcall.agentgroups.dev/credentials-in-use"},
	}}
	got, err := stripForCache(secret)
	if err != nil {
		t.Fatal(err)
	}
	if m := got.(*metav1.PartialObjectMetadata); len(m.Annotations) != 0 || len(m.Finalizers) != 1 {
		t.Errorf("Secret metadata kept annotations %v or lost its finalizers %v", m.Annotations, m.Finalizers)
	}
	g := &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{
		Annotations:   map[string]string{deepcallv1.AnnotationCreateIntent: "{}"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	got, err = stripForCache(g)
	if err != nil {
		t.Fatal(err)
	}
	if a := got.(*deepcallv1.AgentGroup); len(a.Annotations) != 1 || len(a.ManagedFields) != 0 {
		t.Errorf("AgentGroup: annotations %v (want kept), managedFields %v (want dropped)", a.Annotations, a.ManagedFields)
	}
}

func TestParseWatchNamespaces(t *testing.T) {
	for in, want := range map[string][]string{
		"":                  nil,
		" , ":               nil,
		"team-a":            {"team-a"},
		"team-b, team-a,":   {"team-a", "team-b"},
		"team-a,team-a,b-1": {"b-1", "team-a"},
	} {
		got, err := parseWatchNamespaces(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("--watch-namespaces=%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Team-A", "team_a", "team-a,-b", "a/b", strings.Repeat("a", 64)} {
		if got, err := parseWatchNamespaces(in); err == nil {
			t.Errorf("--watch-namespaces=%q accepted as %q, want an error", in, got)
		}
	}
}

func TestInNamespacesKeepsShard(t *testing.T) {
	if opts := inNamespaces(cacheOptions(nil), nil); opts.DefaultNamespaces != nil || opts.DefaultTransform == nil {
		t.Errorf("cache options for all namespaces %+v: want no namespaces and the managedFields transform", opts)
	}
	sel, err := parseWatchSelector(deepcallv1.ShardLabel + "=shard1")
	if err != nil {
		t.Fatal(err)
	}
	opts := inNamespaces(cacheOptions(sel), []string{"team-a", "team-b"})
	if got := slices.Sorted(maps.Keys(opts.DefaultNamespaces)); !slices.Equal(got, []string{"team-a", "team-b"}) {
		t.Errorf("cached namespaces %v, want team-a and team-b", got)
	}
	if opts.DefaultTransform == nil {
		t.Error("namespaced cache options lost the managedFields transform")
	}
	for obj, by := range opts.ByObject {
		// controller-runtime defaults ByObject.Namespaces to
		// DefaultNamespaces, keeping the per-object label.
		if by.Namespaces != nil || by.Label == nil || by.Label.String() != deepcallv1.ShardLabel+"=shard1" {
			t.Errorf("%T: %+v, want the shard's label and the default namespaces", obj, by)
		}
	}
	if len(opts.ByObject) != 3 {
		t.Errorf("per-object options for %d kinds, want the 3 sharded ones", len(opts.ByObject))
	}
}
