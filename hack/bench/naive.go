package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// naiveResult is the cron script's time for n groups.
type naiveResult struct {
	n     int // groups actually run
	wall  time.Duration
	calls int
}

// perGroup is the script's time per group; it is sequential, so its time
// for N groups is N times this.
func (r naiveResult) perGroup() time.Duration { return r.wall / time.Duration(r.n) }

// runNaive does what a cron script does, one group after another: list by
// name, add if missing, assign the members. It runs against its own remote
// users (empty, as for the operator's cold start) on the same simulator and
// latency, with no rate limit of its own.
func runNaive(ctx context.Context, c config, simulator *sim.Server, simURL string) (naiveResult, error) {
	largest := 0
	for _, r := range c.runs {
		largest = max(largest, r.n)
	}
	n := min(c.naiveMax, largest)
	clients := make([]*groupapi.Client, c.accounts)
	for i := range c.accounts {
		user, token := fmt.Sprint(40001+i), fmt.Sprintf("naive-token-%02d", i)
		simulator.AddUser(sim.User{ID: user, Token: token, Agents: agents})
		cl, err := groupapi.New(groupapi.Options{BaseURL: simURL, Credentials: groupapi.Credentials{UserID: user, Token: token},
			RequestsPerSecond: 1e6, Burst: 1e6, Timeout: 10 * time.Second, AllowInsecureLoopback: true})
		if err != nil {
			return naiveResult{}, err
		}
		clients[i] = cl
	}
	fmt.Printf("  naive script: %d groups, one after another\n", n)
	simulator.ResetCalls()
	start := time.Now()
	for i := range n {
		g := c.desired(i)
		cl := clients[i%c.accounts]
		found, err := cl.List(ctx, groupapi.ListOptions{Name: g.Spec.GroupName, Quick: true})
		if err != nil {
			return naiveResult{}, err
		}
		id := ""
		for _, f := range found {
			if strings.EqualFold(f.Name, g.Spec.GroupName) {
				id = f.ID
			}
		}
		if id == "" {
			if id, err = cl.Add(ctx, g.Spec.GroupName); err != nil {
				return naiveResult{}, err
			}
		}
		req := groupapi.AssignRequest{GroupID: id}
		for _, m := range g.Spec.Members {
			req.Members = append(req.Members, string(m))
		}
		for _, m := range g.Spec.ReceiveCall {
			req.Receivers = append(req.Receivers, string(m))
		}
		if err := cl.SubmitAssignGroupToAgent(ctx, req); err != nil {
			return naiveResult{}, err
		}
	}
	r := naiveResult{n: n, wall: time.Since(start)}
	for _, v := range simulator.Calls() {
		r.calls += v
	}
	fmt.Printf("  naive script: %.1fs, %d calls\n", r.wall.Seconds(), r.calls)
	return r, nil
}
