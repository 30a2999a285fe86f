package controllers

import (
	"context"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// Field indexes, so that finding the AgentGroups of an Account, the holders
// of a name or of a remote id, and the Accounts of a Secret never scans.
const (
	indexGroupByAccount  = "agentgroup.account"
	indexGroupByName     = "agentgroup.nameKey"
	indexGroupByGroupID  = "agentgroup.groupIdKey"
	indexAccountBySecret = "account.secret"
)

// nameKey is the (Account, name) pair two AgentGroups must not share; names
// compare case-insensitively, as the API treats them.
func nameKey(account, name string) string { return account + "/" + strings.ToLower(name) }

// groupIDKey is the (Account, remote id) pair one AgentGroup at most binds.
func groupIDKey(account, id string) string { return account + "/" + id }

// boundGroupID is the remote id the AgentGroup is bound to, if any.
func boundGroupID(g *deepcallv1.AgentGroup) string {
	if g.Spec.GroupID != "" {
		return g.Spec.GroupID
	}
	return g.Status.GroupID
}

// SetupIndexes registers the field indexes the reconcilers use.
func SetupIndexes(ctx context.Context, mgr manager.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &deepcallv1.AgentGroup{}, indexGroupByAccount, func(o client.Object) []string {
		return []string{o.(*deepcallv1.AgentGroup).AccountName()}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &deepcallv1.AgentGroup{}, indexGroupByName, func(o client.Object) []string {
		g := o.(*deepcallv1.AgentGroup)
		return []string{nameKey(g.AccountName(), g.DesiredName())}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &deepcallv1.AgentGroup{}, indexGroupByGroupID, func(o client.Object) []string {
		g := o.(*deepcallv1.AgentGroup)
		if id := boundGroupID(g); id != "" {
			return []string{groupIDKey(g.AccountName(), id)}
		}
		return nil
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &deepcallv1.Account{}, indexAccountBySecret, func(o client.Object) []string {
		return []string{o.(*deepcallv1.Account).Spec.CredentialsSecretRef.Name}
	})
}
