package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// credentialsRelease takes secretFinalizer off a Secret as soon as no
// Account names it any more: its Account was deleted, or now names another
// Secret. It sees Secrets' metadata only. An Account that is being deleted
// still counts as a user: it needs the credentials to delete its groups.
type credentialsRelease struct {
	client.Client
	// APIReader confirms with the API server that nothing names the
	// Secret before it is released.
	APIReader client.Reader
	// ClusterAccounts: ClusterAccounts name Secrets too.
	ClusterAccounts bool
}

func (r *credentialsRelease) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	secret := &metav1.PartialObjectMetadata{}
	secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.Get(ctx, req.NamespacedName, secret); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !controllerutil.ContainsFinalizer(secret, secretFinalizer) {
		return ctrl.Result{}, nil
	}
	if used, err := r.inUse(ctx, req.NamespacedName); err != nil || used {
		return ctrl.Result{}, err
	}
	// Locked to the version read: the patch carries the whole finalizer
	// list, so it must not land on a list another owner changed meanwhile.
	patch := client.MergeFromWithOptions(secret.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(secret, secretFinalizer)
	if err := r.Patch(ctx, secret, patch); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctrl.LoggerFrom(ctx).Info("Released the credentials Secret: no Account uses it")
	return ctrl.Result{}, nil
}

// inUse reports whether an Account or ClusterAccount names the Secret.
// The cache answers when it shows one. When it shows none, the API server
// has the last word: a cache filtered by --watch-label-selector does not
// hold other shards' Accounts, which may name the Secret too, and two
// managers would otherwise take the finalizer off and put it back in turn.
func (r *credentialsRelease) inUse(ctx context.Context, secret types.NamespacedName) (bool, error) {
	for _, cluster := range []bool{false, true} {
		if cluster && !r.ClusterAccounts {
			break
		}
		users, err := accountsOfSecret(ctx, r.Client, secret, cluster)
		if err != nil || len(users) > 0 {
			return len(users) > 0, err
		}
	}
	var accounts deepcallv1.AccountList
	if err := r.APIReader.List(ctx, &accounts, client.InNamespace(secret.Namespace)); err != nil {
		return false, fmt.Errorf("list Accounts: %w", err)
	}
	for i := range accounts.Items {
		if secretKey(&accounts.Items[i]) == secret {
			return true, nil
		}
	}
	if !r.ClusterAccounts {
		return false, nil
	}
	var lenders deepcallv1.ClusterAccountList
	if err := r.APIReader.List(ctx, &lenders); err != nil {
		return false, fmt.Errorf("list ClusterAccounts: %w", err)
	}
	for i := range lenders.Items {
		if lenders.Items[i].Spec.CredentialsSecretRef.Key("") == secret {
			return true, nil
		}
	}
	return false, nil
}

// SetupWithManager watches the Secrets that hold the finalizer and the
// Accounts that stop naming them.
func (r *credentialsRelease) SetupWithManager(mgr ctrl.Manager) error {
	holds := predicate.NewPredicateFuncs(func(o client.Object) bool { return controllerutil.ContainsFinalizer(o, secretFinalizer) })
	b := ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Secret{}, builder.OnlyMetadata, builder.WithPredicates(holds)).
		Watches(&deepcallv1.Account{}, secretsNamedBy(func(o client.Object) types.NamespacedName {
			return secretKey(o.(*deepcallv1.Account))
		}))
	if r.ClusterAccounts {
		b = b.Watches(&deepcallv1.ClusterAccount{}, secretsNamedBy(func(o client.Object) types.NamespacedName {
			return o.(*deepcallv1.ClusterAccount).Spec.CredentialsSecretRef.Key("")
		}))
	}
	return b.Named("credentials-release").Complete(r)
}

// secretsNamedBy enqueues the Secret an Account (or ClusterAccount) names,
// as secret finds it, when the account goes or names another Secret.
func secretsNamedBy(secret func(client.Object) types.NamespacedName) handler.EventHandler {
	add := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], o client.Object) {
		q.Add(reconcile.Request{NamespacedName: secret(o)})
	}
	return handler.Funcs{
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if secret(e.ObjectOld) != secret(e.ObjectNew) {
				add(q, e.ObjectOld)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q, e.Object)
		},
	}
}
