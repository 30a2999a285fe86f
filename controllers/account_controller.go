package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

const (
	// accountFinalizer keeps an Account until no AgentGroup needs its
	// credentials to delete a remote group.
	accountFinalizer = "deepcall.agentgroups.dev/agentgroups"
	// secretFinalizer keeps a credentials Secret while an Account uses it,
	// so deleting a whole namespace can still delete the remote groups.
	secretFinalizer = "deepcall.agentgroups.dev/credentials-in-use"
)

// AccountReconciler keeps one Group API client per Account, checks that its
// credentials work, and counts the account's managed and unmanaged groups.
type AccountReconciler struct {
	client.Client
	// APIReader reads credentials Secrets straight from the API server:
	// the manager caches only Secrets' metadata, never their data.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Accounts  *accounts.Registry
	// RequestTimeout bounds each Group API request.
	RequestTimeout time.Duration
	// MaxRetryAfter caps the pause one 429's Retry-After imposes on a
	// remote account (--max-retry-after).
	MaxRetryAfter time.Duration
	// ClusterAccounts serves ClusterAccounts too. Off for a manager
	// confined to namespaces (--watch-namespaces), which may not read
	// cluster-scoped objects.
	ClusterAccounts bool
	// AllowInsecureLoopback lets a baseURL use plain http:// to a loopback
	// host (--allow-insecure-loopback: the simulator, demos, tests).
	AllowInsecureLoopback bool

	// queues are the Account and ClusterAccount controllers' work queues,
	// for the registry's wakes.
	queues sync.Map // bool (cluster-scoped) → workqueue.TypedRateLimitingInterface[reconcile.Request]
}

const (
	// unreachableAfter is how long listing must keep failing before the
	// Account (and so its AgentGroups) reports it: one blip of the brand
	// host does not flip every group.
	unreachableAfter = 2 * time.Minute
	// listRetry is how soon a failed listing is tried again meanwhile.
	listRetry = 5 * time.Second
	// accountStallRetry is how often a stalled Account tries again by itself.
	accountStallRetry = time.Hour
)

// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=accounts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=accounts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=accounts/finalizers,verbs=update
// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=clusteraccounts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=clusteraccounts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=deepcall.agentgroups.dev,resources=clusteraccounts/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one Account's (or, for a key with no namespace, one
// ClusterAccount's) client and status up to date.
func (r *AccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ctx = groupapi.WithCaller(context.WithoutCancel(ctx), kindOf(req.NamespacedName)+" "+req.String())
	acct, obj, err := r.load(ctx, req.NamespacedName)
	if err != nil {
		if apierrors.IsNotFound(err) {
			r.Accounts.Forget(req.NamespacedName)
			metrics.forgetAccount(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if acct.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(obj, accountFinalizer) {
		patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
		controllerutil.AddFinalizer(obj, accountFinalizer)
		if err := r.Patch(ctx, obj, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
		if ca, ok := obj.(*deepcallv1.ClusterAccount); ok { // the view follows its object
			ca.ObjectMeta.DeepCopyInto(&acct.ObjectMeta)
		}
	}

	base := acct.DeepCopy()
	result, err := r.reconcileClient(ctx, obj, acct)
	if !acct.DeletionTimestamp.IsZero() {
		metrics.forgetAccount(req.NamespacedName)
		return r.reconcileDelete(ctx, obj, acct, base)
	}
	if perr := r.patchStatus(ctx, obj, base, acct); perr != nil {
		if apierrors.IsConflict(perr) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		if !apierrors.IsNotFound(perr) {
			return ctrl.Result{}, fmt.Errorf("patch status: %w", perr)
		}
	}
	r.eventOnTransition(obj, base, acct)
	metrics.observeAccount(req.NamespacedName, acct)
	return result, err
}

// kindOf names the kind a registry key belongs to: ClusterAccounts are
// the keys with no namespace.
func kindOf(key types.NamespacedName) string {
	if key.Namespace == "" {
		return deepcallv1.KindClusterAccount
	}
	return deepcallv1.KindAccount
}

// load reads the Account, or the ClusterAccount, of key. acct is what the
// reconciler works on: the Account itself, or a ClusterAccount seen as an
// Account with no namespace (the same spec and status); obj is the stored
// object, which patches and events go to.
func (r *AccountReconciler) load(ctx context.Context, key types.NamespacedName) (acct *deepcallv1.Account, obj client.Object, err error) {
	if key.Namespace != "" {
		acct = &deepcallv1.Account{}
		err = r.Get(ctx, key, acct)
		return acct, acct, err
	}
	ca := &deepcallv1.ClusterAccount{}
	if err := r.Get(ctx, key, ca); err != nil {
		return nil, nil, err
	}
	return &deepcallv1.Account{ObjectMeta: *ca.ObjectMeta.DeepCopy(), Spec: ca.Spec.AccountSpec, Status: *ca.Status.DeepCopy()}, ca, nil
}

// patchStatus writes acct's status to the stored object. The optimistic
// lock refuses a patch computed against a cache that has not seen our
// previous write; without it, a condition changed back to what the cache
// shows would be left out of the patch.
//
// Fields of the stored status this version could not read (a later
// version wrote them) are written anew, or removed: an Account's status
// holds no fact, only what each pass finds.
func (r *AccountReconciler) patchStatus(ctx context.Context, obj client.Object, base, acct *deepcallv1.Account) error {
	target, before := client.Object(acct), client.Object(base)
	if ca, ok := obj.(*deepcallv1.ClusterAccount); ok {
		stored := ca.DeepCopy()
		stored.Status = base.Status
		ca.Status = acct.Status
		target, before = ca, stored
	}
	unreadable := base.Status.Unreadable
	if len(unreadable) == 0 {
		return r.Status().Patch(ctx, target, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	}
	patch, err := rewritingUnreadable(before, target, unreadable)
	if err == nil {
		err = r.Status().Patch(ctx, target, patch)
	}
	if err != nil {
		return err
	}
	r.Recorder.Eventf(target, nil, corev1.EventTypeWarning, deepcallv1.ReasonStatusUnreadable, "Reconcile", "%s", rewrittenStatus(unreadable))
	return nil
}

// secretKey is where the credentials Secret of acct is: its own namespace
// for an Account, the namespace the reference names for a ClusterAccount.
func secretKey(acct *deepcallv1.Account) types.NamespacedName {
	return acct.Spec.CredentialsSecretRef.Key(acct.Namespace)
}

// namingAccount selects the AgentGroups that name acct (an Account or the
// view of a ClusterAccount).
func namingAccount(acct *deepcallv1.Account) client.ListOption {
	return client.MatchingFields{indexGroupByAccount: client.ObjectKeyFromObject(acct).String()}
}

// eventOnTransition emits one event about obj when Ready changes reason.
func (r *AccountReconciler) eventOnTransition(obj client.Object, before, after *deepcallv1.Account) {
	old := meta.FindStatusCondition(before.Status.Conditions, deepcallv1.ConditionReady)
	now := meta.FindStatusCondition(after.Status.Conditions, deepcallv1.ConditionReady)
	if now == nil || (old != nil && old.Reason == now.Reason) {
		return
	}
	typ := corev1.EventTypeWarning
	if now.Status == metav1.ConditionTrue {
		typ = corev1.EventTypeNormal
	}
	r.Recorder.Eventf(obj, nil, typ, now.Reason, "Reconcile", "%s", now.Message)
}

// reconcileClient reads the Secret, (re)builds the client, lists the
// account's groups once per interval, and computes the status.
func (r *AccountReconciler) reconcileClient(ctx context.Context, obj client.Object, acct *deepcallv1.Account) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	key := client.ObjectKeyFromObject(acct)
	refuse := func(reason, msg string) (ctrl.Result, error) {
		r.setReady(acct, reason, msg)
		r.Accounts.Refuse(key, msg)
		return ctrl.Result{RequeueAfter: accountStallRetry}, nil
	}

	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, secretKey(acct), secret); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("get credentials Secret: %w", err)
		}
		return refuse(deepcallv1.ReasonSecretNotFound, fmt.Sprintf("Secret %q not found in namespace %s", secretKey(acct).Name, secretKey(acct).Namespace))
	}
	if acct.DeletionTimestamp.IsZero() && secret.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(secret, secretFinalizer) {
		// Locked to the version read, so that a finalizer another owner
		// adds meanwhile is never overwritten by this list.
		patch := client.MergeFromWithOptions(secret.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(secret, secretFinalizer)
		if err := r.Patch(ctx, secret, patch); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			return ctrl.Result{}, fmt.Errorf("add finalizer to Secret %s: %w", secret.Name, err)
		}
	}
	creds, err := credentialsFrom(secret)
	if err != nil {
		return refuse(deepcallv1.ReasonInvalidCredentials, err.Error())
	}

	opts := groupapi.Options{
		BaseURL:           acct.Spec.BaseURL,
		Credentials:       creds,
		RequestsPerSecond: float64(acct.Spec.RequestsPerSecond),
		Burst:             int(acct.Spec.Burst),
		Timeout:           r.RequestTimeout,
		MaxRetryAfter:     r.MaxRetryAfter,

		AllowInsecureLoopback: r.AllowInsecureLoopback,
		Account:               accountLabel(key),
	}
	// userId credentials name their user; an ssid's user is learnt from
	// the records a listing returns.
	user := creds.UserID
	if user == "" {
		user = r.Accounts.KnownUser(key, opts)
	}
	entry, rebuilt, err := r.Accounts.Ensure(key, opts, user)
	if err != nil {
		if reason, msg, ok := baseURLRefused(err); ok {
			return refuse(reason, msg)
		}
		return refuse(deepcallv1.ReasonInvalidCredentials, err.Error())
	}
	interval := syncInterval(acct)
	last := acct.Status.LastSyncTime
	ready, _, _ := entry.Ready()
	if rebuilt || !ready || last == nil || time.Since(last.Time) >= interval {
		now := metav1.Now()
		groups, err := entry.Client.List(ctx, groupapi.ListOptions{Quick: entry.Remote.ID.Known()})
		if err != nil {
			return r.listFailed(obj, acct, entry, err)
		}
		if u := userOf(groups); !entry.Remote.ID.Known() && u != "" {
			if entry, _, err = r.Accounts.Ensure(key, opts, u); err != nil {
				return ctrl.Result{}, err
			}
			rebuilt = true
		}
		entry.Remote.Observe(groups, now.Time)
		acct.Status.LastSyncTime = &now
		if at := r.Accounts.OldestCheck(key); !at.IsZero() {
			acct.Status.OldestGroupCheck = &metav1.Time{Time: at.Truncate(time.Second)}
		}
		if rebuilt {
			log.Info("Credentials work", "remoteAccount", entry.Remote.ID.String(), "remoteGroups", len(groups))
		}
	}
	r.recordRemoteAccount(ctx, obj, acct, entry)
	if err := r.countGroups(ctx, acct, entry); err != nil {
		return ctrl.Result{}, err
	}
	r.setReady(acct, deepcallv1.ReasonSynced, "credentials work: the account's groups were listed")
	if entry.SetReady(true, "") {
		// The AgentGroups that waited for the Account (or stalled on the
		// client it replaces) go again now, spread at its rate.
		r.Accounts.WakeWaiters(key)
	}
	next := time.Until(acct.Status.LastSyncTime.Add(interval)) + time.Second
	if r.recordPause(obj, acct, entry) {
		next = min(next, time.Until(acct.Status.ThrottledUntil.Time)+time.Second)
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// listFailed decides what a failed listing means. A pause the API asked
// for is not a failure: the Account shows it and comes back after it. A
// terminal answer stalls at once. Anything else keeps the last known state
// until failures persist for unreachableAfter.
func (r *AccountReconciler) listFailed(obj client.Object, acct *deepcallv1.Account, entry *accounts.Entry, err error) (ctrl.Result, error) {
	msg := fmt.Sprintf("list groups: %v", err)
	if until, ok := groupapi.HeldUntil(err); ok {
		r.recordPause(obj, acct, entry)
		return ctrl.Result{RequeueAfter: max(time.Until(until), 0) + time.Second}, nil
	}
	switch {
	case groupapi.IsRedirect(err):
		r.setReady(acct, deepcallv1.ReasonInvalidBaseURL, msg)
	case groupapi.IsPermissionDenied(err):
		r.setReady(acct, deepcallv1.ReasonUnauthorized, msg+" (the API refused the credentials or the permission: fix the Secret)")
	case groupapi.IsTerminal(err):
		r.setReady(acct, deepcallv1.ReasonInvalidCredentials, msg+" (the API refused the request as invalid: check the Secret's userId, token or ssid, and baseURL)")
	default:
		since := entry.ListFailed(time.Now())
		if ready, checked, _ := entry.Ready(); checked && ready && time.Since(since) < unreachableAfter {
			ctrl.Log.WithName("account").Info("Listing failed; keeping the last known state until failures persist",
				"account", kindOf(client.ObjectKeyFromObject(acct))+" "+client.ObjectKeyFromObject(acct).String(), "failingFor", time.Since(since).Round(time.Second).String(), "error", err.Error())
			return ctrl.Result{RequeueAfter: listRetry}, nil
		}
		r.setReady(acct, deepcallv1.ReasonUnreachable, msg)
		r.notReady(acct, entry, msg)
		return ctrl.Result{}, err
	}
	r.notReady(acct, entry, msg)
	return ctrl.Result{RequeueAfter: accountStallRetry}, nil
}

// notReady records why the Account's client does not work; AgentGroups
// that waited for its first check are woken to report it.
func (r *AccountReconciler) notReady(acct *deepcallv1.Account, entry *accounts.Entry, msg string) {
	if entry.SetReady(false, msg) {
		r.Accounts.WakeWaiters(client.ObjectKeyFromObject(acct))
	}
}

// baseURLRefused reports a baseURL the client will not call, with the
// reason and message to show.
func baseURLRefused(err error) (reason, msg string, ok bool) {
	var be *groupapi.BaseURLError
	if !errors.As(err, &be) {
		return "", "", false
	}
	msg = err.Error()
	if be.InsecureLoopback {
		msg = fmt.Sprintf("baseURL %q uses plain http, which the manager calls only when started with --allow-insecure-loopback (for a local simulator, demos and tests): use https://", be.URL)
	}
	return deepcallv1.ReasonInvalidBaseURL, msg, true
}

// setReady sets the Account's Ready condition (with Stalled or
// Reconciling as its reason implies) for the current generation.
func (r *AccountReconciler) setReady(acct *deepcallv1.Account, reason, msg string) {
	setReady(&acct.Status.Conditions, acct.Generation, accountProgress[reason], reason, msg)
	acct.Status.ObservedGeneration = acct.Generation
}

// recordPause shows a Retry-After pause of the remote account on the
// Account, with one Warning when it begins, and reports whether one runs.
func (r *AccountReconciler) recordPause(obj client.Object, acct *deepcallv1.Account, entry *accounts.Entry) bool {
	until := entry.Remote.Budget.PausedUntil()
	if !until.After(time.Now()) {
		acct.Status.ThrottledUntil = nil
		return false
	}
	if was := acct.Status.ThrottledUntil; was == nil || !was.Time.After(time.Now()) {
		r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, deepcallv1.EventThrottled, "Reconcile",
			"the Group API asked remote account %s to pause (429 with Retry-After): none of its AgentGroups calls before %s", entry.Remote.ID.String(), until.UTC().Format(time.RFC3339))
	}
	acct.Status.ThrottledUntil = &metav1.Time{Time: until}
	return true
}

// userOf is the user_id the listed groups carry (ssid credentials).
func userOf(groups []groupapi.Group) string {
	for _, g := range groups {
		if g.UserID != "" {
			return g.UserID
		}
	}
	return ""
}

// recordRemoteAccount reports the remote account the credentials resolve
// to, with a Warning when it is another than before: the AgentGroups bound
// in the old one stop with AccountChanged.
func (r *AccountReconciler) recordRemoteAccount(ctx context.Context, obj client.Object, acct *deepcallv1.Account, entry *accounts.Entry) {
	was, now := acct.Status.RemoteAccount, entry.Remote.ID.String()
	if now == "" || now == was {
		return
	}
	acct.Status.RemoteAccount = now
	if was == "" {
		return
	}
	r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, deepcallv1.EventRemoteAccountChanged, "Reconcile",
		"the credentials now resolve to remote account %s (was %s): AgentGroups bound in %s make no change and report AccountChanged", now, was, was)
	// Every binding of the Account is affected: tell them, spread out.
	var list deepcallv1.AgentGroupList
	if err := r.List(ctx, &list, namingAccount(acct)); err != nil {
		return
	}
	keys := make([]types.NamespacedName, len(list.Items))
	for i := range list.Items {
		keys[i] = client.ObjectKeyFromObject(&list.Items[i])
	}
	r.Accounts.WakeSpread(entry, keys)
}

// countGroups fills managedGroups, unmanagedGroups and the sync budget.
func (r *AccountReconciler) countGroups(ctx context.Context, acct *deepcallv1.Account, entry *accounts.Entry) error {
	var list deepcallv1.AgentGroupList
	// Read-only: the cache's own objects, not thousands of copies per count.
	if err := r.List(ctx, &list, namingAccount(acct), client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("list AgentGroups: %w", err)
	}
	bound := map[string]bool{}
	for i := range list.Items {
		if id := claimedGroupID(&list.Items[i]); id != "" {
			bound[id] = true
		}
	}
	acct.Status.ManagedGroups = int32(len(bound))
	// Groups that AgentGroups of other Accounts on the same remote account
	// manage are not unmanaged either.
	if ra := entry.Remote.ID.String(); ra != "" {
		var others deepcallv1.AgentGroupList
		if err := r.List(ctx, &others, client.MatchingFields{indexGroupByRemoteAccount: ra}, client.UnsafeDisableDeepCopy); err != nil {
			return fmt.Errorf("list AgentGroups by remote account: %w", err)
		}
		for i := range others.Items {
			bound[others.Items[i].Status.GroupID] = true
		}
	}
	unmanaged := 0
	for _, g := range entry.Remote.Groups() {
		if !bound[g.ID] {
			unmanaged++
		}
	}
	acct.Status.UnmanagedGroups = int32(unmanaged)

	// The budget is the remote account's, shared with every Account on it.
	entry.SetGroupCount(len(list.Items))
	groups, rps := r.Accounts.Sharing(entry)
	want := syncInterval(acct)
	effective := accounts.EffectiveInterval(want, groups, rps)
	entry.SetInterval(effective)
	acct.Status.EffectiveSyncInterval = &metav1.Duration{Duration: effective}
	if effective > want {
		setCondition(&acct.Status.Conditions, acct.Generation, deepcallv1.ConditionSyncBudget, metav1.ConditionFalse, deepcallv1.ReasonIntervalStretched,
			fmt.Sprintf("%d groups at %g requests/s cannot each be re-read every %s with %.0f%% of the rate limit; re-reading every %s instead (raise requestsPerSecond or syncInterval)",
				groups, rps, want, accounts.ResyncShare*100, effective))
	} else {
		setCondition(&acct.Status.Conditions, acct.Generation, deepcallv1.ConditionSyncBudget, metav1.ConditionTrue, deepcallv1.ReasonWithinBudget,
			fmt.Sprintf("%d groups are re-read every %s within %.0f%% of the rate limit", groups, want, accounts.ResyncShare*100))
	}
	return nil
}

// reconcileDelete keeps the Account while AgentGroups still need it, then
// releases it (and, once it is gone, the credentials release lets go of
// its Secret).
func (r *AccountReconciler) reconcileDelete(ctx context.Context, obj client.Object, acct *deepcallv1.Account, base *deepcallv1.Account) (ctrl.Result, error) {
	var list deepcallv1.AgentGroupList
	if err := r.List(ctx, &list, namingAccount(acct)); err != nil {
		return ctrl.Result{}, fmt.Errorf("list AgentGroups: %w", err)
	}
	waiting := 0
	for i := range list.Items {
		if controllerutil.ContainsFinalizer(&list.Items[i], agentGroupFinalizer) {
			waiting++
		}
	}
	if waiting > 0 {
		r.setReady(acct, deepcallv1.ReasonDeleting, fmt.Sprintf("waiting for %d AgentGroups to release their remote groups", waiting))
		if err := r.patchStatus(ctx, obj, base, acct); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return ctrl.Result{}, fmt.Errorf("patch status: %w", err)
		}
		// AgentGroup deletions requeue the Account; this is a safety net.
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	}
	r.Accounts.Forget(client.ObjectKeyFromObject(acct))
	if controllerutil.ContainsFinalizer(obj, accountFinalizer) {
		patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
		controllerutil.RemoveFinalizer(obj, accountFinalizer)
		if err := r.Patch(ctx, obj, patch); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	return ctrl.Result{}, nil
}

// credentialsFrom reads the Secret's keys. Errors name keys, never values.
func credentialsFrom(s *corev1.Secret) (groupapi.Credentials, error) {
	return groupapi.CredentialsFromSecret(s.Name, s.Data)
}

func syncInterval(acct *deepcallv1.Account) time.Duration {
	if d := acct.Spec.SyncInterval.Duration; d >= 30*time.Second {
		return d
	}
	return 10 * time.Minute
}

// SetupWithManager watches Accounts (and ClusterAccounts), their Secrets'
// metadata, the AgentGroups that bind, unbind or release them, and the
// pauses of their remote accounts.
func (r *AccountReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := (&credentialsRelease{Client: r.Client, APIReader: r.APIReader, ClusterAccounts: r.ClusterAccounts}).SetupWithManager(mgr); err != nil {
		return err
	}
	r.Accounts.SetAccountWake(func(k types.NamespacedName) {
		if q, ok := r.queues.Load(k.Namespace == ""); ok {
			q.(workqueue.TypedRateLimitingInterface[reconcile.Request]).Add(reconcile.Request{NamespacedName: k})
		}
	})
	if err := r.controllerFor(mgr, &deepcallv1.Account{}, "account", false); err != nil || !r.ClusterAccounts {
		return err
	}
	return r.controllerFor(mgr, &deepcallv1.ClusterAccount{}, "clusteraccount", true)
}

// controllerFor builds the controller of one of the two kinds; each
// enqueues only the keys of its own kind.
func (r *AccountReconciler) controllerFor(mgr ctrl.Manager, kind client.Object, name string, cluster bool) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(kind, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			r.queues.Store(cluster, q)
			return nil
		})).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			reqs, _ := accountsOfSecret(ctx, r.Client, client.ObjectKeyFromObject(o), cluster)
			return reqs
		})).
		Watches(&deepcallv1.AgentGroup{}, recountAccount(countsSettle, cluster), builder.WithPredicates(groupBindingChanged())).
		Named(name).
		Complete(r)
}

// accountsOfSecret lists the Accounts (cluster: the ClusterAccounts) that
// name the Secret.
func accountsOfSecret(ctx context.Context, c client.Reader, secret types.NamespacedName, cluster bool) ([]reconcile.Request, error) {
	var keys []types.NamespacedName
	if cluster {
		var list deepcallv1.ClusterAccountList
		if err := c.List(ctx, &list, client.MatchingFields{indexClusterAccountBySecret: secret.String()}); err != nil {
			return nil, fmt.Errorf("list ClusterAccounts: %w", err)
		}
		for i := range list.Items {
			keys = append(keys, client.ObjectKeyFromObject(&list.Items[i]))
		}
	} else {
		var list deepcallv1.AccountList
		if err := c.List(ctx, &list, client.InNamespace(secret.Namespace), client.MatchingFields{indexAccountBySecret: secret.Name}); err != nil {
			return nil, fmt.Errorf("list Accounts: %w", err)
		}
		for i := range list.Items {
			keys = append(keys, client.ObjectKeyFromObject(&list.Items[i]))
		}
	}
	reqs := make([]reconcile.Request, len(keys))
	for i, k := range keys {
		reqs[i] = reconcile.Request{NamespacedName: k}
	}
	return reqs, nil
}

// countsSettle is how long an Account waits after one of its AgentGroups
// binds, unbinds or goes before it recounts: a burst of thousands then
// costs a few recounts and status writes, not one each.
const countsSettle = 2 * time.Second

// recountAccount enqueues, after delay, the Account of an AgentGroup (and
// its former Account when accountRef changed), when it is of the kind the
// controller serves (cluster: a ClusterAccount).
func recountAccount(delay time.Duration, cluster bool) handler.EventHandler {
	add := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], g client.Object) {
		if key := g.(*deepcallv1.AgentGroup).AccountKey(); (key.Namespace == "") == cluster {
			q.AddAfter(reconcile.Request{NamespacedName: key}, delay)
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q, e.Object)
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q, e.ObjectOld)
			add(q, e.ObjectNew)
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q, e.Object)
		},
	}
}

// groupBindingChanged passes the AgentGroup events that change an Account's
// counts or its deletion: creation, deletion, a new bound id, a released
// finalizer.
func groupBindingChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld.(*deepcallv1.AgentGroup), e.ObjectNew.(*deepcallv1.AgentGroup)
			return claimedGroupID(o) != claimedGroupID(n) ||
				controllerutil.ContainsFinalizer(o, agentGroupFinalizer) != controllerutil.ContainsFinalizer(n, agentGroupFinalizer) ||
				o.AccountKey() != n.AccountKey()
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}
