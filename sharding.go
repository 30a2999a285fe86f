package main

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// parseWatchSelector parses --watch-label-selector; nil when it selects
// everything.
func parseWatchSelector(s string) (labels.Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a label selector: %w", s, err)
	}
	if sel.Empty() {
		return nil, nil
	}
	return sel, nil
}

// leaderElectionID is the name of the Lease the managers watching sel
// elect their leader with: base alone when they watch everything, else
// base with a hash of the selector appended, so that each shard elects its
// own leader. The selector is hashed as labels.Parse prints it, so spaces
// and the order of its terms do not change the Lease.
func leaderElectionID(base string, sel labels.Selector) string {
	if sel == nil || sel.Empty() {
		return base
	}
	h := fnv.New32a()
	h.Write([]byte(sel.String()))
	return fmt.Sprintf("%s-%08x", base, h.Sum32())
}

// cacheOptions scopes the cache of the operator's own kinds to sel (nil:
// everything). Only those kinds are sharded: Secrets and Events are not,
// so nobody has to label a Secret, and the reconcilers find the Secret of
// any Account they see.
func cacheOptions(sel labels.Selector) cache.Options {
	opts := cache.Options{DefaultTransform: stripForCache}
	if sel != nil {
		opts.ByObject = map[client.Object]cache.ByObject{
			&deepcallv1.Account{}:        {Label: sel},
			&deepcallv1.ClusterAccount{}: {Label: sel},
			&deepcallv1.AgentGroup{}:     {Label: sel},
		}
	}
	return opts
}

// stripForCache drops what nothing here reads before an object enters the
// cache: managedFields (the cache of 10,000 AgentGroups is smaller and
// cheaper to copy), and the annotations of objects cached as metadata only
// (Secrets), where kubectl's last-applied-configuration would otherwise
// keep a copy of every Secret's data in memory.
func stripForCache(obj any) (any, error) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		m.Annotations = nil
	}
	return cache.TransformStripManagedFields()(obj)
}

// parseWatchNamespaces parses --watch-namespaces, a comma-separated list:
// the names sorted and without repeats, nil for all namespaces.
func parseWatchNamespaces(s string) ([]string, error) {
	var out []string
	for _, ns := range strings.Split(s, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		out = append(out, ns)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// inNamespaces scopes the cache to namespaces (nil: all of them), keeping
// opts' per-object label selectors: every namespaced kind the manager
// reads, Secrets included, is then listed and watched only
// there, so the manager needs no permission anywhere else.
func inNamespaces(opts cache.Options, namespaces []string) cache.Options {
	if len(namespaces) == 0 {
		return opts
	}
	opts.DefaultNamespaces = make(map[string]cache.Config, len(namespaces))
	for _, ns := range namespaces {
		opts.DefaultNamespaces[ns] = cache.Config{}
	}
	return opts
}
