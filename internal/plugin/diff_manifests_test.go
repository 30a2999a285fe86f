package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadDiffManifests(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("a.yaml", `apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata: {name: sales}
spec: {members: ["1001"]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
---
`)
	write("b.json", `{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "deepcall.agentgroups.dev/v1alpha1", "kind": "AgentGroup", "metadata": {"name": "support", "namespace": "team-b"}},
  {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}}]}`)
	write("notes.txt", "not a manifest")
	write("nested/c.yml", "apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: billing}\n")
	stdin := "apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: piped}\n"

	keys := func(ms diffManifests) []string {
		var out []string
		for _, m := range ms.groups {
			out = append(out, m.group.Namespace+"/"+m.group.Name)
		}
		return out
	}
	cases := map[string]struct {
		files     []string
		recursive bool
		want      []string
		ignored   int
	}{
		"a directory, in file order":         {files: []string{dir}, want: []string{"team-a/sales", "team-b/support"}, ignored: 2},
		"a directory and its subdirectories": {files: []string{dir}, recursive: true, want: []string{"team-a/sales", "team-b/support", "team-a/billing"}, ignored: 2},
		"standard input and a file":          {files: []string{"-", filepath.Join(dir, "nested/c.yml")}, want: []string{"team-a/piped", "team-a/billing"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ms, err := readDiffManifests(strings.NewReader(stdin), tc.files, tc.recursive, "team-a", false)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, keys(ms)); diff != "" || ms.ignored != tc.ignored {
				t.Errorf("AgentGroups (-want +got):\n%s\nignored %d, want %d", diff, ms.ignored, tc.ignored)
			}
		})
	}
	if ms, _ := readDiffManifests(nil, []string{dir}, false, "team-a", false); ms.groups[0].source != filepath.Join(dir, "a.yaml") {
		t.Errorf("source of the first AgentGroup: %q", ms.groups[0].source)
	}

	refused := map[string]struct{ manifest, want string }{
		"another namespace than -n": {"apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: x, namespace: team-b}\n",
			"AgentGroup x is in namespace team-b, not in namespace team-a that -n asks for"},
		"an unknown field": {"apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: x}\nspec: {member: [\"1001\"]}\n",
			`unknown field "spec.member"`},
		"a receiver that is not a member": {"apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: x}\nspec: {members: [\"1001\"], receiveCall: [\"1002\"]}\n",
			"AgentGroup x: receiveCall entries must also be listed in members: 1002"},
		"another version": {"apiVersion: deepcall.agentgroups.dev/v1\nkind: AgentGroup\nmetadata: {name: x}\n",
			"apiVersion deepcall.agentgroups.dev/v1 is not served; use deepcall.agentgroups.dev/v1alpha1"},
		"the same AgentGroup twice": {"apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: x}\n---\napiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: x, namespace: team-a}\n",
			"STDIN: AgentGroup team-a/x is also in STDIN: keep one"},
		"not YAML": {"kind: [", "error converting YAML to JSON"},
		"a group name ending in a space": {"apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: x}\nspec: {groupName: \"Sales \"}\n",
			`STDIN: AgentGroup x: spec.groupName "Sales " starts or ends with a space or holds a line break; the CRD's rule is ^\S(.*\S)?$`},
		"a policy the CRD does not know": {"apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: x}\nspec: {managementPolicy: Obsreve, groupId: \"1.5\"}\n",
			`STDIN: AgentGroup x: spec.groupId "1.5" does not match the CRD's pattern ^[A-Za-z0-9_-]{1,64}$; spec.managementPolicy "Obsreve" is not one of [Manage Observe]`},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			_, err := readDiffManifests(strings.NewReader(tc.manifest), []string{"-"}, false, "team-a", true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
