package plugin

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

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

// manifest is the AgentGroup of one remote group, as import writes it:
// metadata.name and namespace, and a spec that is the remote group as the
// controller reads it (name, status, members and receivers in the
// planner's order), so that applying it is InSync with no write. No status
// and no empty field.
func manifest(ns string, ref deepcallv1.AccountReference, d groupapi.GroupDetail, manage bool) (*unstructured.Unstructured, error) {
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
	obj.SetName(objectName(d.Group.Name, d.Group.ID))
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

// The AgentGroup CRD's rules a remote group may break (a name made in the
// UI, an id of another shape): kept in step with api/v1alpha1's markers
// by TestImportRulesAreTheCRDs.
const (
	maxGroupName = 100
	maxMembers   = 5000
	maxReceivers = 1000
)

var (
	// groupNamePattern is the CEL rule of spec.groupName (RE2, as Go's).
	groupNamePattern = regexp.MustCompile(`^\S(.*\S)?$`)
	// idPattern is spec.groupId's and each agent id's pattern.
	idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// importable reports why the API server would refuse spec, in words that
// say what to change in DeepCall.
func importable(spec deepcallv1.AgentGroupSpec) error {
	var why []string
	switch name := spec.GroupName; {
	case name == "":
		why = append(why, "it has no name")
	case utf8.RuneCountInString(name) > maxGroupName:
		why = append(why, fmt.Sprintf("its name is %d characters long; spec.groupName allows %d", utf8.RuneCountInString(name), maxGroupName))
	case !groupNamePattern.MatchString(name):
		why = append(why, "its name starts or ends with a space or holds a line break, which spec.groupName does not allow")
	}
	if !idPattern.MatchString(spec.GroupID) {
		why = append(why, fmt.Sprintf("its id %q does not match spec.groupId's pattern %s", spec.GroupID, idPattern))
	}
	if len(spec.Members) > maxMembers {
		why = append(why, fmt.Sprintf("it has %d members; spec.members allows %d", len(spec.Members), maxMembers))
	}
	if len(spec.ReceiveCall) > maxReceivers {
		why = append(why, fmt.Sprintf("%d of its members receive calls; spec.receiveCall allows %d", len(spec.ReceiveCall), maxReceivers))
	}
	for _, id := range append(append([]deepcallv1.AgentID{}, spec.Members...), spec.ReceiveCall...) {
		if !idPattern.MatchString(string(id)) {
			why = append(why, fmt.Sprintf("agent id %q does not match the pattern %s", id, idPattern))
			break
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("%s", strings.Join(why, "; "))
	}
	return nil
}
