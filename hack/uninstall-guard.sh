#!/usr/bin/env bash
# Guards `make uninstall` and `make undeploy`: removing the CRDs deletes
# every AgentGroup, and while the operator runs, each one whose
# deletionPolicy is Delete (or unset, the default unless the manager runs
# with --default-deletion-policy=Orphan) deletes its remote group on the
# way out. Lists them and stops unless YES=1.
set -euo pipefail
kubectl=${KUBECTL:-kubectl}

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
if ! rows=$("$kubectl" get agentgroups.deepcall.agentgroups.dev -A --ignore-not-found \
	-o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name} {.spec.deletionPolicy}/{.spec.managementPolicy}/{.spec.suspend}{"\n"}{end}' 2>"$errors"); then
	case "$(cat "$errors")" in
	*"doesn't have a resource type"*) exit 0 ;; # no CRD: nothing to lose
	esac
	cat "$errors" >&2
	exit 1
fi
# Observe and suspended AgentGroups never delete; Orphan ones keep theirs.
deleting=$(awk 'NF && $2 !~ /^Orphan\// && $2 !~ /\/Observe\// && $2 !~ /\/true$/ {print "  " $1}' <<<"$rows")
[ -z "$deleting" ] && exit 0
n=$(wc -l <<<"$deleting")
cat >&2 <<MSG
WARNING: $n AgentGroup(s) would delete their remote DeepCall group if the
operator is running while the CRDs go (deletionPolicy Delete, or unset and
the manager's --default-deletion-policy Delete):
$deleting
To keep the remote groups, set deletionPolicy: Orphan on them first
(docs/operations.md, "Uninstall"). To go ahead anyway: YES=1 make $1
MSG
[ "${YES:-}" = 1 ] && { echo "YES=1: going ahead" >&2; exit 0; }
exit 1
