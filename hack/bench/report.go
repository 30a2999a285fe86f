package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

const (
	// targetRPS is the rate limit the time targets are set for.
	targetRPS   = 50
	chartFile   = "benchmarks-cold-start.png"
	beginMarker = "<!-- bench:begin (written by make bench) -->"
	endMarker   = "<!-- bench:end -->"
)

type report struct {
	config  config
	results []result
	naive   naiveResult
	series  []readySeries
	noisy   []noisyResult
	// background is the writes per second no one accounts for, measured
	// over idle (no manager, the harness idle) and taken away from the
	// API server's counts.
	background background
	idle       apiWrites
	// shardNote says why the sharded run is missing, if it is.
	shardNote string
	when      time.Time
}

// unsharded are the rows of the runs with one manager.
func (r report) unsharded() []result {
	var out []result
	for _, x := range r.results {
		if x.shards < 2 {
			out = append(out, x)
		}
	}
	return out
}

// table is the results as Markdown.
func (r report) table() string {
	var b strings.Builder
	c := r.config
	memlimit := "no GOMEMLIMIT"
	if c.gomemlimit != "" {
		memlimit = "GOMEMLIMIT=" + c.gomemlimit
	}
	fmt.Fprintf(&b, "Measured %s on %d CPUs: %d Accounts (each its own remote user), %v simulated latency, %d members (%d receivers) per group, manager with --max-concurrent-reconciles=%d and %s.\n\n",
		r.when.Format("2006-01-02"), runtime.NumCPU(), c.accounts, c.latency, c.members, c.receivers, c.concurrency, memlimit)
	b.WriteString("| N | req/s per Account | scenario | wall | remote calls by operation | calls per group | floor | wall ÷ floor | remote writes | API-server writes per group | events per group | manager peak RSS | manager CPU | kube-apiserver + etcd CPU | per 1,000 groups | reconciles: AgentGroup / Account |\n")
	b.WriteString("|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.unsharded() {
		fmt.Fprintf(&b, "| %d | %d | %s | %.1f s | %s | %.3f | %.1f s | %.2f | %d | %.2f | %.2f | %d MiB | %.1f s | %.1f s | %.1f s | %d / %d |\n",
			x.n, x.rps, x.scenario, x.wall.Seconds(), byOp(x.calls), x.perGroup(),
			x.floor.Seconds(), x.overFloor(), x.remoteWrites, x.apiWritesPerGroup(), x.eventsPerGroup(), x.peakRSS>>20, x.cpu.Seconds(), x.controlPlaneCPU.Seconds(),
			x.controlPlaneCPUPer1000(), x.reconciles["agentgroup"], x.reconciles["account"])
	}
	b.WriteString(r.createsAloneTable())
	b.WriteString(r.writesTable())
	b.WriteString(r.shardTable())
	b.WriteString("\n| N | naive script | operator cold start | req/s per Account | operator speed-up |\n|---:|---:|---:|---:|---:|\n")
	for _, x := range r.unsharded() {
		if x.scenario != "cold start" {
			continue
		}
		naive := r.naiveTime(x.n)
		how := "measured"
		if x.n != r.naive.n {
			how = fmt.Sprintf("%d × %.0f ms, the time per group measured over %d groups", x.n, float64(r.naive.perGroup())/float64(time.Millisecond), r.naive.n)
		}
		fmt.Fprintf(&b, "| %d | %.1f s (%s) | %.1f s | %d | %.1f× |\n", x.n, naive.Seconds(), how, x.wall.Seconds(), x.rps, naive.Seconds()/x.wall.Seconds())
	}
	b.WriteString(r.noisyTable())
	return b.String()
}

// createsAloneTable is the largest cold start's control-plane CPU beside
// that of its creates alone: the share the operator adds.
func (r report) createsAloneTable() string {
	var b strings.Builder
	for _, x := range r.unsharded() {
		if x.scenario != "cold start" || x.createsAloneCPU == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\nkube-apiserver + etcd CPU of the largest cold start beside that of its creates alone: the same groups created once more after every run, in namespaces of their own, with no manager up. The creates alone are what applying the groups costs a cluster without the operator; the rest is the operator's share (with the noisy neighbour's edits and reads, when on, and the control plane's idle over the cold start's longer wall).\n\n")
			b.WriteString("| N | req/s per Account | creates alone | per 1,000 groups | cold start per 1,000 groups | the operator's share per 1,000 groups |\n|---:|---:|---:|---:|---:|---:|\n")
		}
		fmt.Fprintf(&b, "| %d | %d | %.1f s | %.1f s | %.1f s | %.1f s |\n", x.n, x.rps, x.createsAloneCPU.Seconds(),
			x.createsAlonePer1000(), x.controlPlaneCPUPer1000(), x.operatorShareOfControlPlanePer1000())
	}
	return b.String()
}

// writesTable is the operator's API-server writes per group by resource
// and verb.
func (r report) writesTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nAPI-server writes by the operator per group, by resource and verb: kube-apiserver's apiserver_request_total, less the harness's own writes, the operator's for the noisy neighbour, kube-apiserver's own Lease renewals and any other background (%s).\n\n",
		writeCounts(r.background).perSecond())
	b.WriteString("| N | req/s per Account | scenario | shards | writes per group | failed (all groups) |\n|---:|---:|---|---:|---|---:|\n")
	for _, x := range r.results {
		fmt.Fprintf(&b, "| %d | %d | %s | %d | %s | %.0f |\n", x.n, x.rps, x.scenario, max(x.shards, 1), x.api.operator.perGroup(x.groups), x.api.failed.sum())
	}
	return b.String()
}

// shardTable is the sharded cold start beside the same run's unsharded one.
func (r report) shardTable() string {
	var sharded []result
	for _, x := range r.results {
		if x.shards > 1 {
			sharded = append(sharded, x)
		}
	}
	if len(sharded) == 0 {
		if r.shardNote != "" {
			return "\n" + r.shardNote + "\n"
		}
		return ""
	}
	var b strings.Builder
	b.WriteString("\nSharded: the same cold start with one manager per shard, each started with --watch-label-selector=" + deepcallv1.ShardLabel + "=shardK and watching its share of the namespaces' Accounts and AgentGroups (after the runs above, on the same control plane).\n\n")
	b.WriteString("| N | req/s per Account | scenario | managers | wall | floor | wall ÷ floor | API-server writes per group | events per group | kube-apiserver + etcd CPU | per 1,000 groups | each manager: peak RSS, CPU |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	rows := append([]result{}, sharded...)
	for _, x := range sharded {
		for _, y := range r.unsharded() {
			if y.run == x.run && y.scenario == x.scenario {
				rows = append([]result{y}, rows...)
			}
		}
	}
	for _, x := range rows {
		var each []string
		for _, m := range x.managers {
			name := m.shard
			if name == "" {
				name = "all"
			}
			each = append(each, fmt.Sprintf("%s %d MiB, %.1f s", name, m.peakRSS>>20, m.cpu.Seconds()))
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %d | %.1f s | %.1f s | %.2f | %.2f | %.2f | %.1f s | %.1f s | %s |\n",
			x.n, x.rps, x.scenario, len(x.managers), x.wall.Seconds(), x.floor.Seconds(), x.overFloor(), x.apiWritesPerGroup(), x.eventsPerGroup(),
			x.controlPlaneCPU.Seconds(), x.controlPlaneCPUPer1000(), strings.Join(each, "; "))
	}
	return b.String()
}

// noisyTable is the noisy-neighbour figure: time to Ready of one edited
// AgentGroup of Account B while the A side runs a scenario.
func (r report) noisyTable() string {
	if len(r.noisy) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nNoisy neighbour: time to Ready of one edited AgentGroup of Account B (its own remote user, %d req/s, %v per call), edited again %v after each Ready, while Account A's side (the run's Accounts) runs a scenario.\n\n",
		noisyRPS, r.config.latency, noisyPause)
	b.WriteString("| N (A side) | req/s per A Account | A's scenario | edits of B | p50 | p99 | max | B's calls per edit | B's own call latency | p99 until a watch of B alone saw the edit | p99 until B's first call |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.noisy {
		fmt.Fprintf(&b, "| %d | %d | %s | %d | %.2f s | %.2f s | %.2f s | %.1f | %.2f s (%.1f × %v) | %s | %s |\n",
			x.n, x.rps, x.phase, len(x.samples), x.p(0.5).Seconds(), x.p(0.99).Seconds(), x.p(1).Seconds(), x.callsPerEdit(),
			x.callsPerEdit()*r.config.latency.Seconds(), x.callsPerEdit(), r.config.latency,
			p99Or(x.toWatched), p99Or(x.toFirstCall))
	}
	b.WriteString("\nThe last two columns are separate measurements, from when the edit was sent (so they include the edit's own request): until a watch of B's object alone, in the harness, saw it (the API server's own delay), and until B's first remote call after it (the operator's watch of every AgentGroup and its queue come on top). Their p99s show where the wait is; they do not add up.\n")
	return b.String()
}

// p99Or is the 99th percentile in seconds, or n/a without samples.
func p99Or(d []time.Duration) string {
	if len(d) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f s", percentile(d, 0.99).Seconds())
}

func (r report) naiveTime(n int) time.Duration {
	if n == r.naive.n {
		return r.naive.wall
	}
	return r.naive.perGroup() * time.Duration(n)
}

func byOp(calls map[string]int) string {
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(calls)) {
		parts = append(parts, fmt.Sprintf("%s %d", op, calls[op]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// targets checks the figures the benchmark issue sets, at every size.
func (r report) targets() string {
	var b strings.Builder
	b.WriteString("\n| target | measured | |\n|---|---|---|\n")
	row := func(target, measured string, ok bool) {
		mark := "met"
		if !ok {
			mark = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", target, measured, mark)
	}
	for _, x := range r.unsharded() {
		perGroup := x.perGroup()
		switch x.scenario {
		case "cold start":
			// Every create decision needs a listing begun after the apply;
			// the creates of one Account share them (docs/reference.md).
			row(fmt.Sprintf("%v: calls per new group ≤ 2.05", x.run),
				fmt.Sprintf("%.3f (list calls %.1f per Account)", perGroup, float64(x.calls["list"])/float64(r.config.accounts)), perGroup <= 2.05)
			if x.rps != targetRPS {
				continue
			}
			ratio := x.overFloor()
			row(fmt.Sprintf("%v: cold start ≤ 1.2 × floor", x.run), fmt.Sprintf("%.2f × (%.1f s, floor %.1f s)", ratio, x.wall.Seconds(), x.floor.Seconds()), ratio <= 1.2)
			speedup := r.naiveTime(x.n).Seconds() / x.wall.Seconds()
			row(fmt.Sprintf("%v: ≥ 5× faster than the naive script", x.run), fmt.Sprintf("%.1f×", speedup), speedup >= 5)
		case "no-op resync":
			reads := float64(x.total()-x.remoteWrites) / float64(x.n)
			row(fmt.Sprintf("%v: no-op resync makes 0 remote writes, ≤ 1 read per group", x.run), fmt.Sprintf("%d writes, %.3f reads per group", x.remoteWrites, reads), x.remoteWrites == 0 && reads <= 1)
			api := x.api.operator.sum()
			measured := "0"
			if api > 0 {
				measured = fmt.Sprintf("%.0f (%s per group)", api, x.api.operator.perGroup(x.groups))
			}
			row(fmt.Sprintf("%v: API-server writes during a no-op resync = 0 (operator's)", x.run), measured, api == 0)
		}
	}
	for _, x := range r.noisy {
		budget := x.budget(r.config.latency)
		measured := fmt.Sprintf("p99 %.2f s over %d edits (budget %.2f s)", x.p(0.99).Seconds(), len(x.samples), budget.Seconds())
		if len(x.samples) < noisyMinEdits {
			measured += fmt.Sprintf(", fewer than %d edits", noisyMinEdits)
		}
		row(fmt.Sprintf("%v, %s: B's edited AgentGroup Ready p99 ≤ 2 s + B's own calls", x.run, x.phase), measured,
			x.p(0.99) <= budget && len(x.samples) >= noisyMinEdits)
	}
	for _, rn := range r.config.runs {
		if rn.n < 10000 {
			continue
		}
		var peak int64
		for _, x := range r.unsharded() {
			if x.run == rn {
				peak = max(peak, x.peakRSS)
			}
		}
		row(fmt.Sprintf("%v: manager peak RSS ≤ 150 MiB", rn), fmt.Sprintf("%d MiB", peak>>20), peak <= 150<<20)
	}
	return b.String()
}

// write saves results.md and the chart in dir.
func (r report) write(dir string) error {
	if err := r.chart(filepath.Join(dir, chartFile)); err != nil {
		return err
	}
	body := "# make bench results\n\n" + r.table() + r.targets() + fmt.Sprintf("\n![Ready AgentGroups during the cold start](%s)\n", chartFile)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(body), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r.machine(), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644)
}

// updateDoc replaces the generated part of docs/benchmarks.md and its chart.
func (r report) updateDoc(doc string) error {
	b, err := os.ReadFile(doc)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	if i < 0 || j < i {
		return fmt.Errorf("%s lacks the markers %q and %q", doc, beginMarker, endMarker)
	}
	s = s[:i+len(beginMarker)] + "\n" + r.table() + r.targets() + fmt.Sprintf("\n![Ready AgentGroups during the cold start](%s)\n", chartFile) + s[j:]
	if err := r.chart(filepath.Join(filepath.Dir(doc), chartFile)); err != nil {
		return err
	}
	return os.WriteFile(doc, []byte(s), 0o644)
}

// chart draws the share of AgentGroups Ready over time during each cold
// start.
func (r report) chart(file string) error {
	p := plot.New()
	p.Title.Text = "Cold start: AgentGroups Ready over time"
	p.X.Label.Text = "seconds since the first AgentGroup was applied"
	p.Y.Label.Text = "% of N Ready"
	p.Y.Min, p.Y.Max = 0, 100
	p.Add(plotter.NewGrid())
	palette := []color.Color{color.RGBA{R: 31, G: 119, B: 180, A: 255}, color.RGBA{R: 214, G: 39, B: 40, A: 255}, color.RGBA{R: 44, G: 160, B: 44, A: 255}, color.RGBA{R: 148, G: 103, B: 189, A: 255}}
	for k, s := range r.series {
		xy := make(plotter.XYs, len(s.points))
		for i, pt := range s.points {
			xy[i].X, xy[i].Y = pt.at.Seconds(), 100*float64(pt.ready)/float64(s.n)
		}
		line, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		line.Color = palette[k%len(palette)]
		line.Width = vg.Points(2)
		p.Add(line)
		legend := fmt.Sprintf("N = %d at %d req/s", s.n, s.rps)
		if s.shards > 1 {
			legend += fmt.Sprintf(", %d shards", s.shards)
			line.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
		}
		p.Legend.Add(legend, line)
		for _, x := range r.results {
			if x.run == s.run && x.shards == s.shards && x.scenario == "cold start" {
				floor, err := plotter.NewLine(plotter.XYs{{X: x.floor.Seconds(), Y: 0}, {X: x.floor.Seconds(), Y: 100}})
				if err != nil {
					return err
				}
				floor.Color = line.Color
				floor.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
				p.Add(floor)
				p.Legend.Add(fmt.Sprintf("its floor (%.0f s)", x.floor.Seconds()), floor)
			}
		}
	}
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.YPosition = draw.PosBottom
	return p.Save(8*vg.Inch, 4.5*vg.Inch, file)
}
