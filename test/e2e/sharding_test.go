//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// shardKey is the label that puts an Account and its AgentGroups in a shard.
const shardKey = deepcallv1.ShardLabel

// TestSharding: three managers split the Accounts and AgentGroups by label,
// as Flux shards: the default one takes the unlabelled objects
// (!shardKey), shard1 and shard2 the labelled ones, each with its own
// Lease. Every AgentGroup is reconciled by exactly one manager and every
// remote group exists once. Then one tenant moves from shard1 to shard2 by
// relabelling: no remote group is added or deleted, the groups stay (or
// come back) Ready, shard2 corrects a drift on them within one sync
// interval, and shard1 makes no call for them any more.
func TestSharding(t *testing.T) {
	const (
		perTenant = 3
		interval  = 30 * time.Second // the moved tenant's syncInterval, the minimum
	)
	type tenant struct{ ns, user, shard string }
	tenants := []tenant{{"shard-none", "20005", ""}, {"shard-one", "20006", "shard1"}, {"shard-two", "20007", "shard2"}}
	namespaces := []string{"shard-none", "shard-one", "shard-two"}
	const movedNS, movedUser = "shard-one", "20006"
	simPost(t, "/_sim/calls/reset", "")

	managers := []*shardManager{
		{name: "manager-default", selector: "!" + shardKey},
		{name: "manager-shard1", selector: shardKey + "=shard1"},
		{name: "manager-shard2", selector: shardKey + "=shard2"},
	}
	for _, m := range managers {
		m.start(t)
		defer m.proc.Stop()
	}
	def, shard1, shard2 := managers[0], managers[1], managers[2]

	// Each manager holds its own Lease.
	leases, holders := map[string]bool{}, map[string]bool{}
	for _, m := range managers {
		eventually(t, 60*time.Second, func() error {
			if m.lease = m.leaseName(t); m.lease == "" {
				return fmt.Errorf("%s logged no leaderElectionID; its log ends:\n%s", m.name, tail(m.proc.Log))
			}
			holder, _ := env.Kubectl("", "get", "lease", "-n", installNS, m.lease, "-o", "jsonpath={.spec.holderIdentity}")
			if holder == "" {
				return fmt.Errorf("%s: Lease %s/%s has no holder", m.name, installNS, m.lease)
			}
			holders[holder] = true
			return nil
		})
		leases[m.lease] = true
	}
	if len(leases) != len(managers) || len(holders) != len(managers) {
		t.Fatalf("Leases %v held by %v: want one Lease and one holder per manager", slices.Sorted(maps.Keys(leases)), slices.Sorted(maps.Keys(holders)))
	}

	// Three tenants; the Secrets are never labelled.
	for _, tn := range tenants {
		manifests := []string{accountYAML(tn.ns, tn.user)}
		if tn.ns == movedNS {
			manifests[0] = strings.Replace(manifests[0], "  burst: 25\n", fmt.Sprintf("  burst: 25\n  syncInterval: %s\n", interval), 1)
		}
		for i := range perTenant {
			members := []string{fmt.Sprint(1000 + i), fmt.Sprint(1010 + i)}
			manifests = append(manifests, groupYAML(tn.ns, fmt.Sprintf("g%d", i), fmt.Sprintf("%s g%d", tn.ns, i), members, members[:1]))
		}
		kubectl(t, inShard(strings.Join(manifests, "---\n"), tn.shard), "apply", "-f", "-")
	}
	for _, ns := range namespaces {
		allReady(t, ns, perTenant, 2*time.Minute)
	}
	checkRemote(t, perTenant, tenants[0].user, tenants[1].user, tenants[2].user)
	if _, st := remote(t); st.Calls["add"] != len(tenants)*perTenant || st.Calls["delete"] != 0 {
		t.Errorf("calls %v: want one add per AgentGroup (%d) and no delete", st.Calls, len(tenants)*perTenant)
	}

	// Each AgentGroup was reconciled by exactly one manager: its own shard's
	// log says it created the remote group, and only its own shard counts
	// it in deepcall_agentgroup_conditions.
	want := map[*shardManager][]string{def: groupKeys("shard-none", perTenant), shard1: groupKeys("shard-one", perTenant), shard2: groupKeys("shard-two", perTenant)}
	for m, keys := range want {
		if got := m.created(t, namespaces); !slices.Equal(got, keys) {
			t.Errorf("%s created the remote groups of %v, want %v", m.name, got, keys)
		}
	}
	unlabelled := len(strings.Fields(kubectl(t, "", "get", "agentgroups", "-A", "-l", "!"+shardKey, "-o", "name")))
	eventually(t, 30*time.Second, func() error {
		for m, n := range map[*shardManager]int{def: unlabelled, shard1: perTenant, shard2: perTenant} {
			if got := m.metric(t, "deepcall_agentgroup_conditions", `type="Ready"`); got != float64(n) {
				return fmt.Errorf("%s observes %v AgentGroups, want %d", m.name, got, n)
			}
		}
		return nil
	})

	// The move: shard1's tenant is relabelled to shard2, Account and
	// AgentGroups together.
	bindings := bindingsIn(t, namespaces...)
	simPost(t, "/_sim/calls/reset", "")
	moved := time.Now()
	kubectl(t, "", "label", "--overwrite", "account,agentgroup", "--all", "-n", movedNS, shardKey+"=shard2")
	flickered := map[string]bool{}
	eventually(t, 60*time.Second, func() error {
		for _, g := range agentGroups(t, movedNS) {
			if !g.ready() {
				flickered[g.Metadata.Name] = true
			}
		}
		if n := shard1.metric(t, "deepcall_agentgroup_conditions"); n != 0 {
			return fmt.Errorf("%s still observes %v AgentGroup conditions", shard1.name, n)
		}
		if n := shard2.metric(t, "deepcall_agentgroup_conditions", `type="Ready"`, `status="True"`); n != 2*perTenant {
			return fmt.Errorf("%s observes %v Ready AgentGroups, want %d", shard2.name, n, 2*perTenant)
		}
		if r := countReady(agentGroups(t, movedNS)); r != perTenant {
			return fmt.Errorf("%s: %d of %d AgentGroups Ready", movedNS, r, perTenant)
		}
		return nil
	})
	takeover := time.Since(moved)

	// shard2 read each moved group when it took it over; its next read
	// comes at the group's phase of the interval, at least half an
	// interval later, and then once per interval. A drift made half an
	// interval after the takeover is then corrected within one interval
	// (plus a few seconds to read, write and see it here): shard2 leaves
	// no gap longer than a sync interval.
	time.Sleep(interval / 2)
	corrected := map[*shardManager]float64{}
	for _, m := range managers {
		corrected[m] = m.metric(t, "deepcall_agentgroup_drift_corrected_total")
	}
	shard1Calls := shard1.metric(t, "deepcall_api_requests_total")
	movedIDs := map[string]bool{}
	for _, g := range agentGroups(t, movedNS) {
		var out any
		simPatchJSON(t, fmt.Sprintf("/_sim/users/%s/groups/%s", movedUser, g.Status.GroupID), `{"members":["1099"],"receive_call":[]}`, &out)
		movedIDs[g.Status.GroupID] = true
	}
	drifted := time.Now()
	eventually(t, interval+5*time.Second, func() error {
		groups, _ := remote(t)
		spec := map[string]agentGroup{}
		for _, g := range agentGroups(t, movedNS) {
			spec[g.Status.GroupID] = g
		}
		for _, r := range groups[movedUser] {
			g, ok := spec[fmt.Sprint(r.ID)]
			if ok && (!slices.Equal(r.Members, sorted(g.Spec.Members)) || !slices.Equal(r.Receivers, sorted(g.Spec.ReceiveCall))) {
				return fmt.Errorf("remote group %d of %s/%s has members %v and receivers %v, want %v and %v",
					r.ID, movedNS, g.Metadata.Name, r.Members, r.Receivers, g.Spec.Members, g.Spec.ReceiveCall)
			}
		}
		return nil
	})
	correction := time.Since(drifted)

	// shard2 made the corrections; shard1 made no call at all.
	eventually(t, 10*time.Second, func() error {
		if d := shard2.metric(t, "deepcall_agentgroup_drift_corrected_total") - corrected[shard2]; d != perTenant {
			return fmt.Errorf("%s corrected %v drifts, want %d", shard2.name, d, perTenant)
		}
		return nil
	})
	for _, m := range []*shardManager{def, shard1} {
		if d := m.metric(t, "deepcall_agentgroup_drift_corrected_total") - corrected[m]; d != 0 {
			t.Errorf("%s corrected %v drifts, want none", m.name, d)
		}
	}
	if d := shard1.metric(t, "deepcall_api_requests_total") - shard1Calls; d != 0 {
		t.Errorf("%s made %v Group API calls after the move, want none", shard1.name, d)
	}
	if n := shard1.metric(t, "deepcall_agentgroup_conditions"); n != 0 {
		t.Errorf("%s observes AgentGroups again after the move (%v conditions)", shard1.name, n)
	}

	// No remote add or delete, no twin, the bindings unchanged, and the
	// only writes the corrections.
	_, st := remote(t)
	if st.Calls["add"] != 0 || st.Calls["delete"] != 0 {
		t.Errorf("calls since the move %v: want no add and no delete", st.Calls)
	}
	var writes map[string]map[string]int
	simGet(t, "/_sim/writes", &writes)
	for id, ops := range writes {
		if n := total(ops); !movedIDs[id] || n != 1 {
			t.Errorf("remote group %s had writes %v since the move, want one correction of each drifted group", id, ops)
		}
	}
	if len(writes) != len(movedIDs) {
		t.Errorf("writes since the move %v: want one for each of %v", writes, slices.Sorted(maps.Keys(movedIDs)))
	}
	checkRemote(t, perTenant, tenants[0].user, tenants[1].user, tenants[2].user)
	if after := bindingsIn(t, namespaces...); !maps.Equal(after, bindings) {
		t.Errorf("bindings changed over the move: %v, were %v", after, bindings)
	}
	t.Logf("sharding: Leases %v; move taken over in %.1fs (groups seen not Ready meanwhile: %v); drift on %d moved groups corrected in %.1fs (interval %v); calls since the move %v",
		slices.Sorted(maps.Keys(leases)), takeover.Seconds(), slices.Sorted(maps.Keys(flickered)), len(movedIDs), correction.Seconds(), interval, st.Calls)

	// Secrets are not sharded: every manager sees every credentials
	// Secret, but none takes the finalizer off a Secret that an Account of
	// another shard still uses.
	for _, m := range managers {
		for _, l := range m.logLines(t) {
			msg, _ := l["msg"].(string)
			if ns, _ := l["namespace"].(string); strings.HasPrefix(msg, "Released the credentials Secret") && slices.Contains(namespaces, ns) {
				t.Errorf("%s released %v while its Account still used it", m.name, l["Secret"])
				break
			}
		}
	}

	// Each shard deletes its own tenants' remote groups.
	kubectl(t, "", "delete", "namespace", "shard-none", "shard-one", "shard-two", "--timeout=90s")
	groups, _ := remote(t)
	for _, tn := range tenants {
		if n := len(groups[tn.user]); n != 0 {
			t.Errorf("%d remote groups of %s left after its namespace was deleted", n, tn.ns)
		}
	}
}

// shardManager is one manager of a sharded install.
type shardManager struct {
	name, selector string
	metricsAddr    string
	lease          string
	proc           *localenv.Proc
}

func (m *shardManager) start(t *testing.T) {
	t.Helper()
	addr, err := localenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	m.metricsAddr = addr
	// Plain HTTP: the story reads the metrics (TestSecureMetrics checks
	// the secure endpoint).
	m.proc = startManagerNamed(t, m.name, "--metrics-bind-address="+addr, "--metrics-secure=false", "--watch-label-selector="+m.selector,
		"--leader-elect", "--leader-election-namespace="+installNS)
}

// logLines decodes the manager's JSON log lines.
func (m *shardManager) logLines(t *testing.T) []map[string]any {
	t.Helper()
	f, err := os.Open(m.proc.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			lines = append(lines, l)
		}
	}
	return lines
}

// leaseName is the leader-election Lease the manager logged at start.
func (m *shardManager) leaseName(t *testing.T) string {
	for _, l := range m.logLines(t) {
		if id, ok := l["leaderElectionID"].(string); ok && l["msg"] == "Starting the manager" {
			return id
		}
	}
	return ""
}

// created lists, sorted, the AgentGroups (ns/name) in namespaces whose
// remote group the manager's log says it created.
func (m *shardManager) created(t *testing.T, namespaces []string) []string {
	var out []string
	for _, l := range m.logLines(t) {
		// The AgentGroup's key, as controller-runtime logs it ("name" is
		// also the remote group's name in this line).
		g, _ := l["AgentGroup"].(map[string]any)
		ns, _ := g["namespace"].(string)
		if l["msg"] == "Created remote group" && slices.Contains(namespaces, ns) {
			out = append(out, fmt.Sprintf("%s/%s", ns, g["name"]))
		}
	}
	sort.Strings(out)
	return out
}

// metric sums the manager's samples of name whose labels hold every one
// of match (`key="value"`).
func (m *shardManager) metric(t *testing.T, name string, match ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + m.metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("%s metrics: %v", m.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		if slices.ContainsFunc(match, func(s string) bool { return !strings.Contains(series, s) }) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("%s metrics: %q: %v", m.name, line, err)
		}
		sum += v
	}
	return sum
}

var shardableMetadata = regexp.MustCompile(`(kind: (?:Account|AgentGroup)\nmetadata: \{[^}\n]*)\}`)

// inShard labels the manifests' Accounts and AgentGroups (not their
// Namespace or Secret) for shard; "" leaves them to the default manager.
func inShard(manifests, shard string) string {
	if shard == "" {
		return manifests
	}
	return shardableMetadata.ReplaceAllString(manifests, fmt.Sprintf(`${1}, labels: {%q: %q}}`, shardKey, shard))
}

func groupKeys(ns string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s/g%d", ns, i)
	}
	return keys
}

// checkRemote fails the test unless each user has n remote groups, no two
// of one name.
func checkRemote(t *testing.T, n int, users ...string) {
	t.Helper()
	groups, _ := remote(t)
	for _, u := range users {
		if len(groups[u]) != n {
			t.Errorf("user %s has %d remote groups, want %d", u, len(groups[u]), n)
		}
		names := map[string]int{}
		for _, g := range groups[u] {
			names[strings.ToLower(g.Name)]++
		}
		for name, n := range names {
			if n > 1 {
				t.Errorf("user %s has %d remote groups named %q", u, n, name)
			}
		}
	}
}

// bindingsIn maps ns/name to status.groupId.
func bindingsIn(t *testing.T, namespaces ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, g := range agentGroups(t, namespaces...) {
		out[g.Metadata.Namespace+"/"+g.Metadata.Name] = g.Status.GroupID
	}
	return out
}

// simPatchJSON changes a remote group by hand through the admin API.
func simPatchJSON(t *testing.T, path, body string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, "http://"+simAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	decodeInto(t, path, resp, err, v)
}

// tail is the end of a log file, for a failure message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}
