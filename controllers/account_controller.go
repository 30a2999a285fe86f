package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
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
	Recorder events.EventRecorder
	Accounts *accounts.Registry
	// RequestTimeout bounds each Group API request.
	RequestTimeout time.Duration
	// MaxRetryAfter caps the pause one 429's Retry-After imposes on a
	// remote account (--max-retry-after).
	MaxRetryAfter time.Duration
	// AllowInsecureLoopback lets a baseURL use plain http:// to a loopback
	// host (--allow-insecure-loopback: the simulator, demos, tests).
	AllowInsecureLoopback bool
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
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one Account's client and status up to date.
func (r *AccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ctx = groupapi.WithCaller(context.WithoutCancel(ctx), "Account "+req.String())
	acct := &deepcallv1.Account{}
	if err := r.Get(ctx, req.NamespacedName, acct); err != nil {
		if apierrors.IsNotFound(err) {
			r.Accounts.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if acct.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(acct, accountFinalizer) {
		patch := client.MergeFrom(acct.DeepCopy())
		controllerutil.AddFinalizer(acct, accountFinalizer)
		if err := r.Patch(ctx, acct, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	base := acct.DeepCopy()
	result, err := r.reconcileClient(ctx, acct)
	if !acct.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, acct, base)
	}
	// The optimistic lock refuses a patch computed against a cache that
	// has not seen our previous write; without it, a condition changed back
	// to what the cache shows would be left out of the patch.
	if perr := r.Status().Patch(ctx, acct, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); perr != nil {
		if apierrors.IsConflict(perr) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		if !apierrors.IsNotFound(perr) {
			return ctrl.Result{}, fmt.Errorf("patch status: %w", perr)
		}
	}
	r.eventOnTransition(base, acct)
	return result, err
}

// eventOnTransition emits one event when Ready changes reason.
func (r *AccountReconciler) eventOnTransition(before, after *deepcallv1.Account) {
	old := meta.FindStatusCondition(before.Status.Conditions, deepcallv1.ConditionReady)
	now := meta.FindStatusCondition(after.Status.Conditions, deepcallv1.ConditionReady)
	if now == nil || (old != nil && old.Reason == now.Reason) {
		return
	}
	typ := corev1.EventTypeWarning
	if now.Status == metav1.ConditionTrue {
		typ = corev1.EventTypeNormal
	}
	r.Recorder.Eventf(after, nil, typ, now.Reason, "Reconcile", "%s", now.Message)
}

// reconcileClient reads the Secret, (re)builds the client, lists the
// account's groups once per interval, and computes the status.
func (r *AccountReconciler) reconcileClient(ctx context.Context, acct *deepcallv1.Account) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	key := client.ObjectKeyFromObject(acct)
	refuse := func(reason, msg string) (ctrl.Result, error) {
		r.setReady(acct, reason, msg)
		r.Accounts.Refuse(key, msg)
		return ctrl.Result{RequeueAfter: accountStallRetry}, nil
	}

	secret := &corev1.Secret{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: acct.Namespace, Name: acct.Spec.CredentialsSecretRef.Name}, secret); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("get credentials Secret: %w", err)
		}
		return refuse(deepcallv1.ReasonSecretNotFound, fmt.Sprintf("Secret %q not found in namespace %s", acct.Spec.CredentialsSecretRef.Name, acct.Namespace))
	}
	if acct.DeletionTimestamp.IsZero() && secret.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(secret, secretFinalizer) {
		patch := client.MergeFrom(secret.DeepCopy())
		controllerutil.AddFinalizer(secret, secretFinalizer)
		if err := r.Patch(ctx, secret, patch); err != nil {
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
		Account:               key.String(),
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
			return r.listFailed(acct, entry, err)
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
	r.recordRemoteAccount(ctx, acct, entry)
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
	if r.recordPause(acct, entry) {
		next = min(next, time.Until(acct.Status.ThrottledUntil.Time)+time.Second)
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// listFailed decides what a failed listing means. A pause the API asked
// for is not a failure: the Account shows it and comes back after it. A
// terminal answer stalls at once. Anything else keeps the last known state
// until failures persist for unreachableAfter.
func (r *AccountReconciler) listFailed(acct *deepcallv1.Account, entry *accounts.Entry, err error) (ctrl.Result, error) {
	msg := fmt.Sprintf("list groups: %v", err)
	if until, ok := groupapi.HeldUntil(err); ok {
		r.recordPause(acct, entry)
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
				"account", client.ObjectKeyFromObject(acct).String(), "failingFor", time.Since(since).Round(time.Second).String(), "error", err.Error())
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
func (r *AccountReconciler) recordPause(acct *deepcallv1.Account, entry *accounts.Entry) bool {
	until := entry.Remote.Budget.PausedUntil()
	if !until.After(time.Now()) {
		acct.Status.ThrottledUntil = nil
		return false
	}
	if was := acct.Status.ThrottledUntil; was == nil || !was.Time.After(time.Now()) {
		r.Recorder.Eventf(acct, nil, corev1.EventTypeWarning, deepcallv1.EventThrottled, "Reconcile",
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
func (r *AccountReconciler) recordRemoteAccount(ctx context.Context, acct *deepcallv1.Account, entry *accounts.Entry) {
	was, now := acct.Status.RemoteAccount, entry.Remote.ID.String()
	if now == "" || now == was {
		return
	}
	acct.Status.RemoteAccount = now
	if was == "" {
		return
	}
	r.Recorder.Eventf(acct, nil, corev1.EventTypeWarning, deepcallv1.EventRemoteAccountChanged, "Reconcile",
		"the credentials now resolve to remote account %s (was %s): AgentGroups bound in %s make no change and report AccountChanged", now, was, was)
	// Every binding of the Account is affected: tell them, spread out.
	var list deepcallv1.AgentGroupList
	if err := r.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{indexGroupByAccount: acct.Name}); err != nil {
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
	if err := r.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{indexGroupByAccount: acct.Name}, client.UnsafeDisableDeepCopy); err != nil {
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
// releases the Secret and the Account.
func (r *AccountReconciler) reconcileDelete(ctx context.Context, acct *deepcallv1.Account, base *deepcallv1.Account) (ctrl.Result, error) {
	var list deepcallv1.AgentGroupList
	if err := r.List(ctx, &list, client.InNamespace(acct.Namespace), client.MatchingFields{indexGroupByAccount: acct.Name}); err != nil {
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
		if err := r.Status().Patch(ctx, acct, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("patch status: %w", err)
		}
		// AgentGroup deletions requeue the Account; this is a safety net.
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	}
	if err := r.releaseSecret(ctx, acct); err != nil {
		return ctrl.Result{}, err
	}
	r.Accounts.Forget(client.ObjectKeyFromObject(acct))
	if controllerutil.ContainsFinalizer(acct, accountFinalizer) {
		patch := client.MergeFrom(acct.DeepCopy())
		controllerutil.RemoveFinalizer(acct, accountFinalizer)
		if err := r.Patch(ctx, acct, patch); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	return ctrl.Result{}, nil
}

// releaseSecret removes the Secret's finalizer unless another live Account
// still uses it.
func (r *AccountReconciler) releaseSecret(ctx context.Context, acct *deepcallv1.Account) error {
	var users deepcallv1.AccountList
	if err := r.List(ctx, &users, client.InNamespace(acct.Namespace), client.MatchingFields{indexAccountBySecret: acct.Spec.CredentialsSecretRef.Name}); err != nil {
		return fmt.Errorf("list Accounts: %w", err)
	}
	for i := range users.Items {
		if users.Items[i].Name != acct.Name && users.Items[i].DeletionTimestamp.IsZero() {
			return nil
		}
	}
	secret := &corev1.Secret{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: acct.Namespace, Name: acct.Spec.CredentialsSecretRef.Name}, secret); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !controllerutil.ContainsFinalizer(secret, secretFinalizer) {
		return nil
	}
	patch := client.MergeFrom(secret.DeepCopy())
	controllerutil.RemoveFinalizer(secret, secretFinalizer)
	if err := r.Patch(ctx, secret, patch); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}

// credentialsFrom reads the Secret's keys. Errors name keys, never values.
func credentialsFrom(s *corev1.Secret) (groupapi.Credentials, error) {
	c := groupapi.Credentials{SSID: string(s.Data["ssid"]), UserID: string(s.Data["userId"]), Token: string(s.Data["token"])}
	if err := c.Validate(); err != nil {
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return groupapi.Credentials{}, fmt.Errorf("Secret %s must hold either the key ssid, or the keys userId and token (non-empty); it holds [%s]", s.Name, strings.Join(keys, ", "))
	}
	return c, nil
}

func syncInterval(acct *deepcallv1.Account) time.Duration {
	if d := acct.Spec.SyncInterval.Duration; d >= 30*time.Second {
		return d
	}
	return 10 * time.Minute
}

// SetupWithManager watches Accounts, their Secrets, the AgentGroups that
// bind, unbind or release them, and the pauses of their remote accounts.
func (r *AccountReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&deepcallv1.Account{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			r.Accounts.SetAccountWake(func(k types.NamespacedName) { q.Add(reconcile.Request{NamespacedName: k}) })
			return nil
		})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.accountsOfSecret)).
		Watches(&deepcallv1.AgentGroup{}, recountAccount(countsSettle), builder.WithPredicates(groupBindingChanged())).
		Named("account").
		Complete(r)
}

func (r *AccountReconciler) accountsOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list deepcallv1.AccountList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexAccountBySecret: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// countsSettle is how long an Account waits after one of its AgentGroups
// binds, unbinds or goes before it recounts: a burst of thousands then
// costs a few recounts and status writes, not one each.
const countsSettle = 2 * time.Second

// recountAccount enqueues, after delay, the Account of an AgentGroup (and
// its former Account when accountRef changed).
func recountAccount(delay time.Duration) handler.EventHandler {
	add := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], g client.Object) {
		q.AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: g.GetNamespace(), Name: g.(*deepcallv1.AgentGroup).AccountName()}}, delay)
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
				o.AccountName() != n.AccountName()
		},
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}
