package main

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// agents is the pool members are drawn from, per remote user.
var agents = sim.AgentRange(1000, 1999)

// writeOps are the remote calls that change something.
var writeOps = []groupapi.Operation{groupapi.OpAdd, groupapi.OpUpdate, groupapi.OpDelete, groupapi.OpSubmitAssignGroupToAgent}

type harness struct {
	c      config
	env    *localenv.Env
	sim    *sim.Server
	simURL string
	k8s    client.Client
	track  *tracker
	// reads: when each remote group was last read (the no-op resync's
	// completion signal).
	reads *relationReads

	// API-server writes (apiwrites.go): the API server's count, the
	// harness's own, the operator's for the noisy neighbour and
	// kube-apiserver's own.
	apiMetrics        *apiServerMetrics
	harnessWrites     *harnessWrites
	noisyWatch        *watchCounter
	controlPlaneWatch *watchCounter

	// mgrs are the running managers: one, or one per shard.
	mgrs []*manager

	// noisySim serves the noisy neighbour's remote user (noisy.go).
	noisySim     *sim.Server
	noisyURL     string
	stopNoisySim func()
	noisyEdits   int // B's edits so far, one phase at a time
	noisyCalls   *callTimes
	noisySeen    *genSeen
}

// manager is one bin/manager process.
type manager struct {
	proc        *localenv.Proc
	metricsAddr string // plain HTTP (--metrics-secure=false)
	pprofAddr   string
	shard       string // its --watch-label-selector value, or ""
}

func namespace(i int) string { return fmt.Sprintf("bench-%02d", i) }

// shardOf is the shard of the objects in namespace i: the namespaces are
// split into -shards equal runs (10 Accounts, 2 shards: bench-00 to
// bench-04 are shard1, bench-05 to bench-09 shard2).
func (c config) shardOf(i int) string { return fmt.Sprintf("shard%d", i*c.shards/c.accounts+1) }

// labels are namespace i's objects' labels: the shard's with -shards 2 or
// more (the unsharded runs' managers watch every object either way), none
// otherwise. The noisy neighbour's (i < 0) are shard1's.
func (c config) labels(i int) map[string]string {
	if c.shards < 2 {
		return nil
	}
	return map[string]string{deepcallv1.ShardLabel: c.shardOf(max(i, 0))}
}

func newHarness(ctx context.Context, c config, env *localenv.Env, simulator *sim.Server, simURL string, reads *relationReads) (*harness, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := deepcallv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	h := &harness{c: c, env: env, sim: simulator, simURL: simURL, reads: reads, harnessWrites: newHarnessWrites()}
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0 // the API server's fairness is the only limit, as for the manager
	cfg.Wrap(h.harnessWrites.wrap)
	var err error
	if h.apiMetrics, err = newAPIServerMetrics(cfg); err != nil {
		return nil, err
	}
	if h.k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	if h.track, err = startTracker(ctx, cfg, scheme); err != nil {
		return nil, err
	}
	if h.noisyWatch, err = startNoisyWatch(ctx, cfg, scheme); err != nil {
		return nil, err
	}
	if h.controlPlaneWatch, err = startControlPlaneWatch(ctx, cfg, scheme); err != nil {
		return nil, err
	}
	h.noisyCalls, h.noisySeen = &callTimes{}, &genSeen{seen: map[int64]time.Time{}}
	go h.watchNoisy(ctx)
	if h.noisySim, h.noisyURL, h.stopNoisySim, err = startNoisySim(c, h.noisyCalls); err != nil {
		return nil, err
	}
	k8s := h.k8s
	for i := range c.accounts {
		user, token := fmt.Sprint(30001+i), fmt.Sprintf("bench-token-%02d", i)
		simulator.AddUser(sim.User{ID: user, Token: token, Agents: agents})
		ns := namespace(i)
		labels := c.labels(i)
		objs := []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "deepcall-credentials", Labels: labels},
				StringData: map[string]string{"userId": user, "token": token}},
			&deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default", Labels: labels}, Spec: deepcallv1.AccountSpec{
				BaseURL: simURL, CredentialsSecretRef: deepcallv1.SecretReference{Name: "deepcall-credentials"},
				SyncInterval: metav1.Duration{Duration: 10 * time.Minute},
			}},
		}
		for _, o := range objs {
			if err := k8s.Create(ctx, o); err != nil {
				return nil, fmt.Errorf("create %s: %w", o.GetName(), err)
			}
		}
	}
	if err := h.createNoisy(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

// desired is AgentGroup number i: distinct members drawn from the pool
// (the same ones every time), the first of them receivers, in namespace i
// mod accounts.
func (c config) desired(i int) *deepcallv1.AgentGroup {
	rng := rand.New(rand.NewSource(int64(i)))
	ids := make([]deepcallv1.AgentID, 0, c.members)
	for _, j := range rng.Perm(len(agents))[:c.members] {
		ids = append(ids, deepcallv1.AgentID(agents[j]))
	}
	return &deepcallv1.AgentGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace(i % c.accounts), Name: fmt.Sprintf("g%05d", i), Labels: c.labels(i % c.accounts)},
		Spec: deepcallv1.AgentGroupSpec{
			GroupName:   fmt.Sprintf("Bench %05d", i),
			Members:     ids,
			ReceiveCall: ids[:c.receivers],
		},
	}
}

// startManagers sets every run Account's rate limit, then runs bin/manager
// with its metrics on plain HTTP and pprof on a loopback address: one, or
// with shards ≥ 2 one per shard, each watching only its shard's objects.
// None elects a leader.
func (h *harness) startManagers(ctx context.Context, rps, shards int) error {
	for i := range h.c.accounts {
		acct := &deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: namespace(i), Name: "default"}}
		patch := []byte(fmt.Sprintf(`{"spec":{"requestsPerSecond":%d,"burst":%d}}`, rps, rps))
		if err := h.k8s.Patch(ctx, acct, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return err
		}
	}
	started := time.Now().Truncate(time.Second)
	var env []string
	if h.c.gomemlimit != "" {
		env = append(env, "GOMEMLIMIT="+h.c.gomemlimit)
	}
	for k := range max(shards, 1) {
		m := &manager{}
		metrics, err := localenv.FreeAddr()
		if err != nil {
			return err
		}
		probe, err := localenv.FreeAddr()
		if err != nil {
			return err
		}
		pprof, err := localenv.FreeAddr()
		if err != nil {
			return err
		}
		m.metricsAddr, m.pprofAddr = metrics, pprof
		name := "manager"
		args := []string{"--metrics-bind-address=" + metrics, "--metrics-secure=false", "--health-probe-bind-address=" + probe,
			"--pprof-bind-address=" + pprof, fmt.Sprintf("--max-concurrent-reconciles=%d", h.c.concurrency), "--request-timeout=10s", "--allow-insecure-loopback"}
		if shards > 1 {
			m.shard = fmt.Sprintf("shard%d", k+1)
			name += "-" + m.shard
			args = append(args, fmt.Sprintf("--%s=%s=%s", watchSelectorFlag, deepcallv1.ShardLabel, m.shard))
		}
		if m.proc, err = h.env.RunWithEnv(name, env, h.env.Bin("manager"), args...); err != nil {
			return err
		}
		h.mgrs = append(h.mgrs, m)
		if err := localenv.WaitTCP(probe, 30*time.Second); err != nil {
			return err
		}
	}
	// Every Account checks its credentials (one list call) before groups
	// are applied, so scenarios count only the groups' calls. The status
	// may still say Ready from the previous manager: wait for this one's.
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var list deepcallv1.AccountList
		if err := h.k8s.List(ctx, &list); err != nil {
			return false, err
		}
		for i := range list.Items {
			st := list.Items[i].Status
			if !meta.IsStatusConditionTrue(st.Conditions, deepcallv1.ConditionReady) || st.LastSyncTime == nil || st.LastSyncTime.Time.Before(started) {
				return false, nil
			}
		}
		return len(list.Items) == h.c.accounts+1, nil // and the noisy neighbour's
	})
}

// stopManagers stops every manager.
func (h *harness) stopManagers() {
	for _, m := range h.mgrs {
		m.proc.Stop()
	}
	h.mgrs = nil
}

func (h *harness) stop() {
	h.stopManagers()
	h.track.stop()
	h.noisyWatch.stop()
	h.controlPlaneWatch.stop()
	if h.stopNoisySim != nil {
		h.stopNoisySim()
	}
}

// watchSelectorFlag is the manager's flag for the label selector of the
// objects it watches, which the sharded run needs.
const watchSelectorFlag = "watch-label-selector"

// managerCanShard reports whether bin/manager has --watch-label-selector.
func (h *harness) managerCanShard() bool {
	out, _ := exec.Command(h.env.Bin("manager"), "-h").CombinedOutput()
	return strings.Contains(string(out), "-"+watchSelectorFlag)
}

// cpuProfile saves a CPU profile of the manager's next d, with its top
// entries as text.
func (h *harness) cpuProfile(n int, d time.Duration) {
	h.saveProfile(fmt.Sprintf("cpu-%d", n), fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())))
}

// heapProfile saves the manager's heap as it is now.
func (h *harness) heapProfile(n int, scenario string) {
	h.saveProfile(fmt.Sprintf("heap-%d-after-%s", n, strings.ReplaceAll(scenario, " ", "-")), "/debug/pprof/heap?gc=1")
}

func (h *harness) saveProfile(name, path string) {
	dir := filepath.Join(h.c.out, "profiles")
	_ = os.MkdirAll(dir, 0o755)
	file := filepath.Join(dir, name+".pprof")
	err := fetchTo("http://"+h.mgrs[0].pprofAddr+path, file)
	if err == nil {
		var top []byte
		top, err = exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", h.env.Bin("manager"), file).CombinedOutput()
		if err == nil {
			err = os.WriteFile(file+".txt", top, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: profile %s: %v\n", name, err)
	}
}

func fetchTo(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// parallel runs f for 0..n-1, 32 at a time, and returns the first error.
func parallel(n int, f func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error { return f(i) })
	}
	return g.Wait()
}
