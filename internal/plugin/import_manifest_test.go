package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// import checks the few CRD rules a remote group can break before writing
// a manifest; they must be the CRD's own.
func TestImportRulesAreTheCRDs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "deepcall.agentgroups.dev_agentgroups.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties struct {
							Spec struct {
								Properties map[string]property
							}
						}
					} `json:"openAPIV3Schema"`
				}
			}
		}
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties.Spec.Properties
	// The rule is a CEL string literal: each backslash of the pattern doubled.
	celEscaped := strings.ReplaceAll(groupNamePattern.String(), `\`, `\\`)
	name, id, members, receivers := spec["groupName"], spec["groupId"], spec["members"], spec["receiveCall"]
	checks := []struct {
		what      string
		got, want any
	}{
		{"groupName maxLength", name.MaxLength, maxGroupName},
		{"groupName rule", len(name.Rules) == 1 && name.Rules[0].Rule == "self.matches('"+celEscaped+"')", true},
		{"groupId pattern", id.Pattern, idPattern.String()},
		{"members maxItems", members.MaxItems, maxMembers},
		{"members pattern", members.Items.Pattern, idPattern.String()},
		{"receiveCall maxItems", receivers.MaxItems, maxReceivers},
		{"receiveCall pattern", receivers.Items.Pattern, idPattern.String()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: the CRD has %v, import checks %v", c.what, c.got, c.want)
		}
	}
}

type property struct {
	MaxLength int    `json:"maxLength"`
	MaxItems  int    `json:"maxItems"`
	Pattern   string `json:"pattern"`
	Items     struct {
		Pattern string `json:"pattern"`
	} `json:"items"`
	Rules []struct {
		Rule string `json:"rule"`
	} `json:"x-kubernetes-validations"`
}

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
		"no name":             {detail: detail("", "12", 0, 0), want: "it has no name"},
		"101 characters":      {detail: detail(strings.Repeat("É", 101), "12", 0, 0), want: "its name is 101 characters long; spec.groupName allows 100"},
		"line break":          {detail: detail("Line\nBreak", "12", 0, 0), want: "its name starts or ends with a space or holds a line break, which spec.groupName does not allow"},
		"id with a dot":       {detail: detail("Sales", "1.5", 0, 0), want: `its id "1.5" does not match spec.groupId's pattern ^[A-Za-z0-9_-]{1,64}$`},
		"5001 members":        {detail: detail("Sales", "12", 5001, 0), want: "it has 5001 members; spec.members allows 5000"},
		"1001 receivers":      {detail: detail("Sales", "12", 1001, 1001), want: "1001 of its members receive calls; spec.receiveCall allows 1000"},
		"agent id with space": {detail: groupapi.GroupDetail{Group: groupapi.Group{ID: "12", Name: "Sales"}, Members: []string{"10 01"}}, want: `agent id "10 01" does not match the pattern ^[A-Za-z0-9_-]{1,64}$`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj, err := manifest("team-a", deepcallv1.AccountReference{Name: "default"}, tc.detail, false)
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
