package controllers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// The stories of fairness and calm: one busy or throttled account does not
// hold the others' work, one failure does not flip every group, and what
// the status says is what kstatus (Flux, Argo CD) should conclude.

// accountOn adds an Account (and its Secret) named name for another remote
// user to the story's namespace.
func (s *story) accountOn(name, user, token string) {
	s.t.Helper()
	s.sim.AddUser(sim.User{ID: user, Token: token, Agents: sim.AgentRange(1000, 1999)})
	s.must(k8s.Create(ctxBG, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name + "-credentials"},
		StringData: map[string]string{"userId": user, "token": token},
	}))
	s.must(k8s.Create(ctxBG, &deepcallv1.Account{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name},
		Spec: deepcallv1.AccountSpec{BaseURL: s.simURL, CredentialsSecretRef: deepcallv1.SecretReference{Name: name + "-credentials"},
			RequestsPerSecond: 50, Burst: 50, SyncInterval: metav1.Duration{Duration: 10 * time.Minute}},
	}))
	s.waitAccount(name, metav1.ConditionTrue, deepcallv1.ReasonSynced)
}

// readyWithin waits at most d for the AgentGroup to be Ready at its
// current generation, and says how long it took.
func (s *story) readyWithin(name string, d time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	s.eventually(d, func() error {
		g := &deepcallv1.AgentGroup{}
		if err := k8s.Get(ctxBG, key(s.ns, name), g); err != nil {
			return err
		}
		if c := findCondition(g, deepcallv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != g.Generation {
			return fmt.Errorf("AgentGroup %s: Ready %+v at generation %d", name, c, g.Generation)
		}
		return nil
	})
	return time.Since(start)
}

// eventsWithReason lists the events of the namespace with this reason.
func (s *story) eventsWithReason(reason string) []eventsv1.Event {
	s.t.Helper()
	var list eventsv1.EventList
	s.must(k8s.List(ctxBG, &list, client.InNamespace(s.ns)))
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// Account default is held to 1 request/s and has 16 new groups to create;
// a new group of Account b (another remote user) is Ready within seconds,
// not after the workers have slept through default's queue.
func TestRateLimitedAccountHoldsNoWorker(t *testing.T) {
	s := newStory(t, func(s *story) { s.rps = 1 })
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	s.accountOn("b", otherUser, otherToken)
	for i := range 16 {
		s.group(fmt.Sprintf("a-%02d", i), nil)
	}
	s.eventually(10*time.Second, func() error {
		if n := s.calls()["add"]; n == 0 {
			return fmt.Errorf("default's creates have not started")
		}
		return nil
	})
	s.group("b-desk", func(g *deepcallv1.AgentGroup) {
		g.Spec.AccountRef.Name = "b"
		g.Spec.Members = agents("1001")
	})
	took := s.readyWithin("b-desk", 5*time.Second)
	t.Logf("b-desk Ready %v after its creation", took.Round(10*time.Millisecond))
	if n := len(s.remote()); n == 16 {
		t.Errorf("default's 16 groups were all made before b's: the story did not overlap")
	}
	for i := range 16 {
		s.readyWithin(fmt.Sprintf("a-%02d", i), 90*time.Second)
	}
	s.wantNoTwins(testUser)
}

// The API answers every call of default's user 429 with Retry-After of an
// hour. The pause is capped (here at 4s), shown on the Account, and holds
// only that remote account: Account b's edit goes through at once.
func TestRetryAfterPausesOnlyItsRemoteAccount(t *testing.T) {
	s := newStory(t, func(s *story) { s.maxRetryAfter = 4 * time.Second })
	s.accountOn("b", otherUser, otherToken)
	for i := range 8 {
		s.group(fmt.Sprintf("a-%d", i), func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	}
	s.group("b-desk", func(g *deepcallv1.AgentGroup) { g.Spec.AccountRef.Name = "b" })
	for i := range 8 {
		s.waitReady(fmt.Sprintf("a-%d", i))
	}
	s.waitReady("b-desk")

	s.sim.Throttle(testUser, time.Hour)
	throttledAt := time.Now()
	for i := range 8 {
		s.update(fmt.Sprintf("a-%d", i), func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001", "1002") })
	}
	s.eventually(10*time.Second, func() error {
		if s.sim.Injected()["userThrottle"] == 0 {
			return fmt.Errorf("the simulator has answered no 429 yet")
		}
		return nil
	})
	time.Sleep(time.Second) // every edit has reached the API by now
	s.update("b-desk", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1003") })
	took := s.readyWithin("b-desk", 5*time.Second)
	t.Logf("b-desk Ready %v after its edit, while default is throttled", took.Round(10*time.Millisecond))

	s.eventually(10*time.Second, func() error {
		a := &deepcallv1.Account{}
		s.must(k8s.Get(ctxBG, key(s.ns, "default"), a))
		switch until := a.Status.ThrottledUntil; {
		case until == nil:
			return fmt.Errorf("Account default shows no throttledUntil")
		case until.Time.After(time.Now().Add(5 * time.Second)):
			t.Fatalf("throttledUntil %v: the 1h Retry-After was not capped at 4s", until.Time)
		}
		return nil
	})
	time.Sleep(time.Until(throttledAt.Add(6 * time.Second)))
	s.sim.Throttle(testUser, 0)
	for i := range 8 {
		s.readyWithin(fmt.Sprintf("a-%d", i), 30*time.Second)
	}
	for _, g := range s.remote() {
		if !strings.HasPrefix(g.Name, "a-") {
			continue
		}
		if len(g.Members) != 2 {
			t.Errorf("remote group %s has members %v, want the edit applied", g.Name, g.Members)
		}
	}
	s.eventually(20*time.Second, func() error {
		a := &deepcallv1.Account{}
		s.must(k8s.Get(ctxBG, key(s.ns, "default"), a))
		if a.Status.ThrottledUntil != nil {
			return fmt.Errorf("Account default still shows throttledUntil %v", a.Status.ThrottledUntil)
		}
		return nil
	})
}

// The account's periodic list fails a few times in a row (a blip of the
// brand host). The Account keeps its last good state, and groups that are
// reconciled meanwhile do not report AccountNotReady.
func TestFailedListsDoNotFlipGroups(t *testing.T) {
	s := newStory(t)
	s.update30sInterval()
	for _, n := range []string{"a", "b", "c"} {
		s.group(n, func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
		s.waitReady(n)
	}
	s.sim.FailNext("list", 3, groupapiGeneric)
	s.eventually(60*time.Second, func() error {
		if n := s.sim.Injected()["failNext"]; n < 3 {
			return fmt.Errorf("%d of 3 list failures answered", n)
		}
		return nil
	})
	for _, n := range []string{"a", "b", "c"} {
		s.touch(n)
	}
	time.Sleep(2 * time.Second)
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	for _, n := range []string{"a", "b", "c"} {
		s.waitReady(n)
	}
	if ev := s.eventsWithReason(deepcallv1.ReasonAccountNotReady); len(ev) != 0 {
		t.Errorf("AccountNotReady events %d, want none: %s", len(ev), ev[0].Note)
	}
	if ev := s.eventsWithReason(deepcallv1.ReasonUnreachable); len(ev) != 0 {
		t.Errorf("Unreachable events %d, want none (failures did not persist): %s", len(ev), ev[0].Note)
	}
}

// groupapiGeneric is the API's "something went wrong" code (retryable).
const groupapiGeneric = 1009

// The Secret is broken for a while, one group is applied meanwhile, then
// the Secret is fixed with a rotated token. Only the group that waited is
// woken; the ten groups in sync are not re-read, nor flipped meanwhile.
func TestRecoveryWakesOnlyTheGroupsThatWaited(t *testing.T) {
	s := newStory(t)
	for i := range 10 {
		s.group(fmt.Sprintf("g%d", i), func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	}
	for i := range 10 {
		s.waitReady(fmt.Sprintf("g%d", i))
	}
	s.setSecret(map[string]string{"userId": testUser}) // the token key went missing
	s.waitAccount("default", metav1.ConditionFalse, deepcallv1.ReasonInvalidCredentials)
	s.group("late", nil)
	s.waitReason("late", metav1.ConditionFalse, deepcallv1.ReasonAccountNotReady)
	s.sim.ResetCalls()

	s.sim.AddUser(sim.User{ID: testUser, Token: "rotated", Agents: sim.AgentRange(1000, 1999)})
	s.setSecret(map[string]string{"userId": testUser, "token": "rotated"})
	s.waitReady("late")
	time.Sleep(2 * time.Second)
	if n := s.calls()["getGroupAgentRelation"]; n != 0 {
		t.Errorf("%d groups were re-read on recovery, want 0 (only the waiting one, which has nothing to read)", n)
	}
	for _, e := range s.eventsWithReason(deepcallv1.ReasonAccountNotReady) {
		if e.Regarding.Name != "late" {
			t.Errorf("%s reported AccountNotReady while it was in sync", e.Regarding.Name)
		}
	}
}

// A restart: until the Account's credentials have been checked again, the
// groups wait without writing anything.
func TestRestartWritesNoAccountNotReady(t *testing.T) {
	s := newStory(t)
	for i := range 10 {
		s.group(fmt.Sprintf("g%d", i), nil)
	}
	for i := range 10 {
		s.waitReady(fmt.Sprintf("g%d", i))
	}
	s.stop()
	s.sim.SetFaults(sim.Faults{Latency: 500 * time.Millisecond}) // the Account's first list takes a while
	s.start()
	time.Sleep(3 * time.Second)
	for i := range 10 {
		s.waitReady(fmt.Sprintf("g%d", i))
	}
	if ev := s.eventsWithReason(deepcallv1.ReasonAccountNotReady); len(ev) != 0 {
		t.Errorf("%d AccountNotReady events after a restart, want none", len(ev))
	}
}

// An AgentGroup that stalled is deleted with its finalizer stripped, and
// one of the same name is applied: it is reconciled, not skipped.
func TestRecreatedAgentGroupIsNotSkippedByAnOldStall(t *testing.T) {
	s := newStory(t)
	s.group("desk", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("2500") }) // no such agent: 1047
	s.waitReason("desk", metav1.ConditionFalse, deepcallv1.ReasonInvalidRequest)
	old := s.get("desk")
	controllerutil.RemoveFinalizer(old, agentGroupFinalizer)
	s.must(k8s.Update(ctxBG, old))
	s.must(k8s.Delete(ctxBG, old))
	s.waitGone("desk")

	s.group("desk", func(g *deepcallv1.AgentGroup) {
		g.Spec.GroupName = "Desk Two"
		g.Spec.Members = agents("1001")
	})
	s.readyWithin("desk", 20*time.Second)
}

// A group stalled on an agent the account lacks; the agent is added on the
// DeepCall side. The group heals by itself at the stall re-poll, and at once
// when someone annotates it.
func TestStalledGroupHealsWhenFixedRemotely(t *testing.T) {
	s := newStory(t, func(s *story) { s.stallRetry = 15 * time.Second })
	s.group("polled", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("2500") })
	s.group("poked", func(g *deepcallv1.AgentGroup) {
		g.Spec.Members = agents("2501")
		g.Annotations = map[string]string{"example.com/owner": "team-a"}
	})
	s.waitReason("polled", metav1.ConditionFalse, deepcallv1.ReasonInvalidRequest)
	s.waitReason("poked", metav1.ConditionFalse, deepcallv1.ReasonInvalidRequest)
	if v := s.kstatus("polled"); v != status.FailedStatus {
		t.Errorf("kstatus of a stalled group = %s, want Failed", v)
	}

	s.sim.AddUser(sim.User{ID: testUser, Token: testToken, Agents: sim.AgentRange(1000, 2999)})
	s.touch("poked")
	took := s.readyWithin("poked", 3*time.Second)
	t.Logf("poked Ready %v after the annotation; polled waits for the re-poll", took.Round(10*time.Millisecond))
	s.readyWithin("polled", 30*time.Second)
}

// A stalled Account is Failed to kstatus: a Secret with no usable keys, a
// refused token, an account the API refuses as invalid (1047).
func TestTerminalAccountStatesAreStalled(t *testing.T) {
	s := newStory(t)
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	stalledAs := func(reason string) {
		t.Helper()
		a := s.waitAccount("default", metav1.ConditionFalse, reason)
		if c := meta.FindStatusCondition(a.Status.Conditions, deepcallv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue || c.Reason != reason {
			t.Errorf("%s: Stalled = %+v, want True", reason, c)
		}
		if v := s.accountKstatus("default"); v != status.FailedStatus {
			t.Errorf("%s: kstatus %s, want Failed", reason, v)
		}
	}
	s.setSecret(map[string]string{"token": testToken})
	stalledAs(deepcallv1.ReasonInvalidCredentials)
	s.setSecret(map[string]string{"userId": testUser, "token": "wrong"})
	stalledAs(deepcallv1.ReasonUnauthorized)

	s.sim.ResetCalls()
	s.sim.FailNext("list", 1, 1047)
	s.setSecret(map[string]string{"userId": testUser, "token": testToken})
	stalledAs(deepcallv1.ReasonInvalidCredentials)
	if c := s.calls(); c["list"] > 2 {
		t.Errorf("%d list calls: a terminal answer must not be retried with backoff", c["list"])
	}
}

// Someone empties a 300-member group in the DeepCall UI; its agents have
// UUID-shaped ids. Both events are recorded, each within the 1,024
// characters events.k8s.io/v1 accepts (the differences are in status.drift).
func TestBigDriftIsRecordedInEvents(t *testing.T) {
	s := newStory(t)
	members := make([]string, 300)
	for i := range members {
		members[i] = fmt.Sprintf("6f1c2a7e-9b3d-4c55-8e21-%012d", i)
	}
	s.sim.AddUser(sim.User{ID: testUser, Token: testToken, Agents: append(sim.AgentRange(1000, 1999), members...)})
	s.group("big", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents(members...) })
	id := remoteID(t, s.waitReady("big"))
	s.must(s.sim.SetMembers(testUser, id, nil, nil))
	s.touch("big")
	s.waitEvent("big", deepcallv1.ReasonDriftDetected)
	s.waitEvent("big", deepcallv1.ReasonDriftCorrected)
	for _, e := range s.eventsWithReason(deepcallv1.ReasonDriftDetected) {
		if len(e.Note) > 1024 {
			t.Errorf("note of %d characters", len(e.Note))
		}
	}
	if r := s.remote(); len(r) != 1 || len(r[0].Members) != 300 {
		t.Errorf("remote %d groups, want the one with 300 members again", len(r))
	}
}

// The manager is stopped (SIGTERM) while 50 creates are in flight. What it
// started, it finishes: no create intent is left unresolved, and after the
// restart every group exists once.
func TestShutdownFinishesCreatesInFlight(t *testing.T) {
	s := newStory(t)
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	s.sim.SetFaults(sim.Faults{Latency: 400 * time.Millisecond})
	for i := range 50 {
		s.group(fmt.Sprintf("g%02d", i), func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	}
	s.eventually(30*time.Second, func() error {
		if n := s.calls()["add"]; n < 3 {
			return fmt.Errorf("%d adds so far", n)
		}
		return nil
	})
	s.stop()
	var list deepcallv1.AgentGroupList
	s.must(k8s.List(ctxBG, &list, client.InNamespace(s.ns)))
	for _, g := range list.Items {
		if p, err := g.CreateIntent(); p != nil || err != nil {
			t.Errorf("%s: create intent %+v (%v) left unresolved at shutdown", g.Name, p, err)
		}
	}
	s.sim.SetFaults(sim.Faults{})
	s.start()
	for i := range 50 {
		s.readyWithin(fmt.Sprintf("g%02d", i), 60*time.Second)
	}
	if n := len(s.remote()); n != 50 {
		t.Errorf("%d remote groups, want 50", n)
	}
	s.wantNoTwins(testUser)
}

// wantNoTwins fails when two of the user's remote groups share a name.
func (s *story) wantNoTwins(user string) {
	s.t.Helper()
	seen := map[string]bool{}
	for _, g := range s.sim.Groups(user) {
		if seen[strings.ToLower(g.Name)] {
			s.t.Errorf("two remote groups named %q", g.Name)
		}
		seen[strings.ToLower(g.Name)] = true
	}
}
