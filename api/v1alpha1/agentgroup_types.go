package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ManagementPolicy says whether the operator may write to the remote group.
// +kubebuilder:validation:Enum=Manage;Observe
type ManagementPolicy string

const (
	// ManagementManage creates, updates and deletes the remote group.
	ManagementManage ManagementPolicy = "Manage"
	// ManagementObserve never writes: it reads the remote group and reports drift.
	ManagementObserve ManagementPolicy = "Observe"
)

// DeletionPolicy says what happens to the remote group when the AgentGroup is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionDelete deletes the remote group.
	DeletionDelete DeletionPolicy = "Delete"
	// DeletionOrphan leaves the remote group as it is.
	DeletionOrphan DeletionPolicy = "Orphan"
)

// AdoptionPolicy says whether an existing remote group with the same name may be taken over.
// +kubebuilder:validation:Enum=Never;ByName
type AdoptionPolicy string

const (
	// AdoptionNever reports a NameConflict instead of taking over a group the operator did not create.
	AdoptionNever AdoptionPolicy = "Never"
	// AdoptionByName takes over the remote group whose name matches groupName (case-insensitively).
	AdoptionByName AdoptionPolicy = "ByName"
)

// AccountReference names an Account in the AgentGroup's own namespace, or
// a ClusterAccount that allows the namespace.
type AccountReference struct {
	// kind of the account: Account (in this namespace) or ClusterAccount.
	// +kubebuilder:validation:Enum=Account;ClusterAccount
	// +kubebuilder:default=Account
	// +optional
	Kind string `json:"kind,omitempty"`

	// name of the Account or ClusterAccount.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:default=default
	// +optional
	Name string `json:"name,omitempty"`
}

// Kinds an AccountReference may name.
const (
	KindAccount        = "Account"
	KindClusterAccount = "ClusterAccount"
)

// AgentID is an agent's agent_unique_id.
// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,64}$`
// +kubebuilder:validation:MaxLength=64
type AgentID string

// AgentGroupSpec is the desired state of one remote agent group.
//
// +kubebuilder:validation:XValidation:rule="!has(self.receiveCall) || (has(self.members) && sets.contains(self.members, self.receiveCall))",message="receiveCall entries must also be listed in members"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.groupId) || size(oldSelf.groupId) == 0 || (has(self.groupId) && self.groupId == oldSelf.groupId)",message="groupId cannot be changed or removed once set; to bind another remote group, delete this AgentGroup with deletionPolicy: Orphan and create a new one"
type AgentGroupSpec struct {
	// accountRef names the Account, in this namespace, or the
	// ClusterAccount (kind: ClusterAccount) whose remote account holds the
	// group.
	// +kubebuilder:default={name: "default"}
	// +optional
	AccountRef AccountReference `json:"accountRef,omitempty"`

	// groupName is the remote group's name; metadata.name when empty.
	// Changing it renames the remote group.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:XValidation:rule="self.matches('^\\\\S(.*\\\\S)?$')",message="groupName must not start or end with a space"
	// +optional
	GroupName string `json:"groupName,omitempty"`

	// members are the agents (agent_unique_id values) in the group, a set.
	// +listType=set
	// +kubebuilder:validation:MaxItems=5000
	// +optional
	Members []AgentID `json:"members,omitempty"`

	// receiveCall are the members that may receive calls through the
	// group, a set; each must also be listed in members. At most 1,000:
	// the API server's cost budget for the subset check allows no more
	// beside 5,000 members.
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +optional
	ReceiveCall []AgentID `json:"receiveCall,omitempty"`

	// enabled sets the remote group's status: true is active (1), false
	// is inactive (0).
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// managementPolicy: Manage converges the remote group; Observe only
	// reads it and reports drift, never writing.
	// +kubebuilder:default=Manage
	// +optional
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`

	// deletionPolicy: Delete removes the remote group when this AgentGroup
	// is deleted; Orphan leaves it. Unset: the manager's
	// --default-deletion-policy (Delete unless the manager says otherwise).
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// adoptionPolicy: Never reports a NameConflict when a remote group with
	// the same name already exists; ByName takes it over.
	// +kubebuilder:default=Never
	// +optional
	AdoptionPolicy AdoptionPolicy `json:"adoptionPolicy,omitempty"`

	// groupId binds this AgentGroup to an existing remote group. It can be
	// set once (from empty) and never changed.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,64}$`
	// +kubebuilder:validation:MaxLength=64
	// +optional
	GroupID string `json:"groupId,omitempty"`

	// suspend stops every remote call for this group. Deleting a suspended
	// AgentGroup leaves the remote group in place.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// PendingCreate records an add call that may have reached the API without
// its answer reaching the operator, so that a restart finds the group it
// created instead of creating a second one. It is written, as JSON, to the
// annotation AnnotationCreateIntent together with the finalizer, in one
// write before the add.
type PendingCreate struct {
	// name sent in the add call.
	Name string `json:"name"`
	// startedAt is the moment the add call was sent, after every
	// rate-limit wait, to the microsecond: the group it made may appear in
	// listings until the manager's --create-settle has passed since.
	StartedAt metav1.MicroTime `json:"startedAt"`
	// knownGroupIds are the ids of remote groups whose names already
	// matched before the add call, so they are not mistaken for ours.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	KnownGroupIDs []string `json:"knownGroupIds,omitempty"`
	// remoteAccount is the remote account the add was sent to.
	// +optional
	RemoteAccount string `json:"remoteAccount,omitempty"`
}

// ShardLabel puts an Account and its AgentGroups in a shard, as Flux's
// sharding.fluxcd.io/key does: a manager started with
// --watch-label-selector=sharding.deepcall.agentgroups.dev/key=shard1
// reconciles only the objects labelled shard1, and the default manager of
// a sharded install runs with '!sharding.deepcall.agentgroups.dev/key' to
// take the unlabelled ones.
const ShardLabel = "sharding.deepcall.agentgroups.dev/key"

// AnnotationCreateIntent holds the PendingCreate of the last add this
// AgentGroup sent. It counts only while status.groupId is empty: once the
// add's group is bound, it is history.
const AnnotationCreateIntent = "deepcall.agentgroups.dev/create-intent"

// AnnotationResync asks for a drift check now, as Flux's
// reconcile.fluxcd.io/requestedAt does: its value (`kubectl agentgroup
// resync` writes the time, RFC 3339) is copied to status.lastHandledResync
// by the first pass that reaches an outcome after it changed.
const AnnotationResync = "deepcall.agentgroups.dev/resync"

// AgentGroupStatus is what the operator last observed of the remote group.
type AgentGroupStatus struct {
	// observedGeneration is the generation of the spec the status describes.
	// +kubebuilder:default=-1
	// +optional
	ObservedGeneration int64 `json:"observedGeneration"`

	// groupId is the remote group's id, written as soon as it is known.
	// +optional
	GroupID string `json:"groupId,omitempty"`

	// remoteAccount is the remote account (`<userId>@<brand host>`) that
	// groupId, or the pending create, belongs to. When the Account later
	// resolves to another remote account, nothing is created or deleted:
	// the AgentGroup reports AccountChanged.
	// +optional
	RemoteAccount string `json:"remoteAccount,omitempty"`

	// groupName is the name the remote group has now.
	// +optional
	GroupName string `json:"groupName,omitempty"`

	// members counts the remote group's members.
	// +optional
	Members int32 `json:"members"`

	// receiveCall counts the remote members that may receive calls.
	// +optional
	ReceiveCall int32 `json:"receiveCall"`

	// drift lists how the remote group differs from spec; empty when in sync.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Drift []string `json:"drift,omitempty"`

	// pendingCreate is where earlier versions recorded an add whose
	// outcome was not yet known; it is still honoured after an upgrade and
	// cleared once settled. The intent now lives in the annotation
	// deepcall.agentgroups.dev/create-intent.
	// +optional
	PendingCreate *PendingCreate `json:"pendingCreate,omitempty"`

	// lastSyncTime is when a read of the remote group last changed this
	// status. A drift check that finds the group as recorded writes
	// nothing; the Account's status.oldestGroupCheck says how fresh the
	// checks are.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// lastHandledResync is the value of the annotation
	// deepcall.agentgroups.dev/resync that the operator last finished a
	// pass for: the remote group was read (and, with Manage, corrected), or
	// Ready says why nothing was done. A person waiting for a resync waits
	// for this to equal the value they set.
	// +optional
	LastHandledResync string `json:"lastHandledResync,omitempty"`

	// conditions: Ready, InSync, and Reconciling / Stalled while True.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Unreadable holds, by JSON name, why each stored field this version
	// could not read was left out (stored_forms.go); never stored.
	Unreadable map[string]string `json:"-"`
}

// AgentGroup is one agent group of a DeepCall account, managed declaratively.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ag
// +kubebuilder:printcolumn:name="Group Name",type=string,JSONPath=`.status.groupName`
// +kubebuilder:printcolumn:name="Group ID",type=string,JSONPath=`.status.groupId`
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.members`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="has(self.spec.groupName) || size(self.metadata.name) <= 100",message="metadata.name is longer than 100 characters: set spec.groupName"
type AgentGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec AgentGroupSpec `json:"spec"`
	// +optional
	Status AgentGroupStatus `json:"status,omitempty"`
}

// AgentGroupList is a list of AgentGroups.
//
// +kubebuilder:object:root=true
type AgentGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AgentGroup `json:"items"`
}

// DesiredName is the remote name the spec asks for.
func (g *AgentGroup) DesiredName() string {
	if g.Spec.GroupName != "" {
		return g.Spec.GroupName
	}
	return g.Name
}

// AccountName is the name of the Account (or ClusterAccount) the group
// belongs to.
func (g *AgentGroup) AccountName() string {
	if g.Spec.AccountRef.Name != "" {
		return g.Spec.AccountRef.Name
	}
	return "default"
}

// AccountRefString names the account as the operator's messages do:
// "Account NAME" or "ClusterAccount NAME".
func (g *AgentGroup) AccountRefString() string {
	if g.UsesClusterAccount() {
		return KindClusterAccount + " " + g.AccountName()
	}
	return KindAccount + " " + g.AccountName()
}

// MemberIDs is spec.members as plain agent ids.
func (g *AgentGroup) MemberIDs() []string { return agentIDStrings(g.Spec.Members) }

// ReceiverIDs is spec.receiveCall as plain agent ids.
func (g *AgentGroup) ReceiverIDs() []string { return agentIDStrings(g.Spec.ReceiveCall) }

func agentIDStrings(in []AgentID) []string {
	out := make([]string, len(in))
	for i, a := range in {
		out[i] = string(a)
	}
	return out
}

// UsesClusterAccount reports whether accountRef names a ClusterAccount.
func (g *AgentGroup) UsesClusterAccount() bool { return g.Spec.AccountRef.Kind == KindClusterAccount }

// AccountKey is the key of the account the group belongs to: the
// Account's namespace and name, or a ClusterAccount's name with no
// namespace.
func (g *AgentGroup) AccountKey() types.NamespacedName {
	if g.UsesClusterAccount() {
		return types.NamespacedName{Name: g.AccountName()}
	}
	return types.NamespacedName{Namespace: g.Namespace, Name: g.AccountName()}
}

// IsEnabled reports whether the spec wants the group active.
func (g *AgentGroup) IsEnabled() bool { return g.Spec.Enabled == nil || *g.Spec.Enabled }

// IsObserveOnly reports whether the operator must never write to the group.
func (g *AgentGroup) IsObserveOnly() bool { return g.Spec.ManagementPolicy == ManagementObserve }
