// Package v1alpha1 contains the API types of the deepcall.agentgroups.dev
// group: Account (one DeepCall account and its credentials) and AgentGroup
// (one remote agent group, managed declaratively).
//
// +kubebuilder:object:generate=true
// +groupName=deepcall.agentgroups.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "deepcall.agentgroups.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Account{}, &AccountList{}, &ClusterAccount{}, &ClusterAccountList{}, &AgentGroup{}, &AgentGroupList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
