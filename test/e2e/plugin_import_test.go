//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// A team moves an account of 50 groups made by hand in the DeepCall UI to
// GitOps: `kubectl agentgroup import` writes a manifest per group, reading
// only (one list and one relation read per group), the same files every
// run; applied, every group is Ready and InSync with no write call. Once
// they are managed there is nothing left to import, and a second
// namespace's Account on the same remote account imports only its own new
// groups, with --manage, again converging with no write. A group renamed
// in DeepCall keeps its AgentGroup's name when --all regenerates the
// directory.
func TestPluginImport(t *testing.T) {
	const (
		user     = "20013"
		ns       = "plugin-import"
		manageNS = "plugin-import-manage"
	)
	importClearUser(t, user)
	account(t, ns, user)
	made := importHandMadeGroups(t, user)
	if len(made) != 50 {
		t.Fatalf("made %d groups by hand, want 50", len(made))
	}

	// No manager runs: whatever the simulator counts is the plugin's.
	dir, again := filepath.Join(t.TempDir(), "groups"), filepath.Join(t.TempDir(), "again")
	writesAtImport := importWritesTo(t, made)
	before := simCalls(t)
	_, stderr, code := agentgroup(t, "", "import", "--account", "default", "-n", ns, "--dir", dir)
	if code != 0 {
		t.Fatalf("import: exit %d, want 0", code)
	}
	importCheckReads(t, before, simCalls(t), len(made))
	for _, want := range []string{"50 AgentGroups written", "Next: kubectl apply -f " + dir} {
		if !strings.Contains(stderr, want) {
			t.Errorf("import's stderr does not say %q", want)
		}
	}
	files := importCheckFiles(t, dir, ns, made, "Observe", "Orphan")

	before = simCalls(t)
	if _, _, code := agentgroup(t, "", "import", "--account", "default", "-n", ns, "--dir", again); code != 0 {
		t.Fatalf("second import: exit %d, want 0", code)
	}
	importCheckReads(t, before, simCalls(t), len(made))
	if diff := cmp.Diff(files, importReadDir(t, again)); diff != "" {
		t.Errorf("a second import wrote other files (-first +second):\n%s", diff)
	}

	// The manager may have other stories' AgentGroups to reconcile: the
	// writes that count are those to this account's groups.
	mgr := startManager(t)
	defer mgr.Stop()
	kubectl(t, "", "apply", "-f", dir)
	importWaitInSync(t, ns, len(made))
	if w := importWritesTo(t, made) - writesAtImport; w != 0 {
		t.Errorf("%d write calls to the imported groups since the import, want 0", w)
	}

	stdout, stderr, code := agentgroup(t, "", "import", "--account", "default", "-n", ns)
	if code != 0 || stdout != "" || !strings.Contains(stderr, "Nothing to import") {
		t.Errorf("import once all are managed: exit %d, stdout %q; want exit 0, no manifest and stderr saying there is nothing to import", code, stdout)
	}
	stdout, _, code = agentgroup(t, "", "import", "--account", "default", "-n", ns, "--all", "-o", "json")
	if code != 0 {
		t.Fatalf("import --all -o json: exit %d, want 0", code)
	}
	var list struct {
		APIVersion, Kind string
		Items            []map[string]any
	}
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("import --all -o json: %v", err)
	}
	var listed, ids []string
	for _, item := range list.Items {
		listed = append(listed, item["metadata"].(map[string]any)["name"].(string))
		ids = append(ids, item["spec"].(map[string]any)["groupId"].(string))
	}
	if list.APIVersion != "v1" || list.Kind != "List" || !importSameSet(listed, files) || !slices.Equal(ids, plan.SortedIDs(ids)) {
		t.Errorf("import --all -o json: a %s %s of %v, want a v1 List of the %d imported names in groupId order", list.APIVersion, list.Kind, listed, len(files))
	}

	// A group renamed in DeepCall keeps its AgentGroup's name when --all
	// regenerates the directory: applied, it updates that AgentGroup
	// instead of making a second one for the same group (GroupIDInUse).
	var renamed sim.Group
	simPatchJSON(t, fmt.Sprintf("/_sim/users/%s/groups/%d", user, made[0].ID), `{"name":"Sales Team Renamed"}`, &renamed)
	regenerated := filepath.Join(t.TempDir(), "regenerated")
	if _, _, code := agentgroup(t, "", "import", "--account", "default", "-n", ns, "--all", "--dir", regenerated); code != 0 {
		t.Fatalf("import --all after a rename in DeepCall: exit %d, want 0", code)
	}
	regen := importReadDir(t, regenerated)
	if diff := cmp.Diff(slices.Sorted(maps.Keys(files)), slices.Sorted(maps.Keys(regen))); diff != "" {
		t.Errorf("import --all after a rename wrote other files than the first import (-first +again):\n%s", diff)
	}
	writesBefore := importWritesTo(t, made)
	kubectl(t, "", "apply", "-f", regenerated)
	importWaitInSync(t, ns, len(made))
	if w := importWritesTo(t, made) - writesBefore; w != 0 {
		t.Errorf("%d write calls after applying the regenerated directory, want 0", w)
	}

	// A second namespace's Account on the same remote account: the 50
	// groups are managed there already; only its 3 new ones are written.
	account(t, manageNS, user)
	eventually(t, 30*time.Second, func() error {
		if ra := kubectl(t, "", "get", "account", "default", "-n", manageNS, "-o", "jsonpath={.status.remoteAccount}"); ra == "" {
			return fmt.Errorf("Account %s/default has no status.remoteAccount yet", manageNS)
		}
		return nil
	})
	var mine []sim.Group
	for _, name := range []string{"Manage Me", "manage me", "Manage Me Too"} {
		var g sim.Group
		simPostJSON(t, "/_sim/users/"+user+"/groups", fmt.Sprintf(`{"name":%q}`, name), &g)
		var patched sim.Group
		simPatchJSON(t, fmt.Sprintf("/_sim/users/%s/groups/%d", user, g.ID), `{"members":["1090","1091"],"receive_call":["1091"]}`, &patched)
		mine = append(mine, patched)
	}
	manageDir := filepath.Join(t.TempDir(), "manage")
	_, stderr, code = agentgroup(t, "", "import", "--account", "default", "-n", manageNS, "--manage", "--dir", manageDir)
	if code != 0 {
		t.Fatalf("import --manage: exit %d, want 0", code)
	}
	if !strings.Contains(stderr, "3 AgentGroups written") || !strings.Contains(stderr, "50 groups skipped") {
		t.Errorf("import --manage does not say it wrote 3 and skipped the 50 managed in %s", ns)
	}
	importCheckFiles(t, manageDir, manageNS, mine, "Manage", "Delete")
	allDir := filepath.Join(t.TempDir(), "all")
	if _, _, code = agentgroup(t, "", "import", "--account", "default", "-n", manageNS, "--manage", "--all", "--dir", allDir); code != 0 {
		t.Errorf("import --all --manage: exit %d, want 0", code)
	}
	if files := importReadDir(t, allDir); len(files) != len(made)+len(mine) {
		t.Errorf("import --all --manage wrote %d files, want %d", len(files), len(made)+len(mine))
	}
	writesBefore = importWritesTo(t, mine)
	kubectl(t, "", "apply", "-f", manageDir)
	importWaitInSync(t, manageNS, len(mine))
	if w := importWritesTo(t, mine) - writesBefore; w != 0 {
		t.Errorf("%d write calls to the groups imported with --manage after applying them, want 0", w)
	}

	// Leave no AgentGroup for later stories' managers: the Observe ones
	// orphan their groups, the Manage ones delete theirs.
	kubectl(t, "", "delete", "agentgroups", "--all", "-n", ns, "--timeout=60s")
	kubectl(t, "", "delete", "agentgroups", "--all", "-n", manageNS, "--timeout=60s")
	kubectl(t, "", "delete", "namespace", ns, manageNS, "--wait=false")
}

// importClearUser deletes the user's groups, so the story starts from the
// account it describes.
func importClearUser(t *testing.T, user string) {
	t.Helper()
	groups, _ := remote(t)
	for _, g := range groups[user] {
		req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("http://%s/_sim/users/%s/groups/%d", simAddr, user, g.ID), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

// importHandMadeGroups makes 50 groups as people do in the UI: names with
// spaces, case, accents, CJK and emoji, names the API made unique by
// appending a number, 100-character names, names YAML would misread;
// some disabled, some with members and receivers, some empty.
func importHandMadeGroups(t *testing.T, user string) []sim.Group {
	t.Helper()
	long := strings.Repeat("Customer Escalations ", 5)[:96] // + 4 characters: 100
	names := []string{
		"Sales Team", "sales team", "SALES TEAM", "Support", "support",
		"Équipe Ventes", "équipe ventes", "Über Größe Straße", "Ñandú São Paulo", "Ærø Øst",
		"销售团队", "客服 Support", "サポート窓口", "지원팀",
		"🚀 Launch", "🔥🔥🔥", "Calls ☎️ Team",
		long + "AAAA", long + "AAAB", strings.Repeat("x", 100), strings.Repeat("É", 100),
		"2024 Q1 Campaign", "007", "-dash-first-", "--- ---", "...", "___",
		"R&D / Ops (EU)", "a.b.c", "Tab\tInside", "Double  Space",
		`Quote "q" and 'a'`, "colon: yes", "# hash", "- dash", "yes", "null", "true", "1.0", "0123", "~",
		"MiXeD CaSe", "mixed case",
	}
	for i := len(names); i < 50; i++ {
		names = append(names, fmt.Sprintf("Desk %02d", i))
	}
	var made []sim.Group
	for i, name := range names {
		var g sim.Group
		simPostJSON(t, "/_sim/users/"+user+"/groups", fmt.Sprintf(`{"name":%q}`, name), &g)
		var change []string
		if i%5 == 1 {
			change = append(change, `"status":0`)
		}
		switch i % 3 {
		case 0:
			a, b, c := 1000+i, 1010+i%40, 1050+i%40
			change = append(change, fmt.Sprintf(`"members":["%d","%d","%d"],"receive_call":["%d","%d"]`, a, b, c, a, c))
		case 1:
			change = append(change, fmt.Sprintf(`"members":["%d"]`, 1099-i))
		}
		if len(change) > 0 {
			simPatchJSON(t, fmt.Sprintf("/_sim/users/%s/groups/%d", user, g.ID), "{"+strings.Join(change, ",")+"}", &g)
		}
		made = append(made, g)
	}
	return made
}

// importCheckReads checks that an import made exactly one list and one
// relation read per group, and nothing else.
func importCheckReads(t *testing.T, before, after map[string]int, groups int) {
	t.Helper()
	got := map[string]int{}
	for op, n := range after {
		if d := n - before[op]; d != 0 {
			got[op] = d
		}
	}
	if diff := cmp.Diff(map[string]int{"list": 1, "getGroupAgentRelation": groups}, got); diff != "" {
		t.Errorf("calls made by the import (-want +got):\n%s", diff)
	}
}

// importWritesTo counts the simulator's successful write calls to groups.
func importWritesTo(t *testing.T, groups []sim.Group) int {
	t.Helper()
	var writes map[string]map[string]int
	simGet(t, "/_sim/writes", &writes)
	n := 0
	for _, g := range groups {
		for _, count := range writes[fmt.Sprint(g.ID)] {
			n += count
		}
	}
	return n
}

// importReadDir returns the files of dir by name.
func importReadDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// importCheckFiles checks that dir holds one manifest per group, named
// after a valid, unique object name, saying exactly what the remote group
// is, and returns the files.
func importCheckFiles(t *testing.T, dir, ns string, groups []sim.Group, management, deletion string) map[string]string {
	t.Helper()
	files := importReadDir(t, dir)
	if len(files) != len(groups) {
		t.Errorf("%s holds %d files, want one per group: %d", dir, len(files), len(groups))
	}
	byID := map[string]map[string]any{}
	for file, text := range files {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(text), &obj); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		meta, _ := obj["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 || file != name+".yaml" {
			t.Errorf("%s: metadata.name %q: %v; want a DNS-1123 label and the file named after it", file, name, errs)
		}
		spec, _ := obj["spec"].(map[string]any)
		id, _ := spec["groupId"].(string)
		if byID[id] != nil {
			t.Errorf("two files for group %s", id)
		}
		byID[id] = obj
	}
	for _, g := range groups {
		id := fmt.Sprint(g.ID)
		got := byID[id]
		if got == nil {
			t.Errorf("no file for group %s %q", id, g.Name)
			continue
		}
		spec := map[string]any{
			"accountRef":       map[string]any{"name": "default"},
			"groupId":          id,
			"groupName":        g.Name,
			"enabled":          g.Status == 1,
			"managementPolicy": management,
			"deletionPolicy":   deletion,
		}
		if len(g.Members) > 0 {
			spec["members"] = importAny(plan.SortedIDs(g.Members))
		}
		if len(g.Receivers) > 0 {
			spec["receiveCall"] = importAny(plan.SortedIDs(g.Receivers))
		}
		want := map[string]any{
			"apiVersion": "deepcall.agentgroups.dev/v1alpha1",
			"kind":       "AgentGroup",
			"metadata":   map[string]any{"name": got["metadata"].(map[string]any)["name"], "namespace": ns},
			"spec":       spec,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("manifest of group %s %q (-want +got):\n%s", id, g.Name, diff)
		}
	}
	return files
}

func importAny(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// importSameSet reports whether names are the imported files' names.
func importSameSet(names []string, files map[string]string) bool {
	if len(names) != len(files) {
		return false
	}
	for _, n := range names {
		if _, ok := files[n+".yaml"]; !ok {
			return false
		}
	}
	return true
}

// importWaitInSync waits until the namespace's n AgentGroups are Ready and
// InSync.
func importWaitInSync(t *testing.T, ns string, n int) {
	t.Helper()
	eventually(t, 60*time.Second, func() error {
		groups := agentGroups(t, ns)
		var waiting []string
		for _, g := range groups {
			inSync := slices.ContainsFunc(g.Status.Conditions, func(c struct{ Type, Status, Reason, Message string }) bool {
				return c.Type == "InSync" && c.Status == "True"
			})
			if !g.ready() || !inSync {
				waiting = append(waiting, fmt.Sprintf("%s (%v)", g.Metadata.Name, g.Status.Conditions))
			}
		}
		if len(groups) != n || len(waiting) > 0 {
			var b bytes.Buffer
			fmt.Fprintf(&b, "%d AgentGroups in %s, want %d all Ready and InSync; not yet: %d", len(groups), ns, n, len(waiting))
			if len(waiting) > 0 {
				fmt.Fprintf(&b, ", e.g. %s", waiting[0])
			}
			return fmt.Errorf("%s", b.String())
		}
		return nil
	})
}
