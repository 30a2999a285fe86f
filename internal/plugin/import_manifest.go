package plugin

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// importPolicies are the policies an imported AgentGroup states: Observe
// and Orphan by default, so applying or deleting it never changes the
// remote group; Manage and Delete with --manage. Both are always written,
// so the manifest says what deleting it does whatever the manager's
// --default-deletion-policy.
func importPolicies(manage bool) (deepcallv1.ManagementPolicy, deepcallv1.DeletionPolicy) {
	if manage {
		return deepcallv1.ManagementManage, deepcallv1.DeletionDelete
	}
	return deepcallv1.ManagementObserve, deepcallv1.DeletionOrphan
}

// manifest is the AgentGroup name in namespace ns of one remote group, as
// import writes it: a spec that is the remote group as the controller
// reads it (name, status, members and receivers in the planner's order),
// so that applying it is InSync with no write. No status and no empty
// field.
func manifest(ns, name string, ref deepcallv1.AccountReference, d groupapi.GroupDetail, manage bool) (*unstructured.Unstructured, error) {
	management, deletion := importPolicies(manage)
	spec := deepcallv1.AgentGroupSpec{
		AccountRef:       ref,
		GroupID:          d.Group.ID,
		GroupName:        d.Group.Name,
		Members:          agentIDs(plan.SortedIDs(d.Members)),
		ReceiveCall:      agentIDs(plan.SortedIDs(d.Receivers)),
		Enabled:          ptr.To(d.Group.Enabled),
		ManagementPolicy: management,
		DeletionPolicy:   deletion,
	}
	if err := importable(spec); err != nil {
		return nil, err
	}
	specMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&spec)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"spec": specMap}}
	obj.SetGroupVersionKind(deepcallv1.GroupVersion.WithKind("AgentGroup"))
	obj.SetName(name)
	obj.SetNamespace(ns)
	return obj, nil
}

func agentIDs(ids []string) []deepcallv1.AgentID {
	if len(ids) == 0 {
		return nil
	}
	out := make([]deepcallv1.AgentID, len(ids))
	for i, id := range ids {
		out[i] = deepcallv1.AgentID(id)
	}
	return out
}

// importable reports why the API server would refuse spec, or the
// operator would not bind it to its group, in words that say what to
// change in DeepCall.
func importable(spec deepcallv1.AgentGroupSpec) error {
	var why []string
	if spec.GroupName == "" {
		why = append(why, "it has no name")
	}
	if spec.GroupID == "" {
		why = append(why, "it has no id")
	}
	why = append(why, crdViolations(&deepcallv1.AgentGroup{Spec: spec})...)
	if len(why) > 0 {
		return fmt.Errorf("%s; change it in DeepCall and import again", strings.Join(why, "; "))
	}
	return nil
}
