package v1alpha1

// Condition types. Ready is always present; Reconciling and Stalled are
// present only while True (the kstatus convention); InSync is False while the
// remote group differs from spec.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	ConditionInSync      = "InSync"
	// ConditionSyncBudget is an Account condition: False when the rate
	// limit cannot re-read every group once per syncInterval.
	ConditionSyncBudget = "SyncBudget"
)

// Condition reasons, a fixed set documented in docs/reference.md.
const (
	// Both kinds.
	ReasonReconciling = "Reconciling"
	ReasonSynced      = "Synced"

	// Account.
	ReasonSecretNotFound     = "SecretNotFound"
	ReasonInvalidCredentials = "InvalidCredentials"
	ReasonUnauthorized       = "Unauthorized"
	ReasonUnreachable        = "Unreachable"
	ReasonWithinBudget       = "WithinBudget"
	ReasonIntervalStretched  = "IntervalStretched"

	// ReasonInvalidBaseURL: the operator will not call baseURL (plain
	// http:// without --allow-insecure-loopback), or the brand host answered
	// with a redirect, which is never followed. Also an AgentGroup reason,
	// for a redirect answered to one of its own calls.
	ReasonInvalidBaseURL = "InvalidBaseURL"

	// AgentGroup.
	ReasonAccountNotFound = "AccountNotFound"
	ReasonAccountNotReady = "AccountNotReady"
	// ReasonAccountNotAllowed: the ClusterAccount named does not allow the
	// AgentGroup's namespace (or this manager serves no ClusterAccount).
	ReasonAccountNotAllowed   = "AccountNotAllowed"
	ReasonCreating            = "Creating"
	ReasonCreatePending       = "CreatePending"
	ReasonAmbiguousCreate     = "AmbiguousCreate"
	ReasonNameConflict        = "NameConflict"
	ReasonDuplicateGroupName  = "DuplicateGroupName"
	ReasonRemoteGroupNotFound = "RemoteGroupNotFound"
	ReasonNothingToObserve    = "NothingToObserve"
	ReasonThrottled           = "Throttled"
	ReasonDriftDetected       = "DriftDetected"
	ReasonDriftCorrected      = "DriftCorrected"
	ReasonObserving           = "Observing"
	ReasonSuspended           = "Suspended"
	ReasonPermissionDenied    = "PermissionDenied"
	ReasonInvalidRequest      = "InvalidRequest"
	ReasonRemoteError         = "RemoteError"
	ReasonDeleting            = "Deleting"
	ReasonGroupIDInUse        = "GroupIDInUse"
	ReasonGroupIDMismatch     = "GroupIDMismatch"
	ReasonAccountChanged      = "AccountChanged"
	// ReasonStatusUnreadable: the stored status has fields this version
	// of the operator cannot read (a later version wrote them): it does
	// nothing for the AgentGroup until they read. An Account, whose
	// status holds no fact, gets an event of this reason instead, and
	// its status is written anew.
	ReasonStatusUnreadable = "StatusUnreadable"
	ReasonInSync           = "InSync"
	ReasonOutOfSync        = "OutOfSync"
)

// Event reasons besides the condition reasons above.
const (
	EventCreated   = "Created"
	EventAdopted   = "Adopted"
	EventRecreated = "Recreated"
	EventDeleted   = "Deleted"
	EventOrphaned  = "Orphaned"
	// EventRemoteAccountChanged: an Account's credentials now resolve to
	// another remote account than before.
	EventRemoteAccountChanged = "RemoteAccountChanged"
	// EventThrottled: the Group API asked an Account's remote account to
	// pause (429 with Retry-After).
	EventThrottled = "Throttled"
)
