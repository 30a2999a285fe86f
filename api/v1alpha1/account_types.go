package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// SecretReference names a credentials Secret: in the Account's own
// namespace, or for a ClusterAccount in the namespace it names.
type SecretReference struct {
	// name of the Secret. It holds either the key `ssid`, or the keys
	// `userId` and `token`.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// namespace of the Secret: required for a ClusterAccount, not allowed
	// for an Account (whose Secret is always in its own namespace).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// Key is where the Secret is: in the namespace the reference names, else
// in namespace (the Account's own).
func (r SecretReference) Key(namespace string) types.NamespacedName {
	if r.Namespace != "" {
		namespace = r.Namespace
	}
	return types.NamespacedName{Namespace: namespace, Name: r.Name}
}

// AccountSpec is one DeepCall account on one brand host.
type AccountSpec struct {
	// baseURL is the brand host of the account, e.g. https://ctv3-dev.sarv.com.
	// The operator appends /api/v2/Group/<operation>. It must use https://;
	// http:// is accepted only for 127.0.0.1, [::1] and localhost (a local
	// simulator).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['https', 'http'] && url(self).getHostname() != ''",message="baseURL must be an absolute URL such as https://ctv3-dev.sarv.com"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getScheme() != 'http' || url(self).getHostname() in ['127.0.0.1', '::1', 'localhost']",message="baseURL must use https:// (http:// is allowed only for 127.0.0.1, [::1] and localhost)"
	// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#')",message="baseURL must not contain a query or fragment"
	// +required
	BaseURL string `json:"baseURL"`

	// credentialsSecretRef names the Secret that holds the account's
	// credentials: in this namespace for an Account, in the namespace it
	// names for a ClusterAccount.
	// +required
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef"`

	// requestsPerSecond is the client-side rate limit for this account,
	// shared by everything its AgentGroups do.
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	RequestsPerSecond int32 `json:"requestsPerSecond,omitempty"`

	// burst is how many requests may go out at once above the steady rate.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Burst int32 `json:"burst,omitempty"`

	// syncInterval is how often each AgentGroup of this account is re-read
	// to detect drift (jittered, and stretched when the rate limit cannot
	// cover every group in one interval). At least 30s.
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('30s')",message="syncInterval must be at least 30s"
	// +optional
	SyncInterval metav1.Duration `json:"syncInterval,omitempty"`
}

// AccountStatus is what the operator last observed of the account.
type AccountStatus struct {
	// observedGeneration is the generation of the spec the status describes.
	// +kubebuilder:default=-1
	// +optional
	ObservedGeneration int64 `json:"observedGeneration"`

	// conditions: Ready is True when the credentials work (a list call
	// succeeded).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// remoteAccount is the remote account the credentials resolve to:
	// `<userId>@<brand host>`. With userId and token credentials it is the
	// userId; with an ssid, the user_id of the groups the account lists
	// (empty while the account has no group). Accounts that resolve to the
	// same remote account share one rate limit and one name space.
	// +optional
	RemoteAccount string `json:"remoteAccount,omitempty"`

	// managedGroups counts AgentGroups bound to a remote group.
	// +optional
	ManagedGroups int32 `json:"managedGroups"`

	// unmanagedGroups counts remote groups that no AgentGroup manages.
	// +optional
	UnmanagedGroups int32 `json:"unmanagedGroups"`

	// effectiveSyncInterval is the drift-check period actually used: the
	// spec's syncInterval, stretched when the rate limit cannot re-read every
	// group within it.
	// +optional
	EffectiveSyncInterval *metav1.Duration `json:"effectiveSyncInterval,omitempty"`

	// oldestGroupCheck is when the least recently checked AgentGroup of
	// this Account last had its remote group read: every group was checked
	// since. Drift checks that find nothing new write nothing to the
	// AgentGroups, so this is where their freshness shows. Updated with
	// each listing of the account.
	// +optional
	OldestGroupCheck *metav1.Time `json:"oldestGroupCheck,omitempty"`

	// lastSyncTime is when the account's groups were last listed.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// throttledUntil is set while the Group API has asked, with a 429 and
	// Retry-After, for a pause of this remote account: no call for any of
	// its AgentGroups goes out before it (capped by --max-retry-after).
	// +optional
	ThrottledUntil *metav1.Time `json:"throttledUntil,omitempty"`

	// Unreadable holds, by JSON name, why each stored field this version
	// could not read was left out (stored_forms.go); never stored.
	Unreadable map[string]string `json:"-"`
}

// Account is one DeepCall account (a brand host and its credentials) used
// by the AgentGroups of its namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dcacct
// +kubebuilder:printcolumn:name="Remote Account",type=string,JSONPath=`.status.remoteAccount`
// +kubebuilder:printcolumn:name="Managed",type=integer,JSONPath=`.status.managedGroups`
// +kubebuilder:printcolumn:name="Unmanaged",type=integer,JSONPath=`.status.unmanagedGroups`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Oldest Check",type=date,JSONPath=`.status.oldestGroupCheck`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Account struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	// +kubebuilder:validation:XValidation:rule="!has(self.credentialsSecretRef.namespace)",message="an Account's credentialsSecretRef cannot name a namespace: its Secret is in the Account's own namespace (use a ClusterAccount for a Secret elsewhere)"
	Spec AccountSpec `json:"spec"`
	// +optional
	Status AccountStatus `json:"status,omitempty"`
}

// AccountList is a list of Accounts.
//
// +kubebuilder:object:root=true
type AccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Account `json:"items"`
}

// ClusterAccountSpec is an AccountSpec whose Secret may live in any
// namespace, and the namespaces whose AgentGroups may use it.
//
// +kubebuilder:validation:XValidation:rule="has(self.credentialsSecretRef.namespace)",message="a ClusterAccount's credentialsSecretRef must name the Secret's namespace"
type ClusterAccountSpec struct {
	AccountSpec `json:",inline"`

	// allowedNamespaces selects, by label, the namespaces whose AgentGroups
	// may use this ClusterAccount. Absent: none; empty ({}): all. An
	// AgentGroup of another namespace gets AccountNotAllowed, and no call
	// is made for it with these credentials.
	// +optional
	AllowedNamespaces *metav1.LabelSelector `json:"allowedNamespaces,omitempty"`
}

// ClusterAccount is the cluster-scoped twin of Account, for a platform
// team that lends one DeepCall account to the namespaces it selects (the
// cert-manager Issuer/ClusterIssuer pattern).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=dccacct
// +kubebuilder:printcolumn:name="Remote Account",type=string,JSONPath=`.status.remoteAccount`
// +kubebuilder:printcolumn:name="Managed",type=integer,JSONPath=`.status.managedGroups`
// +kubebuilder:printcolumn:name="Unmanaged",type=integer,JSONPath=`.status.unmanagedGroups`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Oldest Check",type=date,JSONPath=`.status.oldestGroupCheck`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterAccount struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ClusterAccountSpec `json:"spec"`
	// +optional
	Status AccountStatus `json:"status,omitempty"`
}

// ClusterAccountList is a list of ClusterAccounts.
//
// +kubebuilder:object:root=true
type ClusterAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterAccount `json:"items"`
}
