package plugin

import (
	"fmt"
	"strings"
	"testing"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

func TestImportable(t *testing.T) {
	detail := func(name, id string, members, receivers int) groupapi.GroupDetail {
		d := groupapi.GroupDetail{Group: groupapi.Group{ID: id, Name: name, Enabled: true}}
		for i := range members {
			d.Members = append(d.Members, fmt.Sprintf("a%04d", i))
		}
		d.Receivers = d.Members[:receivers]
		return d
	}
	cases := map[string]struct {
		detail groupapi.GroupDetail
		want   string
	}{
		"ordinary":            {detail: detail("Sales Team", "12", 3, 1)},
		"100 characters":      {detail: detail(strings.Repeat("É", 100), "12", 0, 0)},
		"inner tab":           {detail: detail("Tab\tInside", "12", 0, 0)},
		"no name":             {detail: detail("", "12", 0, 0), want: "it has no name; change it in DeepCall and import again"},
		"101 characters":      {detail: detail(strings.Repeat("É", 101), "12", 0, 0), want: "spec.groupName is 101 characters long; the CRD allows at most 100; change it in DeepCall and import again"},
		"line break":          {detail: detail("Line\nBreak", "12", 0, 0), want: `spec.groupName "Line\nBreak" starts or ends with a space or holds a line break; the CRD's rule is ^\S(.*\S)?$; change it in DeepCall and import again`},
		"trailing space":      {detail: detail("Sales ", "12", 0, 0), want: `spec.groupName "Sales " starts or ends with a space or holds a line break; the CRD's rule is ^\S(.*\S)?$; change it in DeepCall and import again`},
		"id with a dot":       {detail: detail("Sales", "1.5", 0, 0), want: `spec.groupId "1.5" does not match the CRD's pattern ^[A-Za-z0-9_-]{1,64}$; change it in DeepCall and import again`},
		"5001 members":        {detail: detail("Sales", "12", 5001, 0), want: "spec.members has 5001 agents; the CRD allows at most 5000; change it in DeepCall and import again"},
		"1001 receivers":      {detail: detail("Sales", "12", 1001, 1001), want: "spec.receiveCall has 1001 agents; the CRD allows at most 1000; change it in DeepCall and import again"},
		"agent id with space": {detail: groupapi.GroupDetail{Group: groupapi.Group{ID: "12", Name: "Sales"}, Members: []string{"10 01"}}, want: `spec.members: agent id "10 01" does not match the CRD's pattern ^[A-Za-z0-9_-]{1,64}$; change it in DeepCall and import again`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj, err := manifest("team-a", "g", deepcallv1.AccountReference{Name: "default"}, tc.detail, false)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want || (err == nil) != (obj != nil) {
				t.Errorf("manifest: %q, want %q", got, tc.want)
			}
		})
	}
}
