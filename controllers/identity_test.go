package controllers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
)

// The stories of remote identity: who owns a remote group, which remote
// account a binding belongs to, and when a create may go out.

const (
	otherUser  = "20777"
	otherToken = "other-t0ken-never-logged"
)

// remoteAccount is how status names the test user's remote account.
func (s *story) remoteAccount(user string) string {
	return user + "@" + strings.TrimPrefix(s.simURL, "http://")
}

// Someone makes "Legacy Desk" in the DeepCall UI; seconds later the team
// applies an AgentGroup of that name. The operator's listing of the account
// is older than the hand-made group; it must not decide on it.
func TestHandMadeGroupSecondsBeforeApplyIsANameConflict(t *testing.T) {
	s := newStory(t)
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced) // the account has been listed
	byHand, err := s.sim.CreateGroup(testUser, "Legacy Desk")
	s.must(err)
	time.Sleep(time.Second)
	s.group("legacy-desk", func(g *deepcallv1.AgentGroup) {
		g.Spec.GroupName = "Legacy Desk"
		g.Spec.Members = agents("1001")
	})
	g := s.waitReason("legacy-desk", metav1.ConditionFalse, deepcallv1.ReasonNameConflict)
	if msg := findCondition(g, deepcallv1.ConditionReady).Message; !strings.Contains(msg, strconv.FormatInt(byHand, 10)) {
		t.Errorf("message %q should name the hand-made group %d", msg, byHand)
	}
	if c := s.calls(); c["add"] != 0 {
		t.Errorf("add calls %d, want 0: %v", c["add"], c)
	}
	if r := s.remote(); len(r) != 1 {
		t.Errorf("remote groups %+v, want only the hand-made one", r)
	}
}

// Two AgentGroups name one spec.groupId (as two imports of one account
// would): the first keeps it, the second is refused and never writes to
// it, and deleting the second leaves the group alone.
func TestTwoAgentGroupsClaimingOneGroupID(t *testing.T) {
	s := newStory(t)
	id, err := s.sim.CreateGroup(testUser, "Front Desk")
	s.must(err)
	sid := strconv.FormatInt(id, 10)
	s.group("front-a", func(g *deepcallv1.AgentGroup) {
		g.Spec.GroupID, g.Spec.GroupName, g.Spec.Members = sid, "Front Desk", agents("1001")
	})
	s.waitReady("front-a")

	s.group("front-b", func(g *deepcallv1.AgentGroup) {
		g.Spec.GroupID, g.Spec.GroupName, g.Spec.Members = sid, "Reception", agents("1002")
	})
	g := s.waitReason("front-b", metav1.ConditionFalse, deepcallv1.ReasonGroupIDInUse)
	if msg := findCondition(g, deepcallv1.ConditionReady).Message; !strings.Contains(msg, "front-a") {
		t.Errorf("message %q should name the AgentGroup that holds the group", msg)
	}
	if c := findCondition(g, deepcallv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Stalled = %+v, want True", c)
	}
	// Resyncs of both change nothing.
	s.touch("front-a")
	s.touch("front-b")
	time.Sleep(2 * time.Second)
	s.waitReady("front-a")
	s.waitReason("front-b", metav1.ConditionFalse, deepcallv1.ReasonGroupIDInUse)

	s.must(k8s.Delete(ctxBG, s.get("front-b")))
	s.waitGone("front-b")
	r := s.remote()
	if len(r) != 1 || r[0].Name != "Front Desk" || !cmp.Equal(r[0].Members, []string{"1001"}) {
		t.Errorf("remote %+v, want Front Desk with member 1001 only", r)
	}
	if w := s.sim.WritesByGroup()[id]; w["update"]+w["submitAssignGroupToAgent"]+w["delete"] != 1 {
		// front-a's one assignment of 1001 is the only write.
		t.Errorf("writes to group %d: %v, want front-a's single assignment", id, w)
	}
	if g := s.waitReady("front-a"); g.Status.GroupID != sid {
		t.Errorf("front-a bound to %q, want %s", g.Status.GroupID, sid)
	}
}

// spec.groupId set on an AgentGroup that already manages another group
// would orphan that group silently: refused.
func TestGroupIDSetOnABoundAgentGroupIsRefused(t *testing.T) {
	s := newStory(t)
	s.group("sales", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	bound := s.waitReady("sales").Status.GroupID
	other, err := s.sim.CreateGroup(testUser, "Other Team")
	s.must(err)
	s.update("sales", func(g *deepcallv1.AgentGroup) { g.Spec.GroupID = strconv.FormatInt(other, 10) })
	g := s.waitReason("sales", metav1.ConditionFalse, deepcallv1.ReasonGroupIDMismatch)
	if g.Status.GroupID != bound {
		t.Errorf("status.groupId %q, want the group it manages, %s", g.Status.GroupID, bound)
	}
	if w := s.sim.WritesByGroup()[other]; len(w) != 0 {
		t.Errorf("writes to the other group: %v, want none", w)
	}
	if r := s.remote(); len(r) != 2 || r[1].Name != "Other Team" {
		t.Errorf("remote %+v, want both groups, Other Team untouched", r)
	}
}

// A single 1503 on a read of a live group (read-after-write lag, a
// glitch) neither unbinds nor recreates it.
func TestOneNotFoundOnReadKeepsTheBinding(t *testing.T) {
	s := newStory(t)
	s.group("support", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	before := s.waitReady("support")
	id := remoteID(t, before)
	s.sim.Fail(sim.FailRule{Op: "getGroupAgentRelation", N: 1, Code: groupapi.CodeGroupNotFound, GroupID: before.Status.GroupID})
	s.sim.ResetCalls()
	s.touch("support")
	s.eventually(20*time.Second, func() error {
		c := findCondition(s.get("support"), deepcallv1.ConditionReady)
		if reads := s.calls()["getGroupAgentRelation"]; s.sim.Injected()["failNext"] != 1 || reads < 2 || c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready %+v, %d reads, faults %v: want a read answered 1503, then one that finds the group", c, reads, s.sim.Injected())
		}
		return nil
	})
	g := s.get("support")
	if g.Status.GroupID != before.Status.GroupID {
		t.Errorf("status.groupId %q, want %q", g.Status.GroupID, before.Status.GroupID)
	}
	if r := s.remote(); len(r) != 1 || r[0].ID != id {
		t.Errorf("remote %+v, want the one group %d", r, id)
	}
	if c := s.calls(); c["add"] != 0 || writes(c) != 0 {
		t.Errorf("calls %v, want reads only", c)
	}
}

// The Secret is pointed at another DeepCall user with valid credentials:
// nothing is created or deleted, the AgentGroups say why, and pointing it
// back restores every binding with reads only. Same for accountRef.
func TestCredentialsOfAnotherUserChangeNothing(t *testing.T) {
	s := newStory(t)
	s.sim.AddUser(sim.User{ID: otherUser, Token: otherToken, Agents: sim.AgentRange(1000, 1999)})
	s.group("a", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	s.group("b", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "B Team"; g.Spec.Members = agents("1002") })
	a, b := s.waitReady("a"), s.waitReady("b")
	for _, g := range []*deepcallv1.AgentGroup{a, b} {
		if g.Status.RemoteAccount != s.remoteAccount(testUser) {
			t.Fatalf("%s: status.remoteAccount %q, want %q", g.Name, g.Status.RemoteAccount, s.remoteAccount(testUser))
		}
	}
	s.sim.ResetCalls()

	s.setSecret(map[string]string{"userId": otherUser, "token": otherToken})
	for _, name := range []string{"a", "b"} {
		g := s.waitReason(name, metav1.ConditionFalse, deepcallv1.ReasonAccountChanged)
		msg := findCondition(g, deepcallv1.ConditionReady).Message
		if !strings.Contains(msg, s.remoteAccount(testUser)) || !strings.Contains(msg, s.remoteAccount(otherUser)) {
			t.Errorf("%s: message %q should name both remote accounts", name, msg)
		}
		if c := findCondition(g, deepcallv1.ConditionStalled); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("%s: Stalled = %+v, want True", name, c)
		}
	}
	acct := s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	if acct.Status.RemoteAccount != s.remoteAccount(otherUser) {
		t.Errorf("Account status.remoteAccount %q, want %q", acct.Status.RemoteAccount, s.remoteAccount(otherUser))
	}
	if got := s.sim.Groups(otherUser); len(got) != 0 {
		t.Errorf("groups created for the other user: %+v", got)
	}

	// Back: same ids, reads only.
	s.setSecret(map[string]string{"userId": testUser, "token": testToken})
	for _, was := range []*deepcallv1.AgentGroup{a, b} {
		s.eventually(20*time.Second, func() error {
			g := s.get(was.Name)
			if c := findCondition(g, deepcallv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
				return fmt.Errorf("%s: Ready %+v", was.Name, c)
			}
			if g.Status.GroupID != was.Status.GroupID {
				return fmt.Errorf("%s: bound to %q, was %q", was.Name, g.Status.GroupID, was.Status.GroupID)
			}
			return nil
		})
	}

	// accountRef to an Account on the other user: the same refusal.
	s.must(k8s.Create(ctxBG, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "elsewhere"},
		StringData: map[string]string{"userId": otherUser, "token": otherToken},
	}))
	s.must(k8s.Create(ctxBG, &deepcallv1.Account{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "elsewhere"},
		Spec: deepcallv1.AccountSpec{BaseURL: s.simURL, CredentialsSecretRef: deepcallv1.SecretReference{Name: "elsewhere"}, RequestsPerSecond: 50, Burst: 50,
			SyncInterval: metav1.Duration{Duration: 10 * time.Minute}},
	}))
	s.update("a", func(g *deepcallv1.AgentGroup) { g.Spec.AccountRef.Name = "elsewhere" })
	s.waitReason("a", metav1.ConditionFalse, deepcallv1.ReasonAccountChanged)
	s.update("a", func(g *deepcallv1.AgentGroup) { g.Spec.AccountRef.Name = "default" })
	if g := s.waitReady("a"); g.Status.GroupID != a.Status.GroupID {
		t.Errorf("a bound to %q, was %q", g.Status.GroupID, a.Status.GroupID)
	}

	if c := s.calls(); writes(c) != 0 {
		t.Errorf("calls since the first switch %v, want reads only", c)
	}
	if got := s.sim.Groups(otherUser); len(got) != 0 {
		t.Errorf("groups created for the other user: %+v", got)
	}
	if r := s.remote(); len(r) != 2 {
		t.Errorf("remote groups %+v, want the two", r)
	}
}

// statusConflictAfterAdd stands for a status write that conflicts right
// after a successful add (someone edits the AgentGroup), while someone
// renames the new group by hand.
type statusConflictAfterAdd struct {
	groupapi.Interface
	s    *story
	once chan struct{}
}

func (c statusConflictAfterAdd) Add(ctx context.Context, name string) (string, error) {
	id, err := c.Interface.Add(ctx, name)
	select {
	case <-c.once:
	default:
		if err == nil {
			close(c.once)
			c.s.touch("sales")
			n, _ := strconv.ParseInt(id, 10, 64)
			renamed := "Renamed by hand"
			c.s.must(c.s.sim.UpdateGroup(testUser, n, &renamed, nil))
		}
	}
	return id, err
}

func TestStatusConflictAfterAddKeepsTheID(t *testing.T) {
	once := make(chan struct{})
	var s *story
	s = newStory(t, func(st *story) {
		st.wrap = func(c groupapi.Interface) groupapi.Interface {
			return statusConflictAfterAdd{Interface: c, s: s, once: once}
		}
	})
	s.group("sales", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	s.eventually(30*time.Second, func() error {
		r := s.remote()
		if len(r) != 1 || r[0].Name != "sales" {
			return fmt.Errorf("remote %+v, want one group, renamed back to sales", r)
		}
		return nil
	})
	g := s.waitReady("sales")
	if g.Status.GroupID != strconv.FormatInt(s.remote()[0].ID, 10) {
		t.Errorf("status.groupId %q, remote %+v", g.Status.GroupID, s.remote())
	}
	if c := s.calls(); c["add"] != 1 {
		t.Errorf("add calls %d, want 1", c["add"])
	}
}

// An add answered 1009 may have made the group: it is settled like a
// lost answer, never repeated blindly.
func TestAddAnsweredSomethingWentWrongIsSettled(t *testing.T) {
	s := newStory(t)
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	s.sim.Fail(sim.FailRule{Op: "add", N: 1, Code: groupapi.CodeGeneric, AfterEffect: true})
	s.group("billing", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	s.wantOneGroupFromOneAdd("billing")
}

// slowToSend holds each add for a while before it leaves, as a rate-limit
// or Retry-After wait does.
type slowToSend struct {
	groupapi.Interface
	wait time.Duration
}

func (c slowToSend) Add(ctx context.Context, name string) (string, error) {
	time.Sleep(c.wait)
	return c.Interface.Add(ctx, name)
}

// The settle window of a lost add counts from the moment the add left,
// not from when the pass decided to send it: with read-after-write lag, a
// window that started early ends before the group shows, and a second
// add makes a twin.
func TestSettleWindowCountsFromTheSend(t *testing.T) {
	s := newStory(t, func(s *story) {
		s.createSettle = 2 * time.Second
		s.sim = sim.New(sim.Options{Faults: sim.Faults{ReadLag: 1500 * time.Millisecond}})
		s.wrap = func(c groupapi.Interface) groupapi.Interface { return slowToSend{Interface: c, wait: 3 * time.Second} }
	})
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	s.sim.LoseNext("add", 1)
	s.group("sales", func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	s.wantOneGroupFromOneAdd("sales")
}

// wantOneGroupFromOneAdd waits for the AgentGroup to be Ready and checks
// that one add made the one remote group it is bound to.
func (s *story) wantOneGroupFromOneAdd(name string) {
	s.t.Helper()
	g := s.waitReady(name)
	r := s.remote()
	if len(r) != 1 || g.Status.GroupID != strconv.FormatInt(r[0].ID, 10) {
		s.t.Errorf("remote %+v, status.groupId %q: want one group, bound", r, g.Status.GroupID)
	}
	if c := s.calls(); c["add"] != 1 {
		s.t.Errorf("add calls %d, want 1", c["add"])
	}
}

// slowAnswer makes each add's answer take a while to come back.
type slowAnswer struct {
	groupapi.Interface
	wait time.Duration
}

func (c slowAnswer) Add(ctx context.Context, name string) (string, error) {
	id, err := c.Interface.Add(ctx, name)
	time.Sleep(c.wait)
	return id, err
}

// Two AgentGroups with one group name, created in the same second, the
// later with the smaller name, while the first add's answer is still on
// its way: one add, one owner, the other told why.
func TestSameNameInTheSameSecondMakesOneGroup(t *testing.T) {
	s := newStory(t, func(s *story) {
		s.wrap = func(c groupapi.Interface) groupapi.Interface { return slowAnswer{Interface: c, wait: time.Second} }
	})
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
	s.group("ops-b", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "Ops" })
	// ops-a arrives while ops-b's add is on its way.
	s.eventually(5*time.Second, func() error {
		if !pendingCreate(s.get("ops-b")) {
			return fmt.Errorf("ops-b has not started its add")
		}
		return nil
	})
	s.group("ops-a", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "Ops" })
	if a, b := s.get("ops-a"), s.get("ops-b"); !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		t.Logf("created in different seconds (%v, %v): the race is weaker than intended", a.CreationTimestamp, b.CreationTimestamp)
	}
	var ready, dup string
	s.eventually(30*time.Second, func() error {
		ready, dup = "", ""
		for _, name := range []string{"ops-a", "ops-b"} {
			c := findCondition(s.get(name), deepcallv1.ConditionReady)
			switch {
			case c != nil && c.Status == metav1.ConditionTrue:
				ready = name
			case c != nil && c.Reason == deepcallv1.ReasonDuplicateGroupName:
				dup = name
			}
		}
		if ready == "" || dup == "" {
			return fmt.Errorf("want one Ready and one DuplicateGroupName; ready %q duplicate %q", ready, dup)
		}
		return nil
	})
	if msg := findCondition(s.get(dup), deepcallv1.ConditionReady).Message; !strings.Contains(msg, ready) {
		t.Errorf("message %q should name %s", msg, ready)
	}
	if r := s.remote(); len(r) != 1 || r[0].Name != "Ops" {
		t.Errorf("remote %+v, want one group Ops", r)
	}
	if c := s.calls(); c["add"] != 1 {
		t.Errorf("add calls %d, want 1", c["add"])
	}
}

// Two Accounts in two namespaces on one DeepCall user share its rate limit
// and its names.
func TestAccountsOnOneRemoteUserShareBudgetAndNames(t *testing.T) {
	const rps = 5
	s := newStory(t, withNamespaces(1), withSim(sim.Options{UserRateLimit: rps, UserBurst: rps + 2}), func(s *story) { s.rps = rps })
	other := s.others[0]
	const n = 12
	for i := range n {
		for _, ns := range []string{s.ns, other} {
			s.groupIn(ns, fmt.Sprintf("g%02d", i), func(g *deepcallv1.AgentGroup) {
				g.Spec.GroupName = fmt.Sprintf("%s g%02d", ns, i)
				g.Spec.Members = agents("1001")
			})
		}
	}
	for i := range n {
		for _, ns := range []string{s.ns, other} {
			s.eventually(60*time.Second, func() error {
				g := &deepcallv1.AgentGroup{}
				s.must(k8s.Get(ctxBG, key(ns, fmt.Sprintf("g%02d", i)), g))
				if c := findCondition(g, deepcallv1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
					return fmt.Errorf("%s/g%02d: Ready %+v", ns, i, c)
				}
				return nil
			})
		}
	}
	if got := s.sim.Injected()["userRateLimit"]; got != 0 {
		t.Errorf("the service refused %d calls over the user's rate limit of %d/s: the two Accounts did not share one budget", got, rps)
	}

	s.groupIn(s.ns, "ops", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "Ops" })
	s.waitReasonIn(s.ns, "ops", metav1.ConditionTrue, "")
	s.groupIn(other, "ops", func(g *deepcallv1.AgentGroup) { g.Spec.GroupName = "OPS" })
	g := s.waitReasonIn(other, "ops", metav1.ConditionFalse, deepcallv1.ReasonDuplicateGroupName)
	if msg := findCondition(g, deepcallv1.ConditionReady).Message; !strings.Contains(msg, s.ns+"/ops") {
		t.Errorf("message %q should name %s/ops", msg, s.ns)
	}
	ops := 0
	for _, r := range s.remote() {
		if strings.HasPrefix(strings.ToLower(r.Name), "ops") {
			ops++
		}
	}
	if ops != 1 {
		t.Errorf("%d remote groups named like Ops, want 1: %+v", ops, s.remote())
	}
}
