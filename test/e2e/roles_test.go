//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A platform team gives a team the built-in edit role on its namespace
// and a reader the view role: the team may manage AgentGroups there but
// not Accounts or ClusterAccounts (those choose credentials), the reader
// may only look. The shipped aggregated ClusterRoles make it so.
func TestTenantRolesReachAgentGroupsOnly(t *testing.T) {
	const ns = "e2e-tenant-roles"
	kubectl(t, "", "create", "namespace", ns)
	defer kubectl(t, "", "delete", "namespace", ns, "--wait=false")
	for sa, role := range map[string]string{"team": "edit", "reader": "view"} {
		kubectl(t, "", "-n", ns, "create", "serviceaccount", sa)
		kubectl(t, "", "-n", ns, "create", "rolebinding", sa, "--clusterrole="+role, "--serviceaccount="+ns+":"+sa)
	}
	want := []struct {
		who, verb, resource string
		allowed             bool
	}{
		{"team", "create", "agentgroups.deepcall.agentgroups.dev", true},
		{"team", "delete", "agentgroups.deepcall.agentgroups.dev", true},
		{"team", "create", "accounts.deepcall.agentgroups.dev", false},
		{"team", "update", "accounts.deepcall.agentgroups.dev", false},
		{"team", "create", "clusteraccounts.deepcall.agentgroups.dev", false},
		{"reader", "list", "agentgroups.deepcall.agentgroups.dev", true},
		{"reader", "get", "agentgroups.deepcall.agentgroups.dev", true},
		{"reader", "create", "agentgroups.deepcall.agentgroups.dev", false},
		{"reader", "get", "accounts.deepcall.agentgroups.dev", false},
	}
	// The aggregation controller fills edit and view a moment after the
	// roles are installed.
	eventually(t, 30*time.Second, func() error {
		var wrong []string
		for _, w := range want {
			out, _ := env.Kubectl("", "auth", "can-i", w.verb, w.resource, "-n", ns, "--as=system:serviceaccount:"+ns+":"+w.who)
			if got := strings.TrimSpace(out) == "yes"; got != w.allowed {
				wrong = append(wrong, fmt.Sprintf("%s may %s %s: %v, want %v", w.who, w.verb, w.resource, got, w.allowed))
			}
		}
		if len(wrong) > 0 {
			return fmt.Errorf("%s", strings.Join(wrong, "; "))
		}
		return nil
	})
}
