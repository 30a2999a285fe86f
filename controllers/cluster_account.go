package controllers

import (
	"context"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
// credentials to namespace ns: its allowedNamespaces selects the
// namespace's labels (absent: none, empty: all).
func (r *AgentGroupReconciler) namespaceAllowed(ctx context.Context, ca *deepcallv1.ClusterAccount, ns string) (bool, error) {
	if ca.Spec.AllowedNamespaces == nil {
		return false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ca.Spec.AllowedNamespaces)
	if err != nil {
		return false, nil // a selector the API server let through but that selects nothing sensible
	}
	n := &corev1.Namespace{}
	if err := r.Get(ctx, types.NamespacedName{Name: ns}, n); err != nil {
		return false, err
	}
	return sel.Matches(labels.Set(n.Labels)), nil
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
			return r.groupsOf(ctx, nil, client.MatchingFields{indexGroupByAccount: client.ObjectKeyFromObject(o).String()})
		}), builder.WithPredicates(selectorChanged)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return r.groupsOf(ctx, (*deepcallv1.AgentGroup).UsesClusterAccount, client.InNamespace(o.GetName()))
		}), builder.WithPredicates(labelsChanged))
}

// groupsOf lists the AgentGroups that opts select (and keep, when set,
// accepts) as requests.
func (r *AgentGroupReconciler) groupsOf(ctx context.Context, keep func(*deepcallv1.AgentGroup) bool, opts ...client.ListOption) []reconcile.Request {
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
