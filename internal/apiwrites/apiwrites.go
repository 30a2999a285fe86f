// Package apiwrites reads what kube-apiserver counts of the writes made to
// it (apiserver_request_total), by resource and verb: the bill a platform
// team measures. The bench and the envtest stories use it.
package apiwrites

import (
	"bytes"
	"context"
	"fmt"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/rest"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// Key is one kind of write: the resource as the API server names it (with
// "/subresource"; events of the core API group are "core events", those of
// events.k8s.io "events") and the verb (POST, PUT, PATCH, APPLY, DELETE;
// the metric counts a delete of a collection as a DELETE too).
type Key struct{ Resource, Verb string }

func (k Key) String() string { return k.Resource + " " + k.Verb }

// MutatingVerbs are the verbs kube-apiserver's metrics give writes.
var MutatingVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true}

// CountedResource is the name writes to a resource are reported under, or
// "" if the resource is not one of those counted: AgentGroups, Accounts,
// Events, Secrets and Leases.
func CountedResource(group, resource, subresource string) string {
	switch resource {
	case "agentgroups", "accounts":
		if group != deepcallv1.GroupVersion.Group {
			return ""
		}
	case "events":
		switch group {
		case "":
			resource = "core events"
		case "events.k8s.io":
		default:
			return ""
		}
	case "secrets":
		if group != "" {
			return ""
		}
	case "leases":
		if group != "coordination.k8s.io" {
			return ""
		}
	default:
		return ""
	}
	if subresource != "" {
		return resource + "/" + subresource
	}
	return resource
}

// Read returns apiserver_request_total for the counted resources and the
// mutating verbs, summed over every other label, from kube-apiserver's
// /metrics (a GET of a non-resource URL: not a write itself); failed is the
// part answered with a code ≥ 400.
func Read(ctx context.Context, c rest.Interface) (all, failed map[Key]float64, err error) {
	body, err := c.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	f, ok := families["apiserver_request_total"]
	if !ok {
		return nil, nil, fmt.Errorf("kube-apiserver /metrics has no apiserver_request_total")
	}
	all, failed = map[Key]float64{}, map[Key]float64{}
	for _, mt := range f.GetMetric() {
		l := map[string]string{}
		for _, p := range mt.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		if !MutatingVerbs[l["verb"]] || l["dry_run"] != "" {
			continue
		}
		res := CountedResource(l["group"], l["resource"], l["subresource"])
		if res == "" {
			continue
		}
		k := Key{res, l["verb"]}
		v := mt.GetCounter().GetValue()
		all[k] += v
		if len(l["code"]) == 3 && l["code"] >= "400" {
			failed[k] += v
		}
	}
	return all, failed, nil
}
