package v1alpha1_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

func TestCreateIntent(t *testing.T) {
	annotated := func(raw string) map[string]string {
		return map[string]string{deepcallv1.AnnotationCreateIntent: raw}
	}
	cases := map[string]struct {
		annotations map[string]string
		status      deepcallv1.AgentGroupStatus
		want        *deepcallv1.PendingCreate
		err         string
	}{
		"none": {},
		"the annotation's": {annotations: annotated(`{"name":"Sales","startedAt":null,"remoteAccount":"u1@h"}`),
			want: &deepcallv1.PendingCreate{Name: "Sales", RemoteAccount: "u1@h"}},
		"the status field of earlier versions": {status: deepcallv1.AgentGroupStatus{PendingCreate: &deepcallv1.PendingCreate{Name: "Sales"}},
			want: &deepcallv1.PendingCreate{Name: "Sales"}},
		"bound: none": {annotations: annotated(`{"name":"Sales"}`), status: deepcallv1.AgentGroupStatus{GroupID: "12"}},
		"not JSON": {annotations: annotated("{"),
			err: "annotation deepcall.agentgroups.dev/create-intent is not a create intent (unexpected end of JSON input): an add may have been sent; restore it, or remove it once sure no remote group was made for this AgentGroup"},
		"no name": {annotations: annotated(`{}`),
			err: "annotation deepcall.agentgroups.dev/create-intent is not a create intent (<nil>): an add may have been sent; restore it, or remove it once sure no remote group was made for this AgentGroup"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Annotations: tc.annotations}, Status: tc.status}
			got, err := g.CreateIntent()
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" || msg != tc.err {
				t.Errorf("CreateIntent (-want +got):\n%s\nerror %q, want %q", diff, msg, tc.err)
			}
		})
	}
}
