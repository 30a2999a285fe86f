package plugin

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
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
// request, as handle says, on the second read of the AgentGroups after it
// was patched in: --wait must poll until then.
type resyncWorld struct {
	t       *testing.T
	client  client.WithWatch
	handled []string
	// pending are the AgentGroups patched and not answered yet, with the
	// reads since.
	pending map[string]int
}

// handling answers a request on one AgentGroup: its Ready reason and
// whether the pass corrected drift (an event after its lastSyncTime).
type handling struct {
	reason    string
	corrected string
}

func newResyncWorld(t *testing.T, groups map[string]*handling) *resyncWorld {
	w := &resyncWorld{t: t, pending: map[string]int{}}
	var objs []client.Object
	for name := range groups {
		objs = append(objs, &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name, UID: types.UID("uid-" + name)}})
	}
	objs = append(objs, &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "elsewhere"}})
	answer := func(ctx context.Context, c client.WithWatch) error {
		for _, name := range slices.Sorted(maps.Keys(w.pending)) {
			if reads := w.pending[name]; reads < 2 {
				w.pending[name]++
				continue
			}
			delete(w.pending, name)
			if err := w.answer(ctx, c, name, groups[name]); err != nil {
				return err
			}
		}
		return nil
	}
	w.client = fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if err := c.Patch(ctx, obj, patch, opts...); err != nil {
				return err
			}
			if groups[obj.GetName()] != nil { // else no operator watches it
				w.pending[obj.GetName()] = 0
			}
			return nil
		},
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*deepcallv1.AgentGroup); ok {
				if err := answer(ctx, c); err != nil {
					return err
				}
			}
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if _, ok := list.(*deepcallv1.AgentGroupList); ok {
				if err := answer(ctx, c); err != nil {
					return err
				}
			}
			return c.List(ctx, list, opts...)
		},
	}).Build()
	// Corrections written just before the request, in the same second as
	// the pass that answers it: not that pass's.
	for _, name := range []string{"alpha", "bravo"} {
		if groups[name] != nil {
			w.must(w.client.Create(context.Background(), &eventsv1.Event{
				ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name + ".old"},
				EventTime:  metav1.NewMicroTime(time.Now()), Reason: deepcallv1.ReasonDriftCorrected, Note: "corrected: before the request",
				Regarding: corev1ObjectReference(&deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name, UID: types.UID("uid-" + name)}}),
			}))
		}
	}
	return w
}

// answer is the operator's pass for the request on one AgentGroup.
func (w *resyncWorld) answer(ctx context.Context, c client.WithWatch, name string, h *handling) error {
	g := &deepcallv1.AgentGroup{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: name}, g); err != nil {
		return err
	}
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
	const ours, later = "2026-03-01T12:00:00.100000000Z", "2026-03-01T12:00:00.000000001Z"
	for _, c := range []struct {
		annotation, handled string
		want                bool
	}{
		{ours, "", false},
		{ours, ours, true},
		{ours, "2026-03-01T11:00:00.000000000Z", false},  // an earlier request's answer
		{later, later, true},                             // ours was replaced by a request (from a clock behind ours) that was answered
		{later, ours, true},                              // ours was answered before it was replaced
		{later, "2026-03-01T11:00:00.000000000Z", false}, // neither answered yet
		{"", "2026-03-01T11:00:00.000000000Z", false},    // the annotation was removed
	} {
		g := &deepcallv1.AgentGroup{
			ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{deepcallv1.AnnotationResync: c.annotation}},
			Status:     deepcallv1.AgentGroupStatus{LastHandledResync: c.handled},
		}
		if got := resyncHandled(g, ours); got != c.want {
			t.Errorf("annotation %q, handled %q, our request %q: %v, want %v", c.annotation, c.handled, ours, got, c.want)
		}
	}
}
