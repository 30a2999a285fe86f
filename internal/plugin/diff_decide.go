package plugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// diffResult is what the operator would do for one AgentGroup.
type diffResult string

const (
	diffCreate    diffResult = "Create"    // add a remote group (again, when Recreate)
	diffChange    diffResult = "Change"    // update or assign the bound group
	diffAdopt     diffResult = "Adopt"     // take over a group by name, then any calls
	diffUnchanged diffResult = "Unchanged" // nothing to write
	diffObserve   diffResult = "Observe"   // managementPolicy Observe: drift reported, nothing written
	diffSuspended diffResult = "Suspended" // spec.suspend: no remote calls
	diffStall     diffResult = "Stall"     // the operator would stop with a Stalled reason
	diffError     diffResult = "Error"     // the diff could not tell
)

// diffVerdict is the decision for one AgentGroup of the manifests.
type diffVerdict struct {
	Key           types.NamespacedName
	Result        diffResult
	Account       string // "Account NS/NAME" or "ClusterAccount NAME", as Account.String names it
	RemoteAccount string
	// Name is the group name the spec asks for.
	Name string
	// GroupID is the remote group it is bound to or would adopt; "" for
	// a create.
	GroupID string
	// RemoteName is that group's name now.
	RemoteName string
	// Recreate: the bound group was deleted outside the operator.
	Recreate bool
	Plan     plan.Plan
	Stall    *plan.Stall
	Err      error
}

// diffWorld is every AgentGroup that may hold a name or a group id, as
// the operator would see them once the manifests are applied: the live
// ones, with each manifest's spec laid over its live object's identity
// and status (its binding), and the new ones.
type diffWorld struct {
	cluster *diffCluster
	groups  map[types.NamespacedName]*deepcallv1.AgentGroup
}

// newDiffWorld lays the manifests over the live AgentGroups. A new one is
// younger than every live object, and new ones are as old as their order
// in the files: kubectl apply creates them in that order (within one
// second the operator would order them by their random UIDs).
func newDiffWorld(cluster *diffCluster, ms []diffManifest, now time.Time) *diffWorld {
	w := &diffWorld{cluster: cluster, groups: map[types.NamespacedName]*deepcallv1.AgentGroup{}}
	newest := now
	for key, g := range cluster.live {
		w.groups[key] = g
		if t := g.CreationTimestamp.Time; t.After(newest) {
			newest = t
		}
	}
	for i, m := range ms {
		g := m.group.DeepCopy()
		key := types.NamespacedName{Namespace: g.Namespace, Name: g.Name}
		if live, ok := cluster.live[key]; ok {
			g.UID, g.CreationTimestamp, g.Status = live.UID, live.CreationTimestamp, live.Status
			g.Annotations = live.Annotations // the operator's create intent
		} else {
			g.UID = types.UID("new:" + key.String())
			g.CreationTimestamp.Time = newest.Add(time.Second + time.Duration(i)*time.Millisecond)
		}
		w.groups[key] = g
	}
	return w
}

// decide follows the operator's pass for one AgentGroup (reconcileNormal,
// observe, observeByName, adopt, apply's rename check in controllers/),
// with the same plan functions fed with what was read instead of the
// operator's cache, claims and listings. Each group is judged against the
// account as it is now, not after the other manifests' changes.
func (w *diffWorld) decide(ctx context.Context, key types.NamespacedName) diffVerdict {
	g := w.groups[key]
	v := diffVerdict{Key: key, Account: (&Account{Key: g.AccountKey()}).String(), Name: g.DesiredName()}
	if msg := g.Status.UnreadableFacts(); msg != "" {
		return v.stalled(&plan.Stall{Reason: plan.Reason(deepcallv1.ReasonStatusUnreadable), Message: msg})
	}
	if g.Spec.Suspend {
		v.Result = diffSuspended
		return v
	}
	a := w.cluster.account(ctx, g.AccountKey())
	if a.err != nil {
		return v.failed(a.err)
	}
	if st := w.cluster.notLent(ctx, g, a); st != nil {
		return v.stalled(st)
	}
	if w.cluster.connect(ctx, a); a.connectErr != nil {
		return v.failed(a.connectErr)
	}
	v.RemoteAccount = a.remote
	if st := plan.AccountChanged(g.Status.GroupID, recordedRemote(g), a.remote, g.AccountRefString()); st != nil {
		return v.stalled(st)
	}
	id, st := plan.BoundID(g.Status.GroupID, g.Spec.GroupID)
	if st != nil {
		return v.stalled(st)
	}
	if id == "" {
		switch p, err := g.CreateIntent(); {
		case err != nil:
			return v.failed(err)
		case p != nil:
			return v.failed(fmt.Errorf("the operator sent an add for this AgentGroup whose answer it has not settled yet (annotation %s): diff again once it is Ready", deepcallv1.AnnotationCreateIntent))
		}
	}
	self := g
	var remote *plan.Remote
	if id != "" {
		if holder := w.holderOf(ctx, a, id, g); holder.UID != string(g.UID) {
			return v.stalled(plan.InUse(id, holder.Owner))
		}
		r, err := w.cluster.read(ctx, a, id)
		if err != nil {
			return v.failed(err)
		}
		remote = r
		if r == nil {
			lookUpName, st := plan.Gone(id, g.Spec.GroupID != "", g.IsObserveOnly())
			if st != nil {
				return v.stalled(st)
			}
			v.Recreate = lookUpName
			// The operator lets go of the group before it looks the
			// name up.
			self = g.DeepCopy()
			self.Status.GroupID, self.Status.RemoteAccount = "", ""
		}
	}
	if id == "" || v.Recreate {
		var out *diffVerdict
		if remote, out = w.byName(ctx, a, self, &v); out != nil {
			return *out
		}
	}
	if remote != nil {
		v.GroupID, v.RemoteName = remote.ID, remote.Name
	}
	mode := plan.Manage
	if g.IsObserveOnly() {
		mode = plan.Observe
	}
	v.Plan = plan.Compute(diffDesired(g), remote, mode)
	if st := w.renameCheck(ctx, a, g, remote, v.Plan); st != nil {
		return v.stalled(st)
	}
	switch {
	case mode == plan.Observe && v.Plan.InSync():
		v.Result = diffUnchanged
	case mode == plan.Observe:
		v.Result = diffObserve
	case v.Result == diffAdopt:
	case remote == nil:
		v.Result = diffCreate
	case v.Plan.Writes() > 0:
		v.Result = diffChange
	default:
		v.Result = diffUnchanged
	}
	return v
}

// byName is observeByName and adopt: for an AgentGroup with no remote
// group, the group named like it to adopt, or nil to create (or, in
// Observe mode, nothing to observe); out ends the decision.
func (w *diffWorld) byName(ctx context.Context, a *diffAccount, g *deepcallv1.AgentGroup, v *diffVerdict) (*plan.Remote, *diffVerdict) {
	name := g.DesiredName()
	if st := w.checkNameHolder(ctx, a, g, name); st != nil {
		out := v.stalled(st)
		return nil, &out
	}
	lookup := plan.LookUp(name, a.groups, g.IsObserveOnly())
	switch {
	case lookup.Stall != nil:
		out := v.stalled(lookup.Stall)
		return nil, &out
	case lookup.Found == nil:
		return nil, nil
	}
	found := *lookup.Found
	adoption, st := plan.Adopt(found, string(g.UID), w.holderOf(ctx, a, found.ID, g), g.Spec.AdoptionPolicy == deepcallv1.AdoptionByName)
	if st != nil {
		out := v.stalled(st)
		return nil, &out
	}
	remote, err := w.cluster.read(ctx, a, found.ID)
	if err == nil && remote == nil {
		err = fmt.Errorf("remote group %s is listed but reading it answered not found: run the diff again", found.ID)
	}
	if err != nil {
		out := v.failed(err)
		return nil, &out
	}
	if adoption == plan.Adopted {
		v.Result = diffAdopt
	}
	return remote, nil
}

// renameCheck is apply's check before a rename: the new name must be
// free of other AgentGroups' claims and of other remote groups.
func (w *diffWorld) renameCheck(ctx context.Context, a *diffAccount, g *deepcallv1.AgentGroup, remote *plan.Remote, p plan.Plan) *plan.Stall {
	if remote == nil {
		return nil
	}
	for _, act := range p.Actions {
		if act.Kind != plan.Update || !plan.Renames(remote.Name, act.Name) {
			continue
		}
		bound := g.DeepCopy()
		bound.Status.GroupID = remote.ID // bound by now, adopted or not
		if st := w.checkNameHolder(ctx, a, bound, act.Name); st != nil {
			return st
		}
		return plan.RenameConflict(remote.ID, act.Name, a.groups)
	}
	return nil
}

// holderOf is the AgentGroup holding remote group id on the remote
// account of a: among those that claim it (g included, if it does), the
// senior one, bound first (zero: none).
func (w *diffWorld) holderOf(ctx context.Context, a *diffAccount, id string, g *deepcallv1.AgentGroup) plan.Claimant {
	var claimants []plan.Claimant
	for _, c := range w.groups {
		if c.UID == g.UID {
			c = g // as the pass sees itself
		}
		if plan.ClaimedID(c.Status.GroupID, c.Spec.GroupID) == id && (c.UID == g.UID || w.cluster.sameRemote(ctx, c, a)) {
			claimants = append(claimants, diffClaimant(c, c.Status.GroupID == id))
		}
	}
	if len(claimants) == 0 {
		return plan.Claimant{}
	}
	return claimants[plan.Senior(claimants)]
}

// checkNameHolder is the operator's check that no other AgentGroup on the
// same remote account claims the name first.
func (w *diffWorld) checkNameHolder(ctx context.Context, a *diffAccount, g *deepcallv1.AgentGroup, name string) *plan.Stall {
	var others []plan.Claimant
	for _, c := range w.groups {
		if c.UID != g.UID && strings.ToLower(c.DesiredName()) == strings.ToLower(name) && w.cluster.sameRemote(ctx, c, a) {
			others = append(others, diffClaimant(c, c.Status.GroupID != ""))
		}
	}
	return plan.CheckNameHolder(name, a.remote, diffClaimant(g, g.Status.GroupID != ""), others)
}

func diffClaimant(g *deepcallv1.AgentGroup, bound bool) plan.Claimant {
	return plan.Claimant{Owner: g.Namespace + "/" + g.Name, UID: string(g.UID), Created: g.CreationTimestamp.Time, Bound: bound}
}

func (v diffVerdict) stalled(st *plan.Stall) diffVerdict {
	v.Result, v.Stall = diffStall, st
	return v
}

func (v diffVerdict) failed(err error) diffVerdict {
	v.Result, v.Err = diffError, err
	return v
}

// diffDesired is the spec as the planner takes it, as the controller builds it.
func diffDesired(g *deepcallv1.AgentGroup) plan.Desired {
	return plan.Desired{Name: g.DesiredName(), Members: g.MemberIDs(), Receivers: g.ReceiverIDs(), Enabled: g.IsEnabled()}
}
