package controllers

import (
	"context"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// namespaceAllowed reports whether the ClusterAccount lends its
// credentials to namespace ns (ClusterAccount.AllowsNamespace on the
// namespace's labels); why says why not.
func (r *AgentGroupReconciler) namespaceAllowed(ctx context.Context, ca *deepcallv1.ClusterAccount, ns string) (allowed bool, why string, err error) {
	n := &corev1.Namespace{}
	if err := r.Get(ctx, types.NamespacedName{Name: ns}, n); err != nil {
		return false, "", err
	}
	allowed, why = ca.AllowsNamespace(n.Labels)
	return allowed, why, nil
}

// mayUse reports whether g may use the account it names: always for an
// Account; for a ClusterAccount when it exists and lends to g's namespace.
func (r *AgentGroupReconciler) mayUse(ctx context.Context, g *deepcallv1.AgentGroup) bool {
	if !g.UsesClusterAccount() {
		return true
	}
	ca := &deepcallv1.ClusterAccount{}
	if !r.ClusterAccounts || r.Get(ctx, g.AccountKey(), ca) != nil {
		return false
	}
	ok, _, _ := r.namespaceAllowed(ctx, ca, g.Namespace)
	return ok
}

// watchClusterAccountGrants makes the AgentGroups that use a ClusterAccount
// look again when what decides AccountNotAllowed changes: the
// ClusterAccount's allowedNamespaces, or the labels of their namespace.
func (r *AgentGroupReconciler) watchClusterAccountGrants(b *builder.Builder) *builder.Builder {
	selectorChanged := predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false }, // waiters are woken by the registry
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !reflect.DeepEqual(e.ObjectOld.(*deepcallv1.ClusterAccount).Spec.AllowedNamespaces, e.ObjectNew.(*deepcallv1.ClusterAccount).Spec.AllowedNamespaces)
		},
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	labelsChanged := predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !reflect.DeepEqual(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
		},
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return b.
		Watches(&deepcallv1.ClusterAccount{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.requestsFor(ctx, nil, client.MatchingFields{indexGroupByAccount: client.ObjectKeyFromObject(o).String()})
		}), builder.WithPredicates(selectorChanged)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.requestsFor(ctx, (*deepcallv1.AgentGroup).UsesClusterAccount, client.InNamespace(o.GetName()))
		}), builder.WithPredicates(labelsChanged))
}

// requestsFor lists the AgentGroups that opts select (and keep, when set,
// accepts) as requests.
func (r *AgentGroupReconciler) requestsFor(ctx context.Context, keep func(*deepcallv1.AgentGroup) bool, opts ...client.ListOption) []reconcile.Request {
	var list deepcallv1.AgentGroupList
	if err := r.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if keep == nil || keep(&list.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}
