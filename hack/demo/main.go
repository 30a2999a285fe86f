// Command demo shows the whole product on one machine, with nothing but the
// repository: a local control plane (etcd, kube-apiserver and the namespace
// and garbage-collector controllers of kube-controller-manager), the Group
// API simulator, and the operator; then it applies config/samples and shows
// convergence, drift correction and deletion. `make demo` runs it and tears
// everything down; `make demo-up` keeps it running (--keep) until
// `make demo-down`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

const (
	simAddr   = "127.0.0.1:18080" // config/samples' Account points here
	simUser   = "10234"           // and its Secret holds these
	simToken  = "demo-token"
	namespace = "demo"
)

type demo struct {
	root, dir   string
	env         *localenv.Env
	step, steps int
}

func main() {
	keep := flag.Bool("keep", false, "leave everything running until SIGTERM or SIGINT (make demo-up)")
	flag.Parse()
	root, _ := os.Getwd()
	d := &demo{root: root, dir: filepath.Join(root, ".demo"), steps: 8}
	if *keep {
		d.steps = 5
	}
	_ = os.RemoveAll(d.dir)
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		fail(d, err)
	}
	defer d.teardown()
	if err := d.run(*keep); err != nil {
		d.teardown()
		fail(d, err)
	}
}

func fail(d *demo, err error) {
	fmt.Fprintf(os.Stderr, "\ndemo failed at step %d: %v\nlogs: %s/*.log\n", d.step, err, d.dir)
	os.Exit(1)
}

func (d *demo) say(format string, args ...any) {
	d.step++
	fmt.Printf("\n==> [%d/%d] %s\n", d.step, d.steps, fmt.Sprintf(format, args...))
}

func (d *demo) run(keep bool) error {
	d.say("Starting a local control plane (etcd, kube-apiserver, kube-controller-manager)")
	if err := d.startControlPlane(); err != nil {
		return err
	}
	d.say("Starting the Group API simulator on http://%s (user %s) and the operator", simAddr, simUser)
	if err := d.startSimAndManager(); err != nil {
		return err
	}
	// The Observe sample watches a group someone made by hand.
	if _, err := d.simAdmin("POST", "/_sim/users/"+simUser+"/groups", `{"name":"Support"}`); err != nil {
		return err
	}
	if _, err := d.simAdmin("PATCH", "/_sim/users/"+simUser+"/groups/1", `{"members":["1006","1007"],"receive_call":["1006"]}`); err != nil {
		return err
	}

	d.say("Applying config/samples to namespace %s and waiting for Ready", namespace)
	if err := d.kubectl("create", "namespace", namespace); err != nil {
		return err
	}
	if err := d.kubectl("apply", "-n", namespace, "-k", "config/samples"); err != nil {
		return err
	}
	if err := d.kubectl("wait", "-n", namespace, "--for=condition=Ready", "agentgroups", "--all", "--timeout=90s"); err != nil {
		return err
	}
	d.say("What Kubernetes and the remote account say")
	if err := d.kubectl("get", "-n", namespace, "agentgroups,accounts", "-o", "wide"); err != nil {
		return err
	}
	if err := d.printRemote(); err != nil {
		return err
	}
	// The Observe sample reports, and never corrects, how it differs.
	if err := d.kubectl("get", "-n", namespace, "agentgroup", "support", "-o", "jsonpath={.status.drift}"); err != nil {
		return err
	}
	if keep {
		d.say("Running until `make demo-down`")
		fmt.Printf("    export KUBECONFIG=%s\n    kubectl is bin/k8s/kubectl; the simulator is http://%s (admin API: /_sim/state)\n    logs: %s/*.log\n", d.env.Kubeconfig, simAddr, d.dir)
		_ = os.WriteFile(filepath.Join(d.dir, "ready"), nil, 0o644)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		<-ctx.Done()
		return nil
	}

	d.say("Changing Sales Team by hand in the simulator (rename, extra member), then asking for a resync")
	salesID, err := d.remoteID("Sales Team")
	if err != nil {
		return err
	}
	if _, err := d.simAdmin("PATCH", fmt.Sprintf("/_sim/users/%s/groups/%s", simUser, salesID), `{"name":"Sales (edited by hand)","members":["1001","1002","1003","1099"]}`); err != nil {
		return err
	}
	if err := d.printRemote(); err != nil {
		return err
	}
	// The periodic check (every syncInterval) would find it too; an
	// annotation change makes the operator look now.
	if err := d.kubectl("annotate", "-n", namespace, "agentgroup", "sales", fmt.Sprintf("deepcall.agentgroups.dev/resync=%d", time.Now().Unix()), "--overwrite"); err != nil {
		return err
	}
	if err := d.waitRemote(func(groups map[string]sim.Group) bool {
		g, ok := groups["Sales Team"]
		return ok && len(g.Members) == 3
	}); err != nil {
		return fmt.Errorf("drift not corrected: %w", err)
	}
	d.say("Drift corrected; the events say what happened")
	if err := d.printRemote(); err != nil {
		return err
	}
	if err := d.kubectl("events", "-n", namespace, "--for", "agentgroup/sales"); err != nil {
		return err
	}

	d.say("Deleting AgentGroup sales: its remote group goes with it")
	if err := d.kubectl("delete", "-n", namespace, "agentgroup", "sales", "--wait", "--timeout=60s"); err != nil {
		return err
	}
	if err := d.printRemote(); err != nil {
		return err
	}
	d.say("Deleting namespace %s (Secret, Account, AgentGroups at once); Orphan and Observe groups stay remotely", namespace)
	if err := d.kubectl("delete", "namespace", namespace, "--wait", "--timeout=90s"); err != nil {
		return err
	}
	if err := d.printRemote(); err != nil {
		return err
	}
	fmt.Println("\ndemo finished: tearing down")
	return nil
}

func (d *demo) startControlPlane() error {
	env, err := localenv.Start(d.root, d.dir)
	if err != nil {
		return err
	}
	d.env = env
	fmt.Printf("    kube-apiserver at %s, kubeconfig %s\n", env.Config.Host, env.Kubeconfig)
	return nil
}

func (d *demo) startSimAndManager() error {
	if _, err := d.env.Run("groupapi-sim", d.env.Bin("groupapi-sim"), "--listen", simAddr, "--user", simUser+":"+simToken); err != nil {
		return err
	}
	if err := localenv.WaitTCP(simAddr, 10*time.Second); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	_, err := d.env.Run("manager", d.env.Bin("manager"), "--metrics-bind-address=127.0.0.1:18081", "--health-probe-bind-address=127.0.0.1:18082",
		"--allow-insecure-loopback") // the simulator is plain http on 127.0.0.1
	return err
}

func (d *demo) teardown() {
	if d.env != nil {
		d.env.Stop()
		d.env = nil
	}
}

// kubectl runs kubectl, printing the command and its output.
func (d *demo) kubectl(args ...string) error {
	fmt.Printf("    $ kubectl %s\n", strings.Join(args, " "))
	out, err := d.env.Kubectl("", args...)
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line != "" {
			fmt.Println("    " + line)
		}
	}
	return err
}

func (d *demo) remote() (map[string]sim.Group, error) {
	body, err := d.simAdmin("GET", "/_sim/state", "")
	if err != nil {
		return nil, err
	}
	var st sim.State
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, err
	}
	out := map[string]sim.Group{}
	for _, u := range st.Users {
		for _, g := range u.Groups {
			out[g.Name] = g
		}
	}
	return out, nil
}

func (d *demo) remoteID(name string) (string, error) {
	groups, err := d.remote()
	if err != nil {
		return "", err
	}
	g, ok := groups[name]
	if !ok {
		return "", fmt.Errorf("no remote group %q", name)
	}
	return fmt.Sprint(g.ID), nil
}

func (d *demo) printRemote() error {
	groups, err := d.remote()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return groups[names[i]].ID < groups[names[j]].ID })
	fmt.Printf("    remote groups (simulator, user %s):\n", simUser)
	fmt.Printf("    %-4s %-24s %-8s %-22s %s\n", "ID", "NAME", "STATUS", "MEMBERS", "RECEIVE CALL")
	for _, n := range names {
		g := groups[n]
		status := "active"
		if g.Status == 0 {
			status = "inactive"
		}
		fmt.Printf("    %-4d %-24s %-8s %-22s %s\n", g.ID, g.Name, status, strings.Join(g.Members, ","), strings.Join(g.Receivers, ","))
	}
	if len(names) == 0 {
		fmt.Println("    (none)")
	}
	return nil
}

func (d *demo) waitRemote(ok func(map[string]sim.Group) bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if groups, err := d.remote(); err == nil && ok(groups) {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("timed out after 30s")
}

func (d *demo) simAdmin(method, path, body string) ([]byte, error) {
	req, err := http.NewRequest(method, "http://"+simAddr+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("simulator %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("simulator %s %s: HTTP %d %s", method, path, resp.StatusCode, b)
	}
	return b, nil
}
