// Command bench measures what the operator costs and how fast it converges
// (`make bench`): a local control plane, the simulator in this process with
// a configured latency, and bin/manager as a separate process. For each
// size it runs four scenarios (cold start, no-op resync, 10% membership
// change, delete all), times a naive sequential script doing the same
// remote work, prints a table and writes a report with a chart. During the
// largest size's cold start and no-op resync it also times the edits of
// one AgentGroup of another Account (the noisy neighbour, noisy.go). Last,
// it measures what the largest size's creates cost the control plane with
// no manager up (the creates alone).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// run is one size at one per-Account rate limit.
type run struct{ n, rps int }

func (r run) String() string { return fmt.Sprintf("N=%d at %d req/s", r.n, r.rps) }

type config struct {
	runs        []run
	accounts    int
	members     int
	receivers   int
	latency     time.Duration
	concurrency int
	// naiveMax caps the naive script's run; beyond it its time is
	// extrapolated (it is sequential, so linear in N).
	naiveMax int
	// gomemlimit is the manager's GOMEMLIMIT ("": none).
	gomemlimit string
	// profile captures CPU and heap profiles of the manager at the largest size.
	profile bool
	// noisy edits the noisy neighbour's AgentGroup during the largest
	// size's cold start and no-op resync (noisy.go).
	noisy bool
	// shards ≥ 2 runs the largest size's cold start once more, after all
	// the runs, with that many managers, each watching its shard's
	// namespaces.
	shards int
	out    string
	docs   string // Markdown file to update, if any
}

func main() {
	var runs string
	c := config{}
	flag.StringVar(&runs, "runs", "1000@50,10000@50,1000@5", "comma-separated runs, each N@R: N AgentGroups, every Account at R requests/s")
	flag.IntVar(&c.accounts, "accounts", 10, "namespaces, each with one Account on its own remote user")
	flag.IntVar(&c.members, "members", 20, "members per group")
	flag.IntVar(&c.receivers, "receivers", 5, "call receivers per group")
	flag.DurationVar(&c.latency, "latency", 50*time.Millisecond, "simulated API latency per request")
	flag.IntVar(&c.concurrency, "max-concurrent-reconciles", 16, "the manager's --max-concurrent-reconciles (16: its default)")
	flag.IntVar(&c.naiveMax, "naive-max", 1000, "the most groups the naive script runs; larger runs are extrapolated from it")
	flag.StringVar(&c.gomemlimit, "gomemlimit", "112MiB", "GOMEMLIMIT for the manager, as config/manager sets it (\"\": none)")
	flag.BoolVar(&c.profile, "profile", true, "save CPU and heap profiles of the manager during the largest cold start")
	flag.BoolVar(&c.noisy, "noisy", true, "measure the noisy neighbour: time to Ready of another Account's edited AgentGroup during the largest cold start and no-op resync")
	flag.IntVar(&c.shards, "shards", 1, "after the runs, run the largest N's cold start again with this many managers, each started with --watch-label-selector for its share of the namespaces (1: no sharded run)")
	flag.StringVar(&c.out, "out", "bin/bench", "directory for logs, profiles, the chart and results.md")
	flag.StringVar(&c.docs, "docs", "", "also write the table and chart into this Markdown file, between its markers (docs/benchmarks.md for a full run)")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	for _, s := range strings.Split(runs, ",") {
		n, rps, ok := strings.Cut(strings.TrimSpace(s), "@")
		r := run{}
		var err1, err2 error
		r.n, err1 = strconv.Atoi(n)
		r.rps, err2 = strconv.Atoi(rps)
		if !ok || err1 != nil || err2 != nil || r.n < c.accounts || r.rps < 1 {
			fatal(fmt.Errorf("bad -runs %q: each run is N@R, N ≥ -accounts, R ≥ 1", runs))
		}
		c.runs = append(c.runs, r)
	}
	if c.shards < 1 || c.shards > c.accounts {
		fatal(fmt.Errorf("bad -shards %d: 1 to -accounts", c.shards))
	}
	if err := bench(c); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func bench(c config) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	logs, err := os.MkdirTemp(c.out, "run-")
	if err != nil {
		return err
	}
	fmt.Printf("bench: runs %v (N@requests/s), %d accounts, %v latency; logs in %s\n", c.runs, c.accounts, c.latency, logs)

	env, err := localenv.Start(root, logs)
	if err != nil {
		return err
	}
	defer env.Stop()

	simulator := sim.New(sim.Options{Seed: 1, Faults: sim.Faults{Latency: c.latency}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	reads := newRelationReads()
	srv := &http.Server{Handler: reads.wrap(simulator), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	ctx := context.Background()
	h, err := newHarness(ctx, c, env, simulator, "http://"+l.Addr().String(), reads)
	if err != nil {
		return err
	}
	defer h.stop()

	var results []result
	var series []readySeries
	var noisy []noisyResult
	largest := slices.MaxFunc(c.runs, func(a, b run) int { return a.n - b.n })
	for _, r := range c.runs {
		rs, curve, nr, err := h.runScenarios(ctx, r, runOpts{profile: c.profile && r == largest, noisy: c.noisy && r == largest})
		if err != nil {
			return fmt.Errorf("run %v: %w", r, err)
		}
		results = append(results, rs...)
		series = append(series, curve)
		noisy = append(noisy, nr...)
	}
	shardNote := ""
	if c.shards > 1 {
		if h.managerCanShard() {
			rs, curve, _, err := h.runScenarios(ctx, largest, runOpts{shards: c.shards, only: []string{"cold start"}})
			if err != nil {
				return fmt.Errorf("run %v with %d shards: %w", largest, c.shards, err)
			}
			results = append(results, rs...)
			series = append(series, curve)
		} else {
			shardNote = fmt.Sprintf("The %d-shard cold start was not run: bin/manager has no --%s.", c.shards, watchSelectorFlag)
			fmt.Println("  " + shardNote)
		}
	}

	// No manager runs now and the harness writes nothing to the API
	// server: what it counts meanwhile (at least 10 s) is the control
	// plane's own background, taken away from every scenario's count.
	idle0, err := h.probeWrites(ctx)
	if err != nil {
		return err
	}
	naive, err := runNaive(ctx, c, simulator, h.simURL)
	if err != nil {
		return fmt.Errorf("naive script: %w", err)
	}
	time.Sleep(time.Until(idle0.at.Add(10 * time.Second)))
	idle1, err := h.probeWrites(ctx)
	if err != nil {
		return err
	}
	idle := writesBetween(idle0, idle1)
	bg := backgroundRate(idle)
	for i := range results {
		results[i].api.setBackground(bg)
	}
	alone, err := h.measureCreatesAlone(ctx, largest)
	if err != nil {
		return fmt.Errorf("creates alone: %w", err)
	}
	for i, x := range results {
		if x.run == largest && x.scenario == "cold start" && x.shards <= 1 {
			results[i].createsAloneCPU = alone
		}
	}

	rep := report{config: c, results: results, naive: naive, series: series, noisy: noisy, background: bg, idle: idle, shardNote: shardNote, when: time.Now()}
	fmt.Println()
	fmt.Print(rep.table())
	fmt.Print(rep.targets())
	if err := rep.write(c.out); err != nil {
		return err
	}
	fmt.Printf("\nresults and chart in %s\n", c.out)
	if c.docs == "" {
		return nil
	}
	fmt.Printf("updated %s\n", c.docs)
	return rep.updateDoc(c.docs)
}
