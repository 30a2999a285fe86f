package main

import (
	"fmt"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
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
	shard1, shard2, def := id(ShardLabel+"=shard1"), id(ShardLabel+"=shard2"), id("!"+ShardLabel)
	if shard1 == shard2 || shard1 == def || shard2 == def || def == baseID {
		t.Errorf("shards share a Lease: shard1 %q, shard2 %q, default %q, unsharded %q", shard1, shard2, def, baseID)
	}
	for _, same := range []string{ShardLabel + "=shard1", ShardLabel + " = shard1"} {
		if got := id(same); got != shard1 {
			t.Errorf("selector %q: Lease %q, want %q as for %s=shard1", same, got, shard1, ShardLabel)
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
	sel, err := parseWatchSelector("!" + ShardLabel)
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
		if by.Label == nil || by.Label.String() != "!"+ShardLabel {
			t.Errorf("%T: label selector %v, want !%s", obj, by.Label, ShardLabel)
		}
	}
	slices.Sort(kinds)
	if want := []string{"*v1alpha1.Account", "*v1alpha1.AgentGroup"}; !slices.Equal(kinds, want) {
		t.Errorf("sharded kinds %v, want %v (Secrets and Events are never filtered)", kinds, want)
	}
}
