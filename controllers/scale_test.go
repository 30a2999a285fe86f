package controllers

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/apiwrites"
)

// What the operator costs the control plane, counted by kube-apiserver
// itself (apiserver_request_total), as a platform team would measure it.

// apiWrites returns kube-apiserver's count of writes so far.
func apiWrites(t *testing.T) map[apiwrites.Key]float64 {
	t.Helper()
	cs, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	all, _, err := apiwrites.Read(ctxBG, cs.Discovery().RESTClient())
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// since is what happened between two apiWrites readings.
func since(before, after map[apiwrites.Key]float64) map[apiwrites.Key]float64 {
	out := map[apiwrites.Key]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// operatorGroupWrites counts the writes to AgentGroups other than the
// creates the story itself made (POST of the object).
func operatorGroupWrites(d map[apiwrites.Key]float64) float64 {
	var n float64
	for k, v := range d {
		if k.Resource == "agentgroups/status" || (k.Resource == "agentgroups" && k.Verb != "POST") {
			n += v
		}
	}
	return n
}

// A team applies 40 AgentGroups at once. Each new group costs the API
// server at most two writes (finalizer and create intent; id and status),
// and the routine "Created" events of a batch are summed up on the Account
// rather than written one per group, with none lost from the count.
func TestNewGroupsCostTwoWritesEach(t *testing.T) {
	const n, burst = 40, 5
	every := 3 * time.Second
	s := newStory(t, func(s *story) { s.routineBurst, s.routineEvery = burst, every })
	s.waitAccount("default", metav1.ConditionTrue, deepcallv1.ReasonSynced)
	time.Sleep(time.Second) // the Account's own first writes are done
	before := apiWrites(t)
	start := time.Now()
	for i := range n {
		s.group(fmt.Sprintf("g%02d", i), func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001", "1002") })
	}
	for i := range n {
		s.readyWithin(fmt.Sprintf("g%02d", i), 60*time.Second)
	}
	elapsed := time.Since(start)
	time.Sleep(every + time.Second) // the summary of held events lands
	d := since(before, apiWrites(t))
	if w := operatorGroupWrites(d); w > 2*n {
		t.Errorf("%v writes to %d new AgentGroups (%.2f each), want at most 2 each; by request: %v", w, n, w/n, d)
	}
	if c := s.calls(); c["add"] != n {
		t.Errorf("add calls = %d, want %d", c["add"], n)
	}

	oneByOne, summed := 0, 0
	var list eventsv1.EventList
	s.must(k8s.List(ctxBG, &list, client.InNamespace(s.ns)))
	more := regexp.MustCompile(`for (\d+) more AgentGroups`)
	for _, e := range list.Items {
		switch {
		case e.Reason != deepcallv1.EventCreated:
		case e.Regarding.Kind == "AgentGroup":
			oneByOne++
		case e.Regarding.Kind == "Account":
			m := more.FindStringSubmatch(e.Note)
			if m == nil {
				t.Errorf("summary event %q does not say how many", e.Note)
				continue
			}
			k, _ := strconv.Atoi(m[1])
			summed += k
		}
	}
	if oneByOne+summed != n {
		t.Errorf("%d Created events one by one and %d summed up on the Account, want %d in all", oneByOne, summed, n)
	}
	if most := burst + int(elapsed/every) + 1; oneByOne > most {
		t.Errorf("%d Created events one by one in %v, want at most %d", oneByOne, elapsed.Round(time.Millisecond), most)
	}
	t.Logf("%d groups in %v: %v API-server writes to AgentGroups, %d Created events one by one, %d summed up; by request: %v",
		n, elapsed.Round(time.Millisecond), operatorGroupWrites(d), oneByOne, summed, d)
}

// Twenty groups are in sync. Their periodic drift checks read every
// group again and write nothing to the API server; how fresh the checks
// are shows on the Account instead.
func TestDriftChecksThatFindNothingWriteNothing(t *testing.T) {
	const n = 20
	s := newStory(t, func(s *story) { s.syncInterval = 30 * time.Second })
	for i := range n {
		s.group(fmt.Sprintf("g%02d", i), func(g *deepcallv1.AgentGroup) { g.Spec.Members = agents("1001") })
	}
	for i := range n {
		s.readyWithin(fmt.Sprintf("g%02d", i), 30*time.Second)
	}
	lastSync := map[string]metav1.Time{}
	for i := range n {
		name := fmt.Sprintf("g%02d", i)
		lastSync[name] = *s.get(name).Status.LastSyncTime
	}
	time.Sleep(time.Second)
	before, reads, start := apiWrites(t), s.calls()["getGroupAgentRelation"], time.Now()

	// Every group's drift check comes within one interval, and the Account
	// reports the oldest of them at its next listing.
	s.eventually(75*time.Second, func() error {
		a := &deepcallv1.Account{}
		s.must(k8s.Get(ctxBG, key(s.ns, "default"), a))
		if c := a.Status.OldestGroupCheck; c == nil || c.Time.Before(start.Truncate(time.Second)) {
			return fmt.Errorf("Account status.oldestGroupCheck = %v, want after %v (reads since: %d)", c, start, s.calls()["getGroupAgentRelation"]-reads)
		}
		return nil
	})
	d := since(before, apiWrites(t))
	if got := s.calls()["getGroupAgentRelation"] - reads; got < n {
		t.Errorf("%d reads of remote groups, want every group's drift check (%d)", got, n)
	}
	if w := operatorGroupWrites(d); w != 0 {
		t.Errorf("drift checks that found nothing wrote %v times to AgentGroups: %v", w, d)
	}
	if w := writes(s.calls()); w != n*2 {
		t.Errorf("%d remote writes, want only the %d creates and assigns", w, n*2)
	}
	for name, was := range lastSync {
		if g := s.get(name); !g.Status.LastSyncTime.Equal(&was) {
			t.Errorf("%s: lastSyncTime moved from %v to %v with nothing changed", name, was, g.Status.LastSyncTime)
		}
	}
	t.Logf("after %v: writes %v", time.Since(start).Round(time.Second), d)
}
