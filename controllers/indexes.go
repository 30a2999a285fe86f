package controllers

import (
	"context"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/plan"
)

// Field indexes, so that finding the AgentGroups of an Account, the
// claimants of a name or of a remote id, and the Accounts of a Secret never
// scans. Names and ids are indexed across namespaces: Accounts in several
// namespaces may resolve to one remote account.
const (
	indexGroupByAccount       = "agentgroup.account"
	indexGroupByName          = "agentgroup.name"
	indexGroupByGroupID       = "agentgroup.groupId"
	indexGroupByRemoteAccount = "agentgroup.remoteAccount"
	indexAccountBySecret      = "account.secret"
	// indexClusterAccountBySecret holds the Secret's namespace/name.
	indexClusterAccountBySecret = "clusteraccount.secret"
)

// nameKey is a group name as the API compares names: case-insensitively.
func nameKey(name string) string { return strings.ToLower(name) }

// claimedGroupID is the remote id the AgentGroup holds or asks for: the
// bound one (status), else the one spec.groupId names.
func claimedGroupID(g *deepcallv1.AgentGroup) string {
	return plan.ClaimedID(g.Status.GroupID, g.Spec.GroupID)
}

// SetupIndexes registers the field indexes the reconcilers use
// (clusterAccounts: those of ClusterAccounts too).
func SetupIndexes(ctx context.Context, mgr manager.Manager, clusterAccounts bool) error {
	idx := mgr.GetFieldIndexer()
	for _, f := range []struct {
		field string
		value func(*deepcallv1.AgentGroup) string
	}{
		{indexGroupByAccount, func(g *deepcallv1.AgentGroup) string { return g.AccountKey().String() }},
		{indexGroupByName, func(g *deepcallv1.AgentGroup) string { return nameKey(g.DesiredName()) }},
		{indexGroupByGroupID, claimedGroupID},
		{indexGroupByRemoteAccount, func(g *deepcallv1.AgentGroup) string { return g.Status.RemoteAccount }},
	} {
		if err := idx.IndexField(ctx, &deepcallv1.AgentGroup{}, f.field, func(o client.Object) []string {
			if v := f.value(o.(*deepcallv1.AgentGroup)); v != "" {
				return []string{v}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := idx.IndexField(ctx, &deepcallv1.Account{}, indexAccountBySecret, func(o client.Object) []string {
		return []string{o.(*deepcallv1.Account).Spec.CredentialsSecretRef.Name}
	}); err != nil {
		return err
	}
	if !clusterAccounts {
		return nil
	}
	return idx.IndexField(ctx, &deepcallv1.ClusterAccount{}, indexClusterAccountBySecret, func(o client.Object) []string {
		return []string{o.(*deepcallv1.ClusterAccount).Spec.CredentialsSecretRef.Key("").String()}
	})
}
