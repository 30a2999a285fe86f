//go:build e2e

// Package e2e tests the built binaries (bin/manager, bin/groupapi-sim) with
// a real kubectl against a local control plane, with no test double inside
// any process: `make test-e2e`.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// The shipped installer (dist/install.yaml, config/default rendered by
// `make build-installer`) and the ServiceAccount it creates, which every
// manager of the stories runs as but the Helm chart's.
const (
	installNS = "agentgroup-system"
	managerSA = "agentgroup-controller-manager"
)

var (
	env     *localenv.Env
	simAddr string
	// managerKubeconfig reaches the control plane as managerSA: the
	// managers have only the permissions the shipped RBAC gives.
	managerKubeconfig string
	// Remote accounts (20003 and 20004 are the noisy-neighbour story's own,
	// 20005 to 20007 the sharding story's, 20008 and 20009 the namespaced
	// install's, 20010 the Secret-memory story's, 20011 the ClusterAccount
	// story's, 20012 the Helm chart's, 20013 to 20016 the kubectl plugin's:
	// import, diff, tree and resync, doctor; 20017 the upgrade and rollback
	// stories', on simulators of their own); the tokens must never show up
	// in a log, an event or a status.
	users = map[string]string{"20001": "e2e-token-alpha-5f1c", "20002": "e2e-token-bravo-93ad",
		"20003": "e2e-token-charlie-7e20", "20004": "e2e-token-delta-c41b",
		"20005": "e2e-token-echo-2b86", "20006": "e2e-token-foxtrot-d17e", "20007": "e2e-token-golf-60a9",
		"20008": "e2e-token-hotel-8d3f", "20009": "e2e-token-india-e5a7", "20010": "e2e-token-kilo-88f3",
		"20011": "e2e-token-lima-4c2e", "20012": "e2e-token-mike-0b7d",
		"20013": "e2e-token-november-3a91", "20014": "e2e-token-oscar-d25c", "20015": "e2e-token-papa-71e8", "20016": "e2e-token-quebec-c6b0",
		"20017": "e2e-token-romeo-5e19"}
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir, err := os.MkdirTemp("", "agentgroup-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, bin := range []string{"manager", "groupapi-sim", "kubectl-agentgroup", "k8s/kubectl", "k8s/kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(root, "bin", bin)); err != nil {
			fmt.Fprintf(os.Stderr, "bin/%s is missing: run `make test-e2e`, which builds it\n", bin)
			os.Exit(1)
		}
	}
	if _, err := os.Stat(filepath.Join(root, installer)); err != nil {
		fmt.Fprintf(os.Stderr, "%s is missing: run `make test-e2e`, which builds it (make build-installer)\n", installer)
		os.Exit(1)
	}
	env, err = localenv.Start(root, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err = install(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else if err = startSim(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	env.Stop()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "logs kept in %s\n", dir)
	} else {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

// installer is what `make build-installer` writes.
var installer = filepath.Join("dist", "install.yaml")

// install applies the installer as its users do, with server-side apply
// (taking over the CRDs' fields, which envtest created), and writes the
// kubeconfig of the ServiceAccount it creates (a TokenRequest token). The
// Deployment never gets a Pod (nothing here runs one): the stories run
// bin/manager with that kubeconfig instead, so that it has exactly the
// installer's RBAC. TestHappyPath is the installer's convergence story.
func install() error {
	if _, err := env.Kubectl("", "apply", "--server-side", "--force-conflicts", "-f", installer); err != nil {
		return err
	}
	managerKubeconfig = filepath.Join(env.Dir, "manager.kubeconfig")
	return env.ServiceAccountKubeconfig(installNS, managerSA, managerKubeconfig)
}

func startSim() error {
	addr, err := localenv.FreeAddr()
	if err != nil {
		return err
	}
	simAddr = addr
	args := []string{"--listen", addr, "--agents", "1000-1099"}
	for u, tok := range users {
		args = append(args, "--user", u+":"+tok)
	}
	if _, err := env.Run("groupapi-sim", env.Bin("groupapi-sim"), args...); err != nil {
		return err
	}
	return localenv.WaitTCP(addr, 10*time.Second)
}

// startManager runs bin/manager; its output goes to manager.log.
func startManager(t *testing.T, args ...string) *localenv.Proc {
	t.Helper()
	return startManagerNamed(t, "manager", args...)
}

// startManagerNamed runs bin/manager with its output in name.log, for the
// stories that run several managers at once.
func startManagerNamed(t *testing.T, name string, args ...string) *localenv.Proc {
	t.Helper()
	return startManagerAs(t, name, managerKubeconfig, args...)
}

// startManagerAs runs bin/manager as the user of kubeconfig.
func startManagerAs(t *testing.T, name, kubeconfig string, args ...string) *localenv.Proc {
	t.Helper()
	probe, err := localenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// The simulator has no read-after-write lag, so a short --create-settle
	// settles injected 1009 answers to add within the stories' time; it is
	// plain http on 127.0.0.1.
	base := []string{"--metrics-bind-address=0", "--health-probe-bind-address=" + probe, "--request-timeout=5s", "--max-concurrent-reconciles=8", "--create-settle=15s",
		"--allow-insecure-loopback"}
	p, err := env.RunWithEnv(name, []string{"KUBECONFIG=" + kubeconfig}, env.Bin("manager"), append(base, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := env.Kubectl(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func simGet(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + simAddr + path)
	decodeInto(t, path, resp, err, v)
}

// simPostJSON posts to the admin API and decodes the answer into v.
func simPostJSON(t *testing.T, path, body string, v any) {
	t.Helper()
	resp, err := http.Post("http://"+simAddr+path, "application/json", strings.NewReader(body))
	decodeInto(t, path, resp, err, v)
}

func decodeInto(t *testing.T, path string, resp *http.Response, err error, v any) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v: %s", path, err, b)
	}
}

func simPost(t *testing.T, path, body string) {
	t.Helper()
	resp, err := http.Post("http://"+simAddr+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s: HTTP %d", path, resp.StatusCode)
	}
}

// remote returns each user's groups, and the whole simulator state.
func remote(t *testing.T) (map[string][]sim.Group, sim.State) {
	t.Helper()
	var st sim.State
	simGet(t, "/_sim/state", &st)
	out := map[string][]sim.Group{}
	for _, u := range st.Users {
		out[u.ID] = u.Groups
	}
	return out, st
}

// account applies a namespace with a credentials Secret and an Account.
func account(t *testing.T, ns, user string) {
	t.Helper()
	kubectl(t, accountYAML(ns, user), "apply", "-f", "-")
}

// accountYAML is the namespace, credentials Secret and Account that
// account applies.
func accountYAML(ns, user string) string {
	return localenv.AccountYAML(ns, user, users[user], simAddr, 25)
}

func groupYAML(ns, name, groupName string, members, receivers []string) string {
	return fmt.Sprintf(`apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata: {name: %s, namespace: %s}
spec:
  groupName: %q
  members: [%s]
  receiveCall: [%s]
`, name, ns, groupName, quoted(members), quoted(receivers))
}

func quoted(ids []string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return strings.Join(q, ", ")
}

type agentGroup struct {
	Metadata struct {
		Name, Namespace string
		Generation      int64
	}
	Spec struct {
		GroupName   string   `json:"groupName"`
		Members     []string `json:"members"`
		ReceiveCall []string `json:"receiveCall"`
	}
	Status struct {
		ObservedGeneration int64  `json:"observedGeneration"`
		GroupID            string `json:"groupId"`
		Conditions         []struct{ Type, Status, Reason, Message string }
	}
}

func (g agentGroup) ready() bool {
	for _, c := range g.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True" && g.Status.GroupID != "" && g.Status.ObservedGeneration == g.Metadata.Generation
		}
	}
	return false
}

func agentGroups(t *testing.T, namespaces ...string) []agentGroup {
	t.Helper()
	var all []agentGroup
	for _, ns := range namespaces {
		var list struct{ Items []agentGroup }
		if err := json.Unmarshal([]byte(kubectl(t, "", "get", "agentgroups", "-n", ns, "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		all = append(all, list.Items...)
	}
	return all
}

func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
