package plan_test

import (
	"testing"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// The reasons the decisions report are the API's: this external test
// imports api/v1alpha1, which package plan itself does not.
func TestReasonsAreTheAPIs(t *testing.T) {
	for got, want := range map[plan.Reason]string{
		plan.ReasonNameConflict:        deepcallv1.ReasonNameConflict,
		plan.ReasonDuplicateGroupName:  deepcallv1.ReasonDuplicateGroupName,
		plan.ReasonGroupIDInUse:        deepcallv1.ReasonGroupIDInUse,
		plan.ReasonGroupIDMismatch:     deepcallv1.ReasonGroupIDMismatch,
		plan.ReasonRemoteGroupNotFound: deepcallv1.ReasonRemoteGroupNotFound,
		plan.ReasonAccountChanged:      deepcallv1.ReasonAccountChanged,
	} {
		if string(got) != want {
			t.Errorf("plan reason %q, API reason %q", got, want)
		}
	}
}
