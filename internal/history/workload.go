package history

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// StateLabel names, on each object of the workload, the state it is left
// in when the manager is killed: what a later version must carry on from.
const StateLabel = "test.deepcall.agentgroups.dev/state"

// The states a crash can leave an AgentGroup in.
const (
	// StateBound: Ready on its remote group.
	StateBound = "bound"
	// StatePendingCreate: its add was sent and took effect, the answer
	// never came back (the manager was killed waiting for it).
	StatePendingCreate = "pending-create"
	// StateDeleting: deleted, its finalizer held while the remote delete
	// fails.
	StateDeleting = "deleting"
	// StateStalled: a terminal state a person must act on (a name taken
	// by hand, an agent the account does not have).
	StateStalled = "stalled"
	// StateWaiting: its Account is stalled (its Secret is missing).
	StateWaiting = "waiting"
)

// Namespaces of the workload: the working account's, and the stalled
// account's.
const (
	Namespace        = "stored"
	WaitingNamespace = "stored-waiting"
	// ClusterAccountName is the ClusterAccount of the versions that have
	// the kind.
	ClusterAccountName = "stored-shared"
)

// Remote names the workload's groups are created by hand with, before the
// manager runs: one taken name (a NameConflict) and one observed group.
const (
	TakenName    = "Taken by hand"
	ObservedName = "Observed by hand"
)

// Workload is the set of objects that puts a manager's AgentGroups, and
// its Accounts, in every state a crash can leave (bound, pending create,
// deleting, stalled), on a local control plane and the simulator (whose
// admin API it drives over HTTP, like a person changing things by hand).
type Workload struct {
	Env *localenv.Env
	// Client reads the objects as unstructured, so that any version's
	// forms come back as stored.
	Client client.Client
	// Sim is the simulator's base URL (http://host:port).
	Sim         string
	User, Token string
	// ClusterAccounts: the CRDs installed have ClusterAccount.
	ClusterAccounts bool
}

// NewWorkload returns the workload for the control plane env and the
// simulator at simURL, with credentials of one simulator user.
func NewWorkload(env *localenv.Env, simURL, user, token string) (*Workload, error) {
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		return nil, err
	}
	w := &Workload{Env: env, Client: c, Sim: simURL, User: user, Token: token}
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	err = c.Get(context.Background(), client.ObjectKey{Name: "clusteraccounts.deepcall.agentgroups.dev"}, crd)
	if client.IgnoreNotFound(err) != nil {
		return nil, err
	}
	w.ClusterAccounts = err == nil
	return w, nil
}

// ApplyAccounts applies the namespaces, the credentials Secret, the
// working Account (and ClusterAccount), the stalled Account, and creates
// by hand the remote groups the workload expects to exist.
func (w *Workload) ApplyAccounts(ctx context.Context) error {
	for _, name := range []string{TakenName, ObservedName} {
		if err := w.SimPost("/_sim/users/"+w.User+"/groups", fmt.Sprintf(`{"name":%q}`, name)); err != nil {
			return err
		}
	}
	base := strings.TrimPrefix(w.Sim, "http://")
	yaml := localenv.AccountYAML(Namespace, w.User, w.Token, base, 20) + fmt.Sprintf(`---
apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: Account
metadata: {name: default, namespace: %[1]s, labels: {%[2]s: %[3]s}}
spec:
  baseURL: http://%[4]s
  credentialsSecretRef: {name: missing}
`, WaitingNamespace, StateLabel, StateStalled, base)
	if w.ClusterAccounts {
		yaml += fmt.Sprintf(`---
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: ClusterAccount
metadata: {name: %s}
spec:
  baseURL: http://%s
  credentialsSecretRef: {name: creds, namespace: %s}
  requestsPerSecond: 20
  burst: 20
  allowedNamespaces: {}
`, ClusterAccountName, base, Namespace)
	}
	_, err := w.Env.Kubectl(yaml, "apply", "--server-side", "-f", "-")
	return err
}

// groupYAML is one AgentGroup of the workload.
func groupYAML(ns, name, state, spec string) string {
	return fmt.Sprintf(`---
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata: {name: %s, namespace: %s, labels: {%s: %s}}
spec: %s
`, name, ns, StateLabel, state, spec)
}

// Settle applies the AgentGroups of every state but the pending creates,
// waits until each shows its state, then deletes the one to be left
// deleting while every remote delete fails. A manager must be running.
func (w *Workload) Settle(ctx context.Context) error {
	yaml := groupYAML(Namespace, "bound", StateBound, `{groupName: Bound, members: ["1001", "1002", "1003"], receiveCall: ["1001"]}`) +
		groupYAML(Namespace, "observed", StateBound, fmt.Sprintf(`{groupName: %q, managementPolicy: Observe, adoptionPolicy: ByName}`, ObservedName)) +
		groupYAML(Namespace, "conflict", StateStalled, fmt.Sprintf(`{groupName: %q}`, TakenName)) +
		groupYAML(Namespace, "unknown-agent", StateStalled, `{groupName: Unknown agent, members: ["1001", "9999"]}`) +
		groupYAML(Namespace, "deleting", StateDeleting, `{groupName: Deleting, members: ["1004"]}`) +
		groupYAML(WaitingNamespace, "waiting", StateWaiting, `{groupName: Waiting}`)
	if w.ClusterAccounts {
		yaml += groupYAML(Namespace, "shared", StateBound, fmt.Sprintf(`{groupName: Shared, accountRef: {kind: ClusterAccount, name: %s}, members: ["1005"]}`, ClusterAccountName))
	}
	if _, err := w.Env.Kubectl(yaml, "apply", "--server-side", "-f", "-"); err != nil {
		return err
	}
	want := map[string]string{"bound": "True", "observed": "True", "deleting": "True", "conflict": "NameConflict", "unknown-agent": "InvalidRequest"}
	if w.ClusterAccounts {
		want["shared"] = "True"
	}
	for name, ready := range want {
		if err := w.WaitReady(ctx, "AgentGroup", Namespace, name, ready); err != nil {
			return err
		}
	}
	// Some versions write nothing on an AgentGroup whose Account is not
	// ready: its Account says it.
	if err := w.WaitReady(ctx, "Account", WaitingNamespace, "default", "SecretNotFound"); err != nil {
		return err
	}
	// Every delete fails from now on (1009, retried): the AgentGroup stays
	// deleting, its remote group in place.
	if err := w.SimPost("/_sim/fail-next", `{"op":"delete","n":100000,"code":1009}`); err != nil {
		return err
	}
	if _, err := w.Env.Kubectl("", "delete", "agentgroup", "-n", Namespace, "deleting", "--wait=false"); err != nil {
		return err
	}
	return w.poll(ctx, "a remote delete for AgentGroup deleting", func() (bool, error) {
		var calls map[string]int
		err := w.SimGet("/_sim/calls", &calls)
		return calls["delete"] > 0, err
	})
}

// HoldCreates applies n more AgentGroups whose adds take effect but whose
// answers are held, and returns once all n wait: a manager killed now
// leaves n creates in flight. Release lets the answers go.
func (w *Workload) HoldCreates(ctx context.Context, n int) error {
	if err := w.SimPost("/_sim/hold-next", fmt.Sprintf(`{"op":"add","n":%d}`, n)); err != nil {
		return err
	}
	var yaml string
	for i := 1; i <= n; i++ {
		yaml += groupYAML(Namespace, fmt.Sprintf("pending-%d", i), StatePendingCreate, fmt.Sprintf(`{groupName: Pending %d, members: ["1006"]}`, i))
	}
	if _, err := w.Env.Kubectl(yaml, "apply", "--server-side", "-f", "-"); err != nil {
		return err
	}
	return w.poll(ctx, fmt.Sprintf("%d held adds", n), func() (bool, error) {
		var held map[string]int
		err := w.SimGet("/_sim/held", &held)
		return held["held"] == n, err
	})
}

// Crash leaves the workload in every state a crash can: it settles the
// AgentGroups, holds three adds, and stops the manager (stop: SIGKILL, or
// SIGTERM as a rollout sends, with the answers still held); then it
// releases the answers and returns what the manager left.
func (w *Workload) Crash(ctx context.Context, stop func()) (*Snapshot, error) {
	if err := w.Settle(ctx); err != nil {
		return nil, err
	}
	if err := w.HoldCreates(ctx, 3); err != nil {
		return nil, err
	}
	stop()
	if err := w.Release(); err != nil {
		return nil, err
	}
	snap, err := w.Take(ctx)
	if err == nil {
		err = snap.CheckInFlight(w.User)
	}
	return snap, err
}

// RequestResync asks every AgentGroup of the workload for a pass, as
// `kubectl agentgroup resync --all` does: Converged waits for the answers.
func (w *Workload) RequestResync(request string) error {
	for _, ns := range []string{Namespace, WaitingNamespace} {
		if _, err := w.Env.Kubectl("", "annotate", "agentgroups", "--all", "-n", ns, "--overwrite", ResyncAnnotation+"="+request); err != nil {
			return err
		}
	}
	return nil
}

// The operator's annotations, spelled here: this package reads every
// version's objects as stored, without today's types.
const (
	ResyncAnnotation       = "deepcall.agentgroups.dev/resync"
	createIntentAnnotation = "deepcall.agentgroups.dev/create-intent"
)

// ManagerFlags are the flags a manager runs with against the workload
// (Built.Args keeps those an earlier version knows). The request timeout
// is the manager's default: held answers must outlast it.
func ManagerFlags(probeAddr string) []string {
	return []string{"metrics-bind-address=0", "health-probe-bind-address=" + probeAddr, "allow-insecure-loopback", "leader-elect=false", "create-settle=15s"}
}

// Release sends the held answers (to a manager that is gone) and lets
// remote deletes succeed again.
func (w *Workload) Release() error {
	if err := w.SimPost("/_sim/release", "{}"); err != nil {
		return err
	}
	return w.SimPost("/_sim/fail-next", `{"op":"delete","n":0}`)
}

// WaitReady waits until the object's Ready condition is status True, or
// False with this reason, at its current generation.
func (w *Workload) WaitReady(ctx context.Context, kind, ns, name, want string) error {
	var last string
	err := w.poll(ctx, "", func() (bool, error) {
		g := &unstructured.Unstructured{}
		g.SetGroupVersionKind(agentGroupGVK.GroupVersion().WithKind(kind))
		if err := w.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, g); err != nil {
			return false, err
		}
		st, reason, gen := Ready(g)
		last = fmt.Sprintf("Ready %s %s at generation %d of %d", st, reason, gen, g.GetGeneration())
		return gen == g.GetGeneration() && (st == want || st == "False" && reason == want), nil
	})
	if err != nil {
		return fmt.Errorf("%s %s/%s: want Ready %s, have %s: %w", kind, ns, name, want, last, err)
	}
	return nil
}

// Ready is an object's Ready condition: status, reason, observedGeneration.
func Ready(u *unstructured.Unstructured) (status, reason string, generation int64) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			gen, _ := m["observedGeneration"].(int64)
			status, _ = m["status"].(string)
			reason, _ = m["reason"].(string)
			return status, reason, gen
		}
	}
	return "", "", 0
}

var (
	agentGroupGVK = schema.GroupVersionKind{Group: "deepcall.agentgroups.dev", Version: "v1alpha1", Kind: "AgentGroup"}
	// storedKinds are what the workload leaves behind, in the order they
	// are restored.
	storedKinds = []schema.GroupVersionKind{
		{Version: "v1", Kind: "Secret"},
		{Group: "deepcall.agentgroups.dev", Version: "v1alpha1", Kind: "ClusterAccount"},
		{Group: "deepcall.agentgroups.dev", Version: "v1alpha1", Kind: "Account"},
		agentGroupGVK,
	}
)

// Snapshot is what the workload left: the objects as the API server holds
// them (server-set metadata removed) and the simulator's state.
type Snapshot struct {
	Objects []*unstructured.Unstructured
	Remote  sim.State
}

// Take reads the workload's objects and the simulator's state.
func (w *Workload) Take(ctx context.Context) (*Snapshot, error) {
	snap := &Snapshot{}
	for _, gvk := range storedKinds {
		if gvk.Kind == "ClusterAccount" && !w.ClusterAccounts {
			continue
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := w.Client.List(ctx, list); err != nil {
			return nil, err
		}
		for i := range list.Items {
			o := &list.Items[i]
			if ns := o.GetNamespace(); gvk.Kind != "ClusterAccount" && ns != Namespace && ns != WaitingNamespace {
				continue
			}
			snap.Objects = append(snap.Objects, stripServerFields(o))
		}
	}
	if err := w.SimGet("/_sim/state", &snap.Remote); err != nil {
		return nil, err
	}
	return snap, nil
}

// stripServerFields keeps what the operator and the user wrote: the
// fields the API server sets for itself are no stored form.
func stripServerFields(o *unstructured.Unstructured) *unstructured.Unstructured {
	o = o.DeepCopy()
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "deletionGracePeriodSeconds"} {
		unstructured.RemoveNestedField(o.Object, "metadata", f)
	}
	return o
}

// Write stores the snapshot in dir: objects.json (a v1 List) and
// remote.json (the simulator's state, as sim.Server.Load reads it).
func (s *Snapshot) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	items := make([]any, len(s.Objects))
	for i, o := range s.Objects {
		items[i] = o.Object
	}
	s.Remote.Calls, s.Remote.Faults = nil, nil
	for name, v := range map[string]any{
		"objects.json": map[string]any{"apiVersion": "v1", "kind": "List", "items": items},
		"remote.json":  s.Remote,
	} {
		raw, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(raw, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ReadSnapshot reads what Write stored.
func ReadSnapshot(dir string) (*Snapshot, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "objects.json"))
	if err != nil {
		return nil, err
	}
	list := &unstructured.UnstructuredList{}
	if err := list.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("%s/objects.json: %w", dir, err)
	}
	snap := &Snapshot{}
	for i := range list.Items {
		snap.Objects = append(snap.Objects, &list.Items[i])
	}
	raw, err = os.ReadFile(filepath.Join(dir, "remote.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &snap.Remote); err != nil {
		return nil, fmt.Errorf("%s/remote.json: %w", dir, err)
	}
	return snap, nil
}

// Rehost moves the snapshot to a simulator at another address, as if it
// had always served there: every stored mention of the captured
// simulator's host and port (baseURL, and the remote accounts recorded
// in status and intents, `<user>@<host:port>`) is replaced.
func (s *Snapshot) Rehost(simURL string) error {
	from := ""
	for _, o := range s.Objects {
		if o.GetKind() == "Account" && o.GetNamespace() == Namespace {
			from, _, _ = unstructured.NestedString(o.Object, "spec", "baseURL")
		}
	}
	if from == "" {
		return fmt.Errorf("no Account in namespace %s", Namespace)
	}
	oldHost, newHost := strings.TrimPrefix(from, "http://"), strings.TrimPrefix(simURL, "http://")
	for i, o := range s.Objects {
		raw, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		moved := &unstructured.Unstructured{}
		if err := moved.UnmarshalJSON([]byte(strings.ReplaceAll(string(raw), oldHost, newHost))); err != nil {
			return err
		}
		s.Objects[i] = moved
	}
	return nil
}

// AgentGroups are the snapshot's AgentGroups in state (all of them for "").
func (s *Snapshot) AgentGroups(state string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range s.Objects {
		if o.GetKind() == "AgentGroup" && (state == "" || o.GetLabels()[StateLabel] == state) {
			out = append(out, o)
		}
	}
	return out
}

// Groups are the user's remote groups in the snapshot.
func (s *Snapshot) Groups(user string) []sim.Group { return GroupsOf(s.Remote, user) }

// GroupsOf are the user's groups in a simulator's state.
func GroupsOf(st sim.State, user string) []sim.Group {
	for _, u := range st.Users {
		if u.ID == user {
			return u.Groups
		}
	}
	return nil
}

// CheckInFlight checks that the snapshot holds what a crash with creates
// in flight leaves: each pending AgentGroup has no group id, its intent
// recorded (the annotation, or the status field of the earliest
// versions), and exactly one remote group of its name.
func (s *Snapshot) CheckInFlight(user string) error {
	pending := s.AgentGroups(StatePendingCreate)
	if len(pending) == 0 {
		return fmt.Errorf("no AgentGroup in state %s", StatePendingCreate)
	}
	for _, g := range pending {
		id, _, _ := unstructured.NestedString(g.Object, "status", "groupId")
		_, inStatus, _ := unstructured.NestedMap(g.Object, "status", "pendingCreate")
		_, inAnnotation := g.GetAnnotations()[createIntentAnnotation]
		if id != "" || !inStatus && !inAnnotation {
			return fmt.Errorf("AgentGroup %s: groupId %q, intent in status %v, in annotation %v: not a create in flight", g.GetName(), id, inStatus, inAnnotation)
		}
		if made := GroupsNamed(s.Groups(user), DesiredName(g)); len(made) != 1 {
			return fmt.Errorf("AgentGroup %s: %d remote groups named %q, want the one its add made", g.GetName(), len(made), DesiredName(g))
		}
	}
	for _, g := range s.AgentGroups(StateDeleting) {
		if g.GetDeletionTimestamp() == nil {
			return fmt.Errorf("AgentGroup %s is not being deleted", g.GetName())
		}
	}
	return nil
}

// DesiredName is an AgentGroup's spec.groupName, or its name.
func DesiredName(g *unstructured.Unstructured) string {
	if n, _, _ := unstructured.NestedString(g.Object, "spec", "groupName"); n != "" {
		return n
	}
	return g.GetName()
}

// GroupsNamed are the groups whose name is name, compared as the API
// does (case-insensitively).
func GroupsNamed(groups []sim.Group, name string) []sim.Group {
	var out []sim.Group
	for _, g := range groups {
		if strings.EqualFold(g.Name, name) {
			out = append(out, g)
		}
	}
	return out
}

// Converged reports, for each AgentGroup of the snapshot taken when the
// earlier manager was killed, how it differs from where the next manager
// must have taken it: bound and pending creates Ready on the group they
// had or their add made, the deleting one gone with its remote group,
// stalled and waiting ones still saying so; and no remote group made
// after the snapshot. Each must have answered the resync request (the
// annotation deepcall.agentgroups.dev/resync, RequestResync) made before
// the next manager started: the status it was left with proves nothing.
// get reads an AgentGroup as it is now (nil: gone).
func (s *Snapshot) Converged(ctx context.Context, user string, now []sim.Group, resync string, get func(ctx context.Context, ns, name string) (*unstructured.Unstructured, error)) []string {
	var problems []string
	has := func(id string) bool {
		return slices.ContainsFunc(now, func(g sim.Group) bool { return fmt.Sprint(g.ID) == id })
	}
	for _, before := range s.AgentGroups("") {
		name := before.GetNamespace() + "/" + before.GetName()
		state := before.GetLabels()[StateLabel]
		id, _, _ := unstructured.NestedString(before.Object, "status", "groupId")
		after, err := get(ctx, before.GetNamespace(), before.GetName())
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		if state == StateDeleting {
			if after != nil || has(id) {
				problems = append(problems, fmt.Sprintf("%s (deleting): AgentGroup present %v, remote group %s present %v", name, after != nil, id, has(id)))
			}
			continue
		}
		if after == nil {
			problems = append(problems, fmt.Sprintf("%s (%s): gone", name, state))
			continue
		}
		ready, reason, gen := Ready(after)
		nowID, _, _ := unstructured.NestedString(after.Object, "status", "groupId")
		if handled, _, _ := unstructured.NestedString(after.Object, "status", "lastHandledResync"); handled != resync {
			problems = append(problems, fmt.Sprintf("%s (%s): no pass of the next manager yet (resync %q answered, want %q)", name, state, handled, resync))
			continue
		}
		switch state {
		case StatePendingCreate:
			if made := GroupsNamed(s.Groups(user), DesiredName(before)); len(made) == 1 {
				id = fmt.Sprint(made[0].ID)
			}
			fallthrough
		case StateBound:
			if ready != "True" || gen != after.GetGeneration() || nowID != id {
				problems = append(problems, fmt.Sprintf("%s (%s): Ready %s %s at generation %d of %d on group %q, want Ready on group %s", name, state, ready, reason, gen, after.GetGeneration(), nowID, id))
			}
		case StateStalled, StateWaiting:
			if ready == "True" || nowID != id {
				problems = append(problems, fmt.Sprintf("%s (%s): Ready %s %s on group %q, want still not Ready, on group %q", name, state, ready, reason, nowID, id))
			}
		}
	}
	known := map[int64]bool{}
	for _, g := range s.Groups(user) {
		known[g.ID] = true
	}
	for _, g := range now {
		if !known[g.ID] {
			problems = append(problems, fmt.Sprintf("remote group %d %q was made after the earlier manager stopped", g.ID, g.Name))
		}
	}
	return problems
}

// Get reads one of the workload's AgentGroups; nil when it is gone.
func (w *Workload) Get(ctx context.Context, ns, name string) (*unstructured.Unstructured, error) {
	return GetAgentGroup(ctx, w.Client, ns, name)
}

// GetAgentGroup reads an AgentGroup as stored; nil when it is gone.
func GetAgentGroup(ctx context.Context, c client.Client, ns, name string) (*unstructured.Unstructured, error) {
	g := &unstructured.Unstructured{}
	g.SetGroupVersionKind(agentGroupGVK)
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, g)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return g, err
}

func (w *Workload) poll(ctx context.Context, what string, done func() (bool, error)) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		ok, err := done()
		last = err
		return ok && err == nil, nil
	})
	if err != nil && last != nil {
		err = fmt.Errorf("%w (last: %v)", err, last)
	}
	if err != nil && what != "" {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return err
}

// SimPost posts body to the simulator's admin API.
func (w *Workload) SimPost(path, body string) error { return w.simSend(http.MethodPost, path, body) }

// SimPatch changes a group by hand through the simulator's admin API.
func (w *Workload) SimPatch(path, body string) error { return w.simSend(http.MethodPatch, path, body) }

func (w *Workload) simSend(method, path, body string) error {
	req, err := http.NewRequest(method, w.Sim+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	return nil
}

// SimGet reads the simulator's admin API into v.
func (w *Workload) SimGet(path string, v any) error {
	resp, err := http.Get(w.Sim + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
