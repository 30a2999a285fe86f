package v1alpha1_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// The operator and `kubectl agentgroup diff` decide AccountNotAllowed
// with AllowsNamespace and word it with NotAllowedMessage.
func TestClusterAccountAllowsNamespace(t *testing.T) {
	tenant := map[string]string{"tenant": "yes"}
	cases := map[string]struct {
		selector *metav1.LabelSelector
		labels   map[string]string
		allowed  bool
		message  string
	}{
		"no allowedNamespaces": {labels: tenant,
			message: `ClusterAccount "shared" does not allow namespace team-a: it has no spec.allowedNamespaces (ask the platform team that owns it)`},
		"empty: every namespace": {selector: &metav1.LabelSelector{}, allowed: true},
		"labels selected":        {selector: &metav1.LabelSelector{MatchLabels: tenant}, labels: map[string]string{"tenant": "yes", "team": "a"}, allowed: true},
		"labels not selected": {selector: &metav1.LabelSelector{MatchLabels: tenant}, labels: map[string]string{"tenant": "no"},
			message: `ClusterAccount "shared" does not allow namespace team-a: its spec.allowedNamespaces does not select the namespace's labels (ask the platform team that owns it)`},
		"no labels": {selector: &metav1.LabelSelector{MatchLabels: tenant},
			message: `ClusterAccount "shared" does not allow namespace team-a: its spec.allowedNamespaces does not select the namespace's labels (ask the platform team that owns it)`},
		"a selector that does not parse": {selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tenant", Operator: "Near"}}}, labels: tenant,
			message: `ClusterAccount "shared" does not allow namespace team-a: its spec.allowedNamespaces is not a valid selector ("Near" is not a valid label selector operator) (ask the platform team that owns it)`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ca := &deepcallv1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Spec: deepcallv1.ClusterAccountSpec{AllowedNamespaces: tc.selector}}
			allowed, why := ca.AllowsNamespace(tc.labels)
			message := ""
			if !allowed {
				message = ca.NotAllowedMessage("team-a", why)
			}
			if allowed != tc.allowed || message != tc.message {
				t.Errorf("allowed %v, message %q; want %v, %q", allowed, message, tc.allowed, tc.message)
			}
		})
	}
}
