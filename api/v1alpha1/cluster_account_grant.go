package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// AllowsNamespace reports whether the ClusterAccount lends its credentials
// to a namespace with these labels: its allowedNamespaces selects them
// (absent: no namespace, empty: all). A selector that does not parse (the
// schema cannot check operators and values) allows none. When it does not,
// why says so, in the words of NotAllowedMessage. The operator and
// `kubectl agentgroup diff` both decide with it.
func (ca *ClusterAccount) AllowsNamespace(namespaceLabels map[string]string) (allowed bool, why string) {
	if ca.Spec.AllowedNamespaces == nil {
		return false, "it has no spec.allowedNamespaces"
	}
	sel, err := metav1.LabelSelectorAsSelector(ca.Spec.AllowedNamespaces)
	if err != nil {
		return false, fmt.Sprintf("its spec.allowedNamespaces is not a valid selector (%v)", err)
	}
	if !sel.Matches(labels.Set(namespaceLabels)) {
		return false, "its spec.allowedNamespaces does not select the namespace's labels"
	}
	return true, ""
}

// NotAllowedMessage is the message of an AgentGroup's AccountNotAllowed
// when the ClusterAccount does not allow its namespace, for the why
// AllowsNamespace gave.
func (ca *ClusterAccount) NotAllowedMessage(namespace, why string) string {
	return fmt.Sprintf("ClusterAccount %q does not allow namespace %s: %s (ask the platform team that owns it)", ca.Name, namespace, why)
}
