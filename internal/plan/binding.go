package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Which remote group an AgentGroup is bound to, and whether the operator
// may touch it: the decisions the controller makes before Compute, in the
// words it reports them with. The controller feeds them what its cache,
// claims and listings say; `kubectl agentgroup diff` what it read from the
// cluster and the API. The I/O, locks and caching stay with the callers.

// Reason is the Ready reason of a decision. The values are api/v1alpha1's
// Reason constants (binding_reasons_test.go keeps them equal); this
// package does not import the API.
type Reason string

const (
	ReasonNameConflict        Reason = "NameConflict"
	ReasonDuplicateGroupName  Reason = "DuplicateGroupName"
	ReasonGroupIDInUse        Reason = "GroupIDInUse"
	ReasonGroupIDMismatch     Reason = "GroupIDMismatch"
	ReasonRemoteGroupNotFound Reason = "RemoteGroupNotFound"
	ReasonAccountChanged      Reason = "AccountChanged"
)

// Stall is a decision to leave the remote group alone until a person
// changes something: Ready=False, Stalled=True, with this reason and
// message.
type Stall struct {
	Reason  Reason
	Message string
}

// Claimant is an AgentGroup that claims a remote group id or a group name.
type Claimant struct {
	// Owner is namespace/name, as messages name it.
	Owner   string
	UID     string
	Created time.Time
	// Bound: it holds what it claims already (for an id: its status
	// records that id; for a name: it is bound to a group).
	Bound bool
}

// Senior returns the index of the claimant that comes first: a bound one,
// then the oldest, then the smallest UID, so every pass decides the same
// way.
func Senior(claimants []Claimant) int {
	order := make([]int, len(claimants))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := claimants[order[i]], claimants[order[j]]
		if a.Bound != b.Bound {
			return a.Bound
		}
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created)
		}
		return a.UID < b.UID
	})
	return order[0]
}

// ClaimedID is the remote id an AgentGroup holds or asks for: the bound
// one (status.groupId), else the one spec.groupId names.
func ClaimedID(statusID, specID string) string {
	if statusID != "" {
		return statusID
	}
	return specID
}

// AccountChanged refuses to act for a binding (or a pending create)
// recorded in another remote account than the one the account resolves to
// now ("" while unknown, as for ssid credentials whose account lists no
// group): new credentials must not recreate, delete or unbind anything.
// groupID is status.groupId ("" for a pending create); account names the
// Account as messages do ("Account default").
func AccountChanged(groupID, recorded, now, account string) *Stall {
	if recorded == "" || recorded == now {
		return nil
	}
	what := fmt.Sprintf("remote group %s", groupID)
	if groupID == "" {
		what = "the pending create of this AgentGroup"
	}
	msg := fmt.Sprintf("%s belongs to remote account %s, but %s now resolves to %s: nothing is created, changed or deleted. "+
		"Point the Account back at %s, or see AccountChanged in docs/reference.md to move", what, recorded, account, now, recorded)
	if now == "" {
		msg = fmt.Sprintf("%s belongs to remote account %s; the ssid credentials of %s cannot be matched to it, because the account they open lists no group: nothing is created, changed or deleted. "+
			"Use userId and token credentials, or see AccountChanged in docs/reference.md", what, recorded, account)
	}
	return &Stall{ReasonAccountChanged, msg}
}

// BoundID is the remote group an AgentGroup manages: the bound one
// (status.groupId), else the one spec.groupId names; "" when neither (the
// caller then settles a pending create, or looks the name up). Both set and
// different is a GroupIDMismatch.
func BoundID(statusID, specID string) (string, *Stall) {
	if statusID != "" && specID != "" && statusID != specID {
		return "", &Stall{ReasonGroupIDMismatch, fmt.Sprintf("this AgentGroup manages remote group %s (status.groupId); spec.groupId %s would leave it unmanaged, so nothing is done. "+
			"To manage %s instead, delete this AgentGroup (deletionPolicy decides what happens to %s) and create one with spec.groupId %s", statusID, specID, specID, statusID, specID)}
	}
	return ClaimedID(statusID, specID), nil
}

// InUse is the stall of an AgentGroup that wants remote group id while the
// AgentGroup holder (namespace/name) holds it.
func InUse(id, holder string) *Stall {
	return &Stall{ReasonGroupIDInUse, fmt.Sprintf("remote group %s is managed by AgentGroup %s: this AgentGroup makes no change to it, and deleting it leaves the group alone. "+
		"Delete one of the two, or give this one another spec.groupId", id, holder)}
}

// Gone decides for a bound remote group that a fresh listing confirms is
// gone. One spec.groupId names (named) is not found; Observe has nothing
// to observe; otherwise it was deleted by hand and is created again, after
// the same name checks as the first time (lookUpName).
func Gone(id string, named, observe bool) (lookUpName bool, st *Stall) {
	switch {
	case named:
		return false, &Stall{ReasonRemoteGroupNotFound, fmt.Sprintf("remote group %s (spec.groupId) does not exist or is not visible to this account", id)}
	case observe:
		return false, nil
	}
	return true, nil
}

// CheckNameHolder refuses a group name that another AgentGroup on the same
// remote account claims first (DuplicateGroupName). others are the other
// claimants of the name (compared case-insensitively) on that remote
// account; remoteAccount names it in the message.
func CheckNameHolder(name, remoteAccount string, self Claimant, others []Claimant) *Stall {
	claimants := append([]Claimant{self}, others...)
	first := Senior(claimants)
	if first == 0 {
		return nil
	}
	return &Stall{ReasonDuplicateGroupName, fmt.Sprintf("AgentGroup %s already manages the group name %q on remote account %s: give this AgentGroup another spec.groupName",
		claimants[first].Owner, name, remoteAccount)}
}

// Lookup is what a listing of the remote account says about the name of
// an AgentGroup with no remote group.
type Lookup struct {
	// Found is the one remote group with the name: Adopt decides whether
	// the AgentGroup may take it.
	Found *Remote
	// Create: no group has the name and the AgentGroup may create one.
	Create bool
	// KnownTwins are the ids of groups named like it with a number the API
	// appended, listed before the create: not the create's own group.
	KnownTwins []string
	Stall      *Stall
}

// LookUp decides from the listing for an AgentGroup with no remote group:
// several groups with its name are for a person to choose from
// (NameConflict); one may be adopted; none is created, except in Observe
// mode (neither Found nor Create: nothing to observe).
func LookUp(name string, groups []Remote, observe bool) Lookup {
	exact, twins := Candidates(name, groups)
	switch {
	case len(exact) > 1:
		return Lookup{Stall: &Stall{ReasonNameConflict, fmt.Sprintf("remote groups %s are all named %q: set spec.groupId to the one to manage", strings.Join(idsOf(exact), ", "), name)}}
	case len(exact) == 1:
		return Lookup{Found: &exact[0]}
	case observe:
		return Lookup{}
	}
	return Lookup{Create: true, KnownTwins: idsOf(twins)}
}

// Adoption is how an AgentGroup comes to hold the group named like it.
type Adoption string

const (
	// Ours: the AgentGroup holds it already (its own create, which the
	// cache has not shown yet).
	Ours Adoption = "Ours"
	// Adopted: taken over by name (adoptionPolicy ByName).
	Adopted Adoption = "Adopted"
)

// Adopt decides whether an AgentGroup (UID self) may take over the remote
// group r named like it: only with adoptionPolicy ByName (byName), only
// when no other AgentGroup holds it. holder is the AgentGroup holding r
// (zero: none).
func Adopt(r Remote, self string, holder Claimant, byName bool) (Adoption, *Stall) {
	switch {
	case holder.UID == self:
		return Ours, nil
	case holder.UID != "":
		return "", &Stall{ReasonDuplicateGroupName, fmt.Sprintf("remote group %s %q is already managed by AgentGroup %s: give this AgentGroup another spec.groupName", r.ID, r.Name, holder.Owner)}
	case !byName:
		return "", &Stall{ReasonNameConflict, fmt.Sprintf("remote group %s %q already exists and was not created by this AgentGroup: set spec.adoptionPolicy: ByName or spec.groupId: %q to manage it, or choose another spec.groupName", r.ID, r.Name, r.ID)}
	}
	return Adopted, nil
}

// Renames reports whether an update of remote to name is a rename, which
// needs the name free: a change of case only is not (the API compares
// names case-insensitively).
func Renames(remote, name string) bool { return !SameName(remote, name) }

// RenameConflict refuses to rename remote group id to a name another
// remote group has (the API would append a number, and every later pass
// would rename again).
func RenameConflict(id, name string, groups []Remote) *Stall {
	exact, _ := Candidates(name, groups)
	for _, e := range exact {
		if e.ID != id {
			return &Stall{ReasonNameConflict, fmt.Sprintf("cannot rename remote group %s to %q: remote group %s already has that name; choose another spec.groupName", id, name, e.ID)}
		}
	}
	return nil
}

func idsOf(rs []Remote) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
