package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// machineReport is results.json: every figure of the tables, with the
// API-server writes by resource and verb and how they were derived.
type machineReport struct {
	When          time.Time       `json:"when"`
	CPUs          int             `json:"cpus"`
	Accounts      int             `json:"accounts"`
	Members       int             `json:"membersPerGroup"`
	Receivers     int             `json:"receiversPerGroup"`
	LatencyMS     float64         `json:"latencyMs"`
	Concurrency   int             `json:"maxConcurrentReconciles"`
	GOMEMLIMIT    string          `json:"gomemlimit"`
	Shards        int             `json:"shards"`
	ShardNote     string          `json:"shardNote,omitempty"`
	Background    string          `json:"apiServerBackgroundWritesPerSecond"`
	IdleWindowSec float64         `json:"idleWindowSeconds"`
	Results       []machineResult `json:"results"`
	Naive         machineNaive    `json:"naive"`
	Noisy         []machineNoisy  `json:"noisyNeighbour,omitempty"`
}

type machineResult struct {
	N        int    `json:"n"`
	RPS      int    `json:"requestsPerSecondPerAccount"`
	Scenario string `json:"scenario"`
	// Managers is 1, or the shards.
	Managers      int            `json:"managers"`
	Groups        int            `json:"groups"`
	WallSec       float64        `json:"wallSeconds"`
	FloorSec      float64        `json:"floorSeconds"`
	OverFloor     float64        `json:"wallOverFloor"`
	Calls         map[string]int `json:"remoteCalls"`
	CallsPerGroup float64        `json:"remoteCallsPerGroup"`
	RemoteWrites  int            `json:"remoteWrites"`

	APIWritesPerGroup  float64 `json:"apiServerWritesPerGroup"`
	EventsPerGroup     float64 `json:"eventsPerGroup"`
	APIWritesBreakdown string  `json:"apiServerWritesPerGroupBreakdown"`
	// The counts behind them, over WritesWindowSec (the scenario and the
	// settling after it).
	OperatorWrites  writeCounts `json:"operatorWrites"`
	APIServerWrites writeCounts `json:"apiServerWrites"`
	HarnessWrites   writeCounts `json:"harnessWrites"`
	NoisyWrites     writeCounts `json:"noisyNeighbourWrites"`
	ControlPlane    writeCounts `json:"controlPlaneWrites"`
	FailedWrites    writeCounts `json:"failedWrites"`
	WritesWindowSec float64     `json:"writesWindowSeconds"`

	ManagerCPUSec          float64          `json:"managerCpuSeconds"`
	ManagerPeakRSSMiB      int64            `json:"managerPeakRssMiB"`
	PerManager             []machineManager `json:"perManager"`
	ControlPlaneCPUSec     float64          `json:"controlPlaneCpuSeconds"`
	ControlPlaneCPUPer1000 float64          `json:"controlPlaneCpuSecondsPer1000Groups"`
	// For the largest run's unsharded cold start: the control plane's CPU
	// for its creates alone, with no manager up.
	CreatesAloneCPUSec float64        `json:"controlPlaneCpuSecondsCreatesAlone,omitempty"`
	Reconciles         map[string]int `json:"reconciles"`
}

type machineManager struct {
	Shard      string  `json:"shard,omitempty"`
	CPUSec     float64 `json:"cpuSeconds"`
	PeakRSSMiB int64   `json:"peakRssMiB"`
}

type machineNaive struct {
	N          int     `json:"n"`
	WallSec    float64 `json:"wallSeconds"`
	PerGroupMS float64 `json:"perGroupMs"`
}

type machineNoisy struct {
	N            int       `json:"n"`
	RPS          int       `json:"requestsPerSecondPerAccount"`
	Phase        string    `json:"phase"`
	SamplesSec   []float64 `json:"samplesSeconds"`
	P50Sec       float64   `json:"p50Seconds"`
	P99Sec       float64   `json:"p99Seconds"`
	CallsPerEdit float64   `json:"callsPerEdit"`
	// Where the wait went (noisy.go): p99 until a watch of B alone saw the
	// edit, and until B's first remote call.
	ToWatchP99Sec     float64 `json:"editToWatchP99Seconds"`
	ToFirstCallP99Sec float64 `json:"editToFirstCallP99Seconds"`
}

func (r report) machine() machineReport {
	c := r.config
	m := machineReport{When: r.when, CPUs: runtime.NumCPU(), Accounts: c.accounts, Members: c.members, Receivers: c.receivers,
		LatencyMS: float64(c.latency) / float64(time.Millisecond), Concurrency: c.concurrency, GOMEMLIMIT: c.gomemlimit,
		Shards: c.shards, ShardNote: r.shardNote, Background: writeCounts(r.background).perSecond(), IdleWindowSec: r.idle.window.Seconds(),
		Naive: machineNaive{N: r.naive.n, WallSec: r.naive.wall.Seconds(), PerGroupMS: float64(r.naive.perGroup()) / float64(time.Millisecond)}}
	for _, x := range r.results {
		mr := machineResult{N: x.n, RPS: x.rps, Scenario: x.scenario, Managers: max(x.shards, 1), Groups: x.groups,
			WallSec: x.wall.Seconds(), FloorSec: x.floor.Seconds(), OverFloor: x.overFloor(), Calls: x.calls, CallsPerGroup: x.perGroup(),
			RemoteWrites: x.remoteWrites, APIWritesPerGroup: x.apiWritesPerGroup(), EventsPerGroup: x.eventsPerGroup(),
			APIWritesBreakdown: x.api.operator.perGroup(x.groups),
			OperatorWrites:     x.api.operator.clone(), APIServerWrites: x.api.apiServer.clone(), HarnessWrites: x.api.harness.clone(),
			NoisyWrites: x.api.noisy.clone(), ControlPlane: x.api.controlPlane.clone(), FailedWrites: x.api.failed.clone(), WritesWindowSec: x.api.window.Seconds(),
			ManagerCPUSec: x.cpu.Seconds(), ManagerPeakRSSMiB: x.peakRSS >> 20,
			ControlPlaneCPUSec: x.controlPlaneCPU.Seconds(), ControlPlaneCPUPer1000: x.controlPlaneCPUPer1000(), CreatesAloneCPUSec: x.createsAloneCPU.Seconds(), Reconciles: x.reconciles}
		for _, u := range x.managers {
			mr.PerManager = append(mr.PerManager, machineManager{Shard: u.shard, CPUSec: u.cpu.Seconds(), PeakRSSMiB: u.peakRSS >> 20})
		}
		m.Results = append(m.Results, mr)
	}
	for _, x := range r.noisy {
		mn := machineNoisy{N: x.n, RPS: x.rps, Phase: x.phase, P50Sec: x.p(0.5).Seconds(), P99Sec: x.p(0.99).Seconds(), CallsPerEdit: x.callsPerEdit(),
			ToWatchP99Sec: percentile(x.toWatched, 0.99).Seconds(), ToFirstCallP99Sec: percentile(x.toFirstCall, 0.99).Seconds()}
		for _, d := range x.samples {
			mn.SamplesSec = append(mn.SamplesSec, d.Seconds())
		}
		m.Noisy = append(m.Noisy, mn)
	}
	return m
}

// perSecond is "leases PUT 0.100/s, …", or "none".
func (w writeCounts) perSecond() string {
	var parts []string
	for _, k := range w.keys() {
		if w[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %.3f/s", k, w[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
