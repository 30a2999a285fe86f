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
	var users deepcallv1.AccountList
	if err := r.List(ctx, &users, client.InNamespace(req.Namespace), client.MatchingFields{indexAccountBySecret: req.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("list Accounts: %w", err)
	}
	if len(users.Items) > 0 {
		return ctrl.Result{}, nil
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

// SetupWithManager watches the Secrets that hold the finalizer and the
// Accounts that stop naming them.
func (r *credentialsRelease) SetupWithManager(mgr ctrl.Manager) error {
	holds := predicate.NewPredicateFuncs(func(o client.Object) bool { return controllerutil.ContainsFinalizer(o, secretFinalizer) })
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Secret{}, builder.OnlyMetadata, builder.WithPredicates(holds)).
		Watches(&deepcallv1.Account{}, secretsNamedBy()).
		Named("credentials-release").
		Complete(r)
}

// secretsNamedBy enqueues the Secret an Account names when the Account
// goes or changes its reference (then the one it named before, too).
func secretsNamedBy() handler.EventHandler {
	add := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], o client.Object) {
		a := o.(*deepcallv1.Account)
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: a.Namespace, Name: a.Spec.CredentialsSecretRef.Name}})
	}
	return handler.Funcs{
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			o, n := e.ObjectOld.(*deepcallv1.Account), e.ObjectNew.(*deepcallv1.Account)
			if o.Spec.CredentialsSecretRef != n.Spec.CredentialsSecretRef {
				add(q, o)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q, e.Object)
		},
	}
}
