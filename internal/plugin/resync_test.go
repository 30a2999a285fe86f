package plugin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// resyncWorld is a cluster where an "operator" answers each resync
// request as it is patched in, as handle says.
type resyncWorld struct {
	t       *testing.T
	client  client.WithWatch
	handled []string
}

// handling answers a request on one AgentGroup: its Ready reason and
// whether the pass corrected drift (an event after its lastSyncTime).
type handling struct {
	reason    string
	corrected string
}

func newResyncWorld(t *testing.T, groups map[string]*handling) *resyncWorld {
	w := &resyncWorld{t: t}
	var objs []client.Object
	for name := range groups {
		objs = append(objs, &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name, UID: types.UID("uid-" + name)}})
	}
	objs = append(objs, &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "elsewhere"}})
	w.client = fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if err := c.Patch(ctx, obj, patch, opts...); err != nil {
				return err
			}
			h := groups[obj.GetName()]
			if h == nil {
				return nil // no operator watches it
			}
			g := obj.(*deepcallv1.AgentGroup)
			w.handled = append(w.handled, g.Name)
			now := time.Now()
			g.Status.LastHandledResync = g.Annotations[deepcallv1.AnnotationResync]
			g.Status.LastSyncTime = &metav1.Time{Time: now.Truncate(time.Second)}
			status := metav1.ConditionFalse
			if h.reason == deepcallv1.ReasonSynced {
				status = metav1.ConditionTrue
			}
			meta.SetStatusCondition(&g.Status.Conditions, metav1.Condition{Type: deepcallv1.ConditionReady, Status: status, Reason: h.reason, Message: "what " + h.reason + " says"})
			if err := c.Update(ctx, g); err != nil {
				return err
			}
			if h.corrected == "" {
				return nil
			}
			return c.Create(ctx, &eventsv1.Event{
				ObjectMeta: metav1.ObjectMeta{Namespace: g.Namespace, Name: g.Name + ".correction"},
				EventTime:  metav1.NewMicroTime(now), Reason: deepcallv1.ReasonDriftCorrected, Note: h.corrected,
				Regarding: corev1ObjectReference(g),
			})
		},
	}).Build()
	// An older correction of alpha, before its handling pass: not this one's.
	if groups["alpha"] != nil {
		w.must(w.client.Create(context.Background(), &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "alpha.old"},
			EventTime:  metav1.NewMicroTime(time.Now().Add(-time.Hour)), Reason: deepcallv1.ReasonDriftCorrected, Note: "corrected: an hour ago",
			Regarding: corev1ObjectReference(&deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "alpha", UID: "uid-alpha"}}),
		}))
	}
	return w
}

func corev1ObjectReference(g *deepcallv1.AgentGroup) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "AgentGroup", Namespace: g.Namespace, Name: g.Name, UID: g.UID}
}

func (w *resyncWorld) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// run runs resync with these flags and names in namespace team-a.
func (w *resyncWorld) run(o resyncOptions, names ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	o.f = &Factory{Streams: genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}}
	o.poll, o.now = time.Millisecond, time.Now
	if o.timeout == 0 {
		o.timeout = 2 * time.Second
	}
	if err := o.validate(names); err != nil {
		return "", "", err
	}
	err = o.run(context.Background(), w.client, treeScope{Namespace: "team-a", AllNamespaces: o.allNamespaces}, names)
	return out.String(), errOut.String(), err
}

func TestResyncSetsTheAnnotation(t *testing.T) {
	w := newResyncWorld(t, map[string]*handling{})
	w.must(w.client.Create(context.Background(), &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "alpha",
		Annotations: map[string]string{"team.example/owner": "sales"}}}))
	before := time.Now()
	stdout, stderr, err := w.run(resyncOptions{}, "alpha", "missing")
	var code exitCode
	if !errors.As(err, &code) || code != ExitError {
		t.Errorf("error = %v, want exit 1 for the missing one", err)
	}
	if want := "agentgroup/alpha resync requested\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	if want := "error: AgentGroup \"missing\" not found in namespace team-a\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
	g := &deepcallv1.AgentGroup{}
	w.must(w.client.Get(context.Background(), types.NamespacedName{Namespace: "team-a", Name: "alpha"}, g))
	value := g.Annotations[deepcallv1.AnnotationResync]
	at, err := time.Parse(time.RFC3339Nano, value)
	if err != nil || len(value) != len(resyncTimeFormat)-len("Z07:00")+1 || at.Before(before) || at.After(time.Now()) {
		t.Errorf("annotation %s = %q (%v), want the time of the request, RFC 3339 with nanoseconds", deepcallv1.AnnotationResync, value, err)
	}
	if g.Annotations["team.example/owner"] != "sales" {
		t.Errorf("annotations %v: the others must stay", g.Annotations)
	}
}

func TestResyncWait(t *testing.T) {
	w := newResyncWorld(t, map[string]*handling{
		"alpha": {reason: deepcallv1.ReasonSynced, corrected: "corrected: agent 1099 is a member remotely but not in spec"},
		"bravo": {reason: deepcallv1.ReasonSynced},
		"taken": {reason: deepcallv1.ReasonNameConflict},
	})
	stdout, _, err := w.run(resyncOptions{all: true, wait: true})
	want := `NAME    READY   REASON         RESULT
alpha   True    Synced         corrected: agent 1099 is a member remotely but not in spec
bravo   True    Synced         in sync
taken   False   NameConflict   what NameConflict says
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if err == nil || err.Error() != "1 of 3 AgentGroups not Ready: taken (NameConflict)" {
		t.Errorf("error = %v, want the one not Ready named", err)
	}
	if diff := cmp.Diff([]string{"alpha", "bravo", "taken"}, w.handled); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	// Every one Ready: exit 0.
	stdout, _, err = w.run(resyncOptions{wait: true}, "bravo")
	if err != nil || !strings.Contains(stdout, "bravo   True    Synced   in sync") {
		t.Errorf("resync bravo --wait: %v\n%s", err, stdout)
	}
}

func TestResyncWaitTimesOut(t *testing.T) {
	w := newResyncWorld(t, map[string]*handling{}) // no operator answers
	w.must(w.client.Create(context.Background(), &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "lonely"}}))
	stdout, _, err := w.run(resyncOptions{wait: true, timeout: 50 * time.Millisecond}, "lonely")
	if want := "lonely   Unknown   -        no answer from the operator yet\n"; !strings.HasSuffix(stdout, want) {
		t.Errorf("output %q, want it to end with %q", stdout, want)
	}
	if err == nil || !strings.Contains(err.Error(), "no answer from the operator within 50ms for lonely") {
		t.Errorf("error = %v", err)
	}
}

func TestResyncFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--all alpha": "name AgentGroups or pass --all, not both",
		"":            "name at least one AgentGroup, or pass --all",
		"-A alpha":    "-A goes with --all: name AgentGroups of one namespace with -n",
	} {
		o := resyncOptions{timeout: time.Second}
		var names []string
		for _, a := range strings.Fields(args) {
			switch a {
			case "--all":
				o.all = true
			case "-A":
				o.allNamespaces = true
			default:
				names = append(names, a)
			}
		}
		if err := o.validate(names); err == nil || err.Error() != want {
			t.Errorf("resync %s: %v, want %q", args, err, want)
		}
	}
}

func TestResyncHandled(t *testing.T) {
	requested := "2026-03-01T12:00:00.100000000Z"
	for handled, want := range map[string]bool{
		"":                               false,
		requested:                        true,
		"2026-03-01T12:00:00.2Z":         true,  // a later request, answered
		"2026-03-01T12:00:00.000000001Z": false, // an earlier one
		"1700000000":                     false, // someone's own value
	} {
		g := &deepcallv1.AgentGroup{Status: deepcallv1.AgentGroupStatus{LastHandledResync: handled}}
		if got := resyncHandled(g, requested); got != want {
			t.Errorf("handled %q for request %q: %v, want %v", handled, requested, got, want)
		}
	}
}
