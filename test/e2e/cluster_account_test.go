//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"
)

// A platform team lends one DeepCall account to the namespaces it labels,
// with a ClusterAccount whose Secret sits in its own namespace, and the
// manager runs as its ServiceAccount with the shipped RBAC: a labelled
// namespace's group is created, an unlabelled one's gets AccountNotAllowed
// and nothing remote, and retiring the ClusterAccount frees its Secret.
func TestClusterAccountAsTheServiceAccount(t *testing.T) {
	const user = "20011"
	mgr := startManager(t)
	defer mgr.Stop()
	kubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: e2e-platform}
---
apiVersion: v1
kind: Secret
metadata: {name: lent-credentials, namespace: e2e-platform}
stringData: {userId: "%[1]s", token: "%[2]s"}
---
apiVersion: v1
kind: Namespace
metadata: {name: e2e-lent, labels: {e2e.deepcall.example/tenant: "yes"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: e2e-unlent}
---
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: ClusterAccount
metadata: {name: e2e-shared}
spec:
  baseURL: http://%[3]s
  credentialsSecretRef: {namespace: e2e-platform, name: lent-credentials}
  allowedNamespaces: {matchLabels: {e2e.deepcall.example/tenant: "yes"}}
`, user, users[user], simAddr), "apply", "-f", "-")
	for _, ns := range []string{"e2e-lent", "e2e-unlent"} {
		kubectl(t, `apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata: {name: desk, namespace: `+ns+`}
spec:
  accountRef: {kind: ClusterAccount, name: e2e-shared}
  groupName: Desk `+ns+`
  members: ["1001"]
`, "apply", "-f", "-")
	}
	eventually(t, 60*time.Second, func() error {
		lent, unlent := agentGroups(t, "e2e-lent"), agentGroups(t, "e2e-unlent")
		if len(lent) != 1 || !lent[0].ready() {
			return fmt.Errorf("e2e-lent/desk not Ready: %+v", lent)
		}
		if len(unlent) != 1 || reasonOf(unlent[0]) != "AccountNotAllowed" {
			return fmt.Errorf("e2e-unlent/desk: %+v, want AccountNotAllowed", unlent)
		}
		return nil
	})
	groups, _ := remote(t)
	if len(groups[user]) != 1 || groups[user][0].Name != "Desk e2e-lent" {
		t.Errorf("remote groups of %s: %+v, want only the lent namespace's", user, groups[user])
	}
	if got := kubectl(t, "", "get", "clusteraccount", "e2e-shared", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`); got != "Synced" {
		t.Errorf("ClusterAccount Ready reason %q, want Synced", got)
	}

	kubectl(t, "", "delete", "agentgroup", "desk", "-n", "e2e-lent", "--timeout=60s")
	kubectl(t, "", "delete", "agentgroup", "desk", "-n", "e2e-unlent", "--timeout=60s")
	kubectl(t, "", "delete", "clusteraccount", "e2e-shared", "--timeout=60s")
	eventually(t, 30*time.Second, func() error {
		if f := kubectl(t, "", "get", "secret", "lent-credentials", "-n", "e2e-platform", "-o", "jsonpath={.metadata.finalizers}"); f != "" {
			return fmt.Errorf("the retired ClusterAccount's Secret still has finalizers %s", f)
		}
		return nil
	})
	if groups, _ := remote(t); len(groups[user]) != 0 {
		t.Errorf("remote groups of %s left: %+v", user, groups[user])
	}
	kubectl(t, "", "delete", "namespace", "e2e-platform", "e2e-lent", "e2e-unlent", "--wait=false")
}

func reasonOf(g agentGroup) string {
	for _, c := range g.Status.Conditions {
		if c.Type == "Ready" {
			return c.Reason
		}
	}
	return ""
}
