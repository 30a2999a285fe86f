package plugin

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// resyncResult is what became of one resync request.
type resyncResult struct {
	Key types.NamespacedName
	// Group is the AgentGroup as last read; nil once it was deleted.
	Group *deepcallv1.AgentGroup
	// Handled: the operator finished a pass for this request (or a later
	// one), or the AgentGroup is gone.
	Handled bool
	// Corrected is the note of the event of the handling pass that
	// corrected drift, if the operator wrote one.
	Corrected string
}

// waitHandled reads the AgentGroups until the operator has handled the
// request on each (status.lastHandledResync) or the timeout passes. Each
// poll reads only the AgentGroups still waiting.
func (o *resyncOptions) waitHandled(ctx context.Context, c client.Reader, requests []resyncResult, requested string, before eventVersions) ([]resyncResult, error) {
	results := slices.Clone(requests)
	deadline := o.now().Add(o.timeout)
	for {
		var waiting []types.NamespacedName
		for _, r := range results {
			if !r.Handled {
				waiting = append(waiting, r.Key)
			}
		}
		groups, err := readAgentGroups(ctx, c, waiting)
		if err != nil {
			return nil, err
		}
		left := 0
		for i := range results {
			r := &results[i]
			if r.Handled {
				continue
			}
			r.Group = groups[r.Key]
			r.Handled = r.Group == nil || resyncHandled(r.Group, requested)
			if !r.Handled {
				left++
			}
		}
		if left == 0 || !o.now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(o.poll, time.Until(deadline))):
		}
	}
	addCorrections(ctx, c, results, before)
	return results, nil
}

// getEach is how many AgentGroups a poll reads one by one; more are read
// with one list per namespace.
const getEach = 20

// readAgentGroups reads the AgentGroups of keys; those that are gone are
// absent.
func readAgentGroups(ctx context.Context, c client.Reader, keys []types.NamespacedName) (map[types.NamespacedName]*deepcallv1.AgentGroup, error) {
	out := map[types.NamespacedName]*deepcallv1.AgentGroup{}
	if len(keys) <= getEach {
		for _, k := range keys {
			g := &deepcallv1.AgentGroup{}
			switch err := c.Get(ctx, k, g); {
			case apierrors.IsNotFound(err):
			case err != nil:
				return nil, fmt.Errorf("get AgentGroup %s: %w", k, err)
			default:
				out[k] = g
			}
		}
		return out, nil
	}
	for _, ns := range namespacesOf(keys) {
		var list deepcallv1.AgentGroupList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("list AgentGroups: %w", err)
		}
		for i := range list.Items {
			out[client.ObjectKeyFromObject(&list.Items[i])] = &list.Items[i]
		}
	}
	return out, nil
}

func namespacesOf(keys []types.NamespacedName) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Namespace)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// resyncHandled reports whether the operator answered this request, or a
// later one that replaced it in the annotation (someone asked again
// meanwhile). Values are compared, never ordered: they are times from
// different people's clocks.
func resyncHandled(g *deepcallv1.AgentGroup, requested string) bool {
	handled, now := g.Status.LastHandledResync, g.Annotations[deepcallv1.AnnotationResync]
	return handled != "" && (handled == requested || (now != requested && handled == now))
}

// correctionReasons are the events of a pass that changed the remote
// group back to its spec.
var correctionReasons = []string{deepcallv1.ReasonDriftCorrected, deepcallv1.EventRecreated}

// eventVersions are the resourceVersions of a namespace's events, by
// namespace/name, as they were before the request: an event that is not
// among them, or whose version changed (a series counted one more), was
// written after it. Versions are compared, never ordered, and no clock is
// read: the person's, the manager's and the API server's may differ.
type eventVersions map[string]string

// readEventVersions lists the events of the namespaces; nil when they
// cannot be read (events are best effort).
func readEventVersions(ctx context.Context, c client.Reader, namespaces []string) eventVersions {
	out := eventVersions{}
	for _, ns := range namespaces {
		var events eventsv1.EventList
		if c.List(ctx, &events, client.InNamespace(ns)) != nil {
			return nil
		}
		for _, e := range events.Items {
			out[e.Namespace+"/"+e.Name] = e.ResourceVersion
		}
	}
	return out
}

// addCorrections finds, for each handled AgentGroup, the latest
// correction event (DriftCorrected, Recreated) written since the request.
// Events are best effort (the operator bounds routine ones, and reading
// them may be forbidden): without one the result says only that the group
// is in sync.
func addCorrections(ctx context.Context, c client.Reader, results []resyncResult, before eventVersions) {
	if before == nil {
		return
	}
	var keys []types.NamespacedName
	for _, r := range results {
		keys = append(keys, r.Key)
	}
	for _, ns := range namespacesOf(keys) {
		var events eventsv1.EventList
		if c.List(ctx, &events, client.InNamespace(ns)) != nil {
			continue
		}
		for i := range results {
			r := &results[i]
			if r.Key.Namespace != ns || !r.Handled || r.Group == nil {
				continue
			}
			var latest time.Time
			for _, e := range events.Items {
				at := eventTime(&e)
				if e.Regarding.UID != r.Group.UID || !slices.Contains(correctionReasons, e.Reason) ||
					before[e.Namespace+"/"+e.Name] == e.ResourceVersion || at.Before(latest) {
					continue
				}
				latest, r.Corrected = at, e.Note
			}
		}
	}
}

func eventTime(e *eventsv1.Event) time.Time {
	at := e.EventTime.Time
	if e.Series != nil && e.Series.LastObservedTime.After(at) {
		at = e.Series.LastObservedTime.Time
	}
	if e.DeprecatedLastTimestamp.After(at) {
		at = e.DeprecatedLastTimestamp.Time
	}
	return at
}

// printResyncResults prints one line per AgentGroup: Ready, its reason,
// and what the pass found.
func printResyncResults(out io.Writer, results []resyncResult, name func(types.NamespacedName) string) error {
	w := printers.GetNewTabWriter(out)
	fmt.Fprintln(w, "NAME\tREADY\tREASON\tRESULT")
	for _, r := range results {
		ready, reason, _ := treeReadyOf(nil)
		if r.Group != nil {
			ready, reason, _ = treeReadyOf(r.Group.Status.Conditions)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name(r.Key), ready, reason, r.summary())
	}
	return w.Flush()
}

// summary says in one line what the pass found: corrected, in sync, the
// drift an Observe group reports, or why the group is not Ready.
func (r resyncResult) summary() string {
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	if r.Group == nil {
		return "deleted"
	}
	st := r.Group.Status
	ready := meta.FindStatusCondition(st.Conditions, deepcallv1.ConditionReady)
	switch {
	case !r.Handled:
		return "no answer from the operator yet"
	case ready == nil:
		return "-"
	case ready.Status != "True":
		return oneLine(ready.Message)
	case r.Corrected != "":
		return oneLine(r.Corrected)
	case len(st.Drift) > 0:
		return fmt.Sprintf("%s: %s", plural(len(st.Drift), "difference", "differences"), oneLine(strings.Join(st.Drift, "; ")))
	case ready.Reason == deepcallv1.ReasonSynced || ready.Reason == deepcallv1.ReasonObserving:
		return "in sync"
	}
	return oneLine(ready.Message)
}

// resyncVerdict is nil when every AgentGroup was handled and is Ready;
// otherwise an error naming the others.
func resyncVerdict(results []resyncResult, timeout time.Duration, name func(types.NamespacedName) string) error {
	var notReady, unanswered []string
	for _, r := range results {
		switch {
		case !r.Handled:
			unanswered = append(unanswered, name(r.Key))
		case r.Group == nil:
			notReady = append(notReady, name(r.Key)+" (deleted)")
		case !meta.IsStatusConditionTrue(r.Group.Status.Conditions, deepcallv1.ConditionReady):
			_, reason, _ := treeReadyOf(r.Group.Status.Conditions)
			notReady = append(notReady, fmt.Sprintf("%s (%s)", name(r.Key), reason))
		}
	}
	var says []string
	if len(notReady) > 0 {
		says = append(says, fmt.Sprintf("%d of %d AgentGroups not Ready: %s", len(notReady), len(results), strings.Join(notReady, ", ")))
	}
	if len(unanswered) > 0 {
		says = append(says, fmt.Sprintf("no answer from the operator within %s for %s (is the manager running, and does it watch this namespace?)", timeout, strings.Join(unanswered, ", ")))
	}
	if len(says) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(says, "; "))
}
