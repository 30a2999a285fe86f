package plugin

import (
	"fmt"
	"regexp"
	"slices"
	"unicode/utf8"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// The AgentGroup CRD's rules that a decoded AgentGroup can still break (a
// name made in the DeepCall UI, an id of another shape, a typo in a
// manifest): import checks them before writing a manifest, diff before
// judging one, so that neither calls "create" what the API server would
// refuse. Kept in step with api/v1alpha1's markers by
// TestCRDRulesAreTheCRDs.
const (
	maxGroupName   = 100
	maxObjectName  = 100 // metadata.name, when it is the group name
	maxAccountName = 253
	maxMembers     = 5000
	maxReceivers   = 1000
)

var (
	// groupNamePattern is the CEL rule of spec.groupName (RE2, as Go's).
	groupNamePattern = regexp.MustCompile(`^\S(.*\S)?$`)
	// idPattern is spec.groupId's and each agent id's pattern.
	idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

	// The enums, as the CRD lists them.
	accountKinds       = []string{deepcallv1.KindAccount, deepcallv1.KindClusterAccount}
	managementPolicies = []string{string(deepcallv1.ManagementManage), string(deepcallv1.ManagementObserve)}
	deletionPolicies   = []string{string(deepcallv1.DeletionDelete), string(deepcallv1.DeletionOrphan)}
	adoptionPolicies   = []string{string(deepcallv1.AdoptionNever), string(deepcallv1.AdoptionByName)}
)

// crdViolations lists, in words that name the field and the rule, what
// the API server would refuse in g (nil: nothing). An empty string field
// is taken as absent: the types cannot tell them apart. The rule that
// receiveCall is a subset of members is the planner's (plan.Desired's
// Validate).
func crdViolations(g *deepcallv1.AgentGroup) []string {
	var why []string
	add := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }
	spec := g.Spec
	switch name := spec.GroupName; {
	case name == "":
		if n := utf8.RuneCountInString(g.Name); n > maxObjectName {
			add("metadata.name is %d characters long and spec.groupName is not set: a group name is at most %d characters, set spec.groupName", n, maxObjectName)
		}
	case utf8.RuneCountInString(name) > maxGroupName:
		add("spec.groupName is %d characters long; the CRD allows at most %d", utf8.RuneCountInString(name), maxGroupName)
	case !groupNamePattern.MatchString(name):
		add("spec.groupName %q starts or ends with a space or holds a line break; the CRD's rule is %s", name, groupNamePattern)
	}
	if spec.GroupID != "" && !idPattern.MatchString(spec.GroupID) {
		add("spec.groupId %q does not match the CRD's pattern %s", spec.GroupID, idPattern)
	}
	if n := utf8.RuneCountInString(spec.AccountRef.Name); n > maxAccountName {
		add("spec.accountRef.name is %d characters long; the CRD allows at most %d", n, maxAccountName)
	}
	for _, e := range []struct {
		field, value string
		allowed      []string
	}{
		{"spec.accountRef.kind", spec.AccountRef.Kind, accountKinds},
		{"spec.managementPolicy", string(spec.ManagementPolicy), managementPolicies},
		{"spec.deletionPolicy", string(spec.DeletionPolicy), deletionPolicies},
		{"spec.adoptionPolicy", string(spec.AdoptionPolicy), adoptionPolicies},
	} {
		if e.value != "" && !slices.Contains(e.allowed, e.value) {
			add("%s %q is not one of %v", e.field, e.value, e.allowed)
		}
	}
	for _, l := range []struct {
		field string
		ids   []deepcallv1.AgentID
		max   int
	}{{"spec.members", spec.Members, maxMembers}, {"spec.receiveCall", spec.ReceiveCall, maxReceivers}} {
		if len(l.ids) > l.max {
			add("%s has %d agents; the CRD allows at most %d", l.field, len(l.ids), l.max)
		}
		seen := map[deepcallv1.AgentID]bool{}
		for _, id := range l.ids {
			if !idPattern.MatchString(string(id)) {
				add("%s: agent id %q does not match the CRD's pattern %s", l.field, id, idPattern)
				break
			}
			if seen[id] {
				add("%s lists agent %s twice; the CRD's list is a set", l.field, id)
				break
			}
			seen[id] = true
		}
	}
	return why
}
