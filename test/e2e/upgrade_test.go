//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
	"github.com/agentgroups/agentgroup-operator/internal/history"
	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// upgradeUser is the remote account of the upgrade and rollback stories
// (each runs its own control plane and simulator, whose logs are in a
// directory of their own under the suite's, searched for credentials when
// the story ends).
const (
	upgradeUser = "20017"
	// syncInterval is the Accounts' drift-check period: the stories give
	// today's manager two of them.
	syncInterval = 30 * time.Second
)

// stage is a control plane of its own, with the CRDs of one version, and
// a simulator process: an earlier version runs there as it was shipped.
type stage struct {
	t        *testing.T
	cp       *localenv.Env
	simURL   string
	workload *history.Workload
}

func newStage(t *testing.T, name, crds string) *stage {
	t.Helper()
	dir := filepath.Join(env.Dir, name)
	cp, err := localenv.StartWithCRDs(env.Root, dir, crds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // once every process has stopped, its log is whole
		logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		noCredentialIn(t, readLogs(t, logs))
	})
	t.Cleanup(cp.Stop)
	addr, err := localenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Run("groupapi-sim", env.Bin("groupapi-sim"), "--listen", addr, "--agents", "1000-1099", "--user", upgradeUser+":"+users[upgradeUser]); err != nil {
		t.Fatal(err)
	}
	if err := localenv.WaitTCP(addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	s := &stage{t: t, cp: cp, simURL: "http://" + addr}
	if s.workload, err = history.NewWorkload(cp, s.simURL, upgradeUser, users[upgradeUser]); err != nil {
		t.Fatal(err)
	}
	s.must(s.workload.ApplyAccounts(context.Background()))
	s.kubectl("", "patch", "account", "default", "-n", history.Namespace, "--type=merge", "-p", fmt.Sprintf(`{"spec":{"syncInterval":"%s"}}`, syncInterval))
	return s
}

func (s *stage) must(err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *stage) kubectl(stdin string, args ...string) string {
	s.t.Helper()
	out, err := s.cp.Kubectl(stdin, args...)
	s.must(err)
	return out
}

// run starts a manager (a landed version's, or today's) with the flags it
// knows of those the workload's managers run with (earlier versions lack
// some).
func (s *stage) run(b *history.Built) *localenv.Proc {
	s.t.Helper()
	probe, err := localenv.FreeAddr()
	s.must(err)
	p, err := s.cp.Run("manager-"+b.Commit, b.Manager, b.Args(history.ManagerFlags(probe)...)...)
	s.must(err)
	return p
}

// today is today's bin/manager.
func (s *stage) today() *history.Built {
	s.t.Helper()
	b, err := history.Today(env.Bin("manager"))
	s.must(err)
	return b
}

// crash leaves the workload in every state a crash can leave
// (history.Workload.Crash) and asks every AgentGroup for a pass of the
// next manager.
func (s *stage) crash(stop func()) *history.Snapshot {
	s.t.Helper()
	snap, err := s.workload.Crash(context.Background(), stop)
	s.must(err)
	s.must(s.workload.RequestResync(resyncRequest))
	return snap
}

// resyncRequest is the resync the next manager must answer on every
// AgentGroup.
const resyncRequest = "after-the-switch"

// groups are the simulator's groups of the stories' user.
func (s *stage) groups() []sim.Group {
	s.t.Helper()
	var st sim.State
	s.must(s.workload.SimGet("/_sim/state", &st))
	return history.GroupsOf(st, upgradeUser)
}

func (s *stage) calls() map[string]int {
	s.t.Helper()
	var calls map[string]int
	s.must(s.workload.SimGet("/_sim/calls", &calls))
	return calls
}

// converges waits until every AgentGroup of the snapshot carries on from
// where the earlier manager left it (history.Snapshot.Converged) and
// check passes.
func (s *stage) converges(snap *history.Snapshot, within time.Duration, check func([]sim.Group) error) {
	s.t.Helper()
	eventually(s.t, within, func() error {
		now := s.groups()
		problems := snap.Converged(context.Background(), upgradeUser, now, resyncRequest, s.workload.Get)
		if err := check(now); err != nil {
			problems = append(problems, err.Error())
		}
		if len(problems) > 0 {
			return fmt.Errorf("not converged:\n%s", strings.Join(problems, "\n"))
		}
		return nil
	})
}

// The first landed version manages a few groups and is killed with three
// creates in flight; a person changes a group in the DeepCall UI while
// nothing runs; today's CRDs are applied server-side (docs/operations.md)
// and today's manager starts. Within two sync intervals every AgentGroup
// is Ready on the group it had, the creates in flight on the groups their
// adds made, the drift is corrected, and no add is sent.
func TestUpgradeFromFirstVersion(t *testing.T) {
	first, err := history.Build(env.Root, history.First())
	if err != nil {
		t.Fatal(err)
	}
	s := newStage(t, "upgrade", first.CRDs)
	old := s.run(first)
	snap := s.crash(old.Kill)

	bound := history.GroupsNamed(snap.Groups(upgradeUser), "Bound")
	if len(bound) != 1 {
		t.Fatalf("remote groups named Bound: %+v", bound)
	}
	id := bound[0].ID
	s.must(s.workload.SimPatch(fmt.Sprintf("/_sim/users/%s/groups/%d", upgradeUser, id), `{"name":"Renamed by hand","members":["1009"],"receive_call":[]}`))

	s.kubectl("", "apply", "--server-side", "--force-conflicts", "-f", filepath.Join(env.Root, "config", "crd", "bases"))
	s.must(s.workload.SimPost("/_sim/calls/reset", "{}"))
	s.run(s.today())
	s.converges(snap, 2*syncInterval, func(now []sim.Group) error {
		for _, g := range now {
			if g.ID == id && (g.Name != "Bound" || !slices.Equal(g.Members, []string{"1001", "1002", "1003"}) || !slices.Equal(g.Receivers, []string{"1001"})) {
				return fmt.Errorf("drift made by hand is not corrected: %+v", g)
			}
		}
		return nil
	})
	if c := s.calls(); c["add"] != 0 {
		t.Errorf("%d add calls after the upgrade, want none: %v", c["add"], c)
	}
}

// Today's manager runs with three creates in flight when a rollout (as
// `helm rollback` makes, the CRDs left as they are) stops it (SIGTERM:
// the passes waiting on the held answers outlast its 10 s, so SIGKILL
// follows) and the previous landed version takes over: no twin, no
// binding lost.
func TestRollbackToPreviousVersion(t *testing.T) {
	previous, err := history.Build(env.Root, history.Previous())
	if err != nil {
		t.Fatal(err)
	}
	s := newStage(t, "rollback", filepath.Join(env.Root, "config", "crd", "bases"))
	today := s.run(s.today())
	snap := s.crash(today.Stop)

	s.must(s.workload.SimPost("/_sim/calls/reset", "{}"))
	s.run(previous)
	s.converges(snap, 2*syncInterval, func([]sim.Group) error { return nil })
	if c := s.calls(); c["add"] != 0 {
		t.Errorf("%d add calls after the rollback, want none: %v", c["add"], c)
	}
}
