package plugin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// import and diff check the CRD rules a decoded AgentGroup can break;
// they must be the CRD's own.
func TestCRDRulesAreTheCRDs(t *testing.T) {
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
						Rules []struct {
							Rule string `json:"rule"`
						} `json:"x-kubernetes-validations"`
					} `json:"openAPIV3Schema"`
				}
			}
		}
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	schema := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	spec := schema.Properties.Spec.Properties
	// The rule is a CEL string literal: each backslash of the pattern doubled.
	celEscaped := strings.ReplaceAll(groupNamePattern.String(), `\`, `\\`)
	name, id, members, receivers, ref := spec["groupName"], spec["groupId"], spec["members"], spec["receiveCall"], spec["accountRef"]
	checks := []struct {
		what      string
		got, want any
	}{
		{"groupName maxLength", name.MaxLength, maxGroupName},
		{"groupName rule", len(name.Rules) == 1 && name.Rules[0].Rule == "self.matches('"+celEscaped+"')", true},
		{"metadata.name rule", len(schema.Rules) == 1 && schema.Rules[0].Rule == fmt.Sprintf("has(self.spec.groupName) || size(self.metadata.name) <= %d", maxObjectName), true},
		{"groupId pattern", id.Pattern, idPattern.String()},
		{"members maxItems", members.MaxItems, maxMembers},
		{"members pattern", members.Items.Pattern, idPattern.String()},
		{"members list type", members.ListType, "set"},
		{"receiveCall maxItems", receivers.MaxItems, maxReceivers},
		{"receiveCall pattern", receivers.Items.Pattern, idPattern.String()},
		{"receiveCall list type", receivers.ListType, "set"},
		{"accountRef.name maxLength", ref.Properties["name"].MaxLength, maxAccountName},
		{"accountRef.kind enum", fmt.Sprint(ref.Properties["kind"].Enum), fmt.Sprint(accountKinds)},
		{"managementPolicy enum", fmt.Sprint(spec["managementPolicy"].Enum), fmt.Sprint(managementPolicies)},
		{"deletionPolicy enum", fmt.Sprint(spec["deletionPolicy"].Enum), fmt.Sprint(deletionPolicies)},
		{"adoptionPolicy enum", fmt.Sprint(spec["adoptionPolicy"].Enum), fmt.Sprint(adoptionPolicies)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: the CRD has %v, the plugin checks %v", c.what, c.got, c.want)
		}
	}
}

type property struct {
	MaxLength int      `json:"maxLength"`
	MaxItems  int      `json:"maxItems"`
	Pattern   string   `json:"pattern"`
	Enum      []string `json:"enum"`
	ListType  string   `json:"x-kubernetes-list-type"`
	Items     struct {
		Pattern string `json:"pattern"`
	} `json:"items"`
	Properties map[string]property `json:"properties"`
	Rules      []struct {
		Rule string `json:"rule"`
	} `json:"x-kubernetes-validations"`
}

func TestCRDViolations(t *testing.T) {
	group := func(name string, spec deepcallv1.AgentGroupSpec) *deepcallv1.AgentGroup {
		return &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	}
	agents := func(n int) []deepcallv1.AgentID {
		out := make([]deepcallv1.AgentID, n)
		for i := range out {
			out[i] = deepcallv1.AgentID(fmt.Sprint(1000 + i))
		}
		return out
	}
	cases := map[string]struct {
		group *deepcallv1.AgentGroup
		want  []string
	}{
		"ordinary": {group: group("sales", deepcallv1.AgentGroupSpec{GroupName: "Sales Team", Members: agents(3), ReceiveCall: agents(1),
			ManagementPolicy: deepcallv1.ManagementObserve, AccountRef: deepcallv1.AccountReference{Kind: deepcallv1.KindClusterAccount, Name: "shared"}})},
		"no groupName, a short metadata.name": {group: group(strings.Repeat("a", 100), deepcallv1.AgentGroupSpec{})},
		"no groupName, a long metadata.name": {group: group(strings.Repeat("a", 101), deepcallv1.AgentGroupSpec{}),
			want: []string{"metadata.name is 101 characters long and spec.groupName is not set: a group name is at most 100 characters, set spec.groupName"}},
		"a leading space": {group: group("x", deepcallv1.AgentGroupSpec{GroupName: " Sales"}),
			want: []string{`spec.groupName " Sales" starts or ends with a space or holds a line break; the CRD's rule is ^\S(.*\S)?$`}},
		"a policy typo and a bad id": {group: group("x", deepcallv1.AgentGroupSpec{ManagementPolicy: "Obsreve", GroupID: "12 3"}),
			want: []string{`spec.groupId "12 3" does not match the CRD's pattern ^[A-Za-z0-9_-]{1,64}$`, `spec.managementPolicy "Obsreve" is not one of [Manage Observe]`}},
		"the other enums": {group: group("x", deepcallv1.AgentGroupSpec{AccountRef: deepcallv1.AccountReference{Kind: "Acount"}, DeletionPolicy: "Keep", AdoptionPolicy: "Always"}),
			want: []string{`spec.accountRef.kind "Acount" is not one of [Account ClusterAccount]`, `spec.deletionPolicy "Keep" is not one of [Delete Orphan]`, `spec.adoptionPolicy "Always" is not one of [Never ByName]`}},
		"a member twice": {group: group("x", deepcallv1.AgentGroupSpec{Members: []deepcallv1.AgentID{"1001", "1002", "1001"}}),
			want: []string{"spec.members lists agent 1001 twice; the CRD's list is a set"}},
		"too many receivers": {group: group("x", deepcallv1.AgentGroupSpec{Members: agents(1001), ReceiveCall: agents(1001)}),
			want: []string{"spec.receiveCall has 1001 agents; the CRD allows at most 1000"}},
		"a long Account name": {group: group("x", deepcallv1.AgentGroupSpec{AccountRef: deepcallv1.AccountReference{Name: strings.Repeat("a", 254)}}),
			want: []string{"spec.accountRef.name is 254 characters long; the CRD allows at most 253"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, crdViolations(tc.group)); diff != "" {
				t.Errorf("crdViolations (-want +got):\n%s", diff)
			}
		})
	}
}
