package plugin

import (
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/resource"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// diffManifest is one AgentGroup of the files a diff reads.
type diffManifest struct {
	group *deepcallv1.AgentGroup
	// source is the file (or STDIN) it came from.
	source string
}

// diffManifests are the AgentGroups of the files, in the order kubectl apply
// would read them, and how many objects of other kinds were ignored.
type diffManifests struct {
	groups  []diffManifest
	ignored int
	// namespaceLabels are the labels of the Namespaces the files hold, by
	// name: applied, they decide which ClusterAccounts lend to them.
	namespaceLabels map[string]map[string]string
}

// readDiffManifests reads the files, directories (their .yaml, .yml and .json
// files; with recursive, their subdirectories' too) and URLs as kubectl
// apply -f does: multi-document YAML, JSON and v1 Lists. "-" is in. An
// AgentGroup without a namespace gets namespace; one with another
// namespace than an explicit -n is refused, as kubectl apply refuses it.
func readDiffManifests(in io.Reader, filenames []string, recursive bool, namespace string, explicit bool) (diffManifests, error) {
	b := resource.NewLocalBuilder().Unstructured().ContinueOnError().Flatten()
	for _, name := range filenames {
		if name == "-" {
			b = b.Stream(in, "STDIN")
			continue
		}
		b = b.FilenameParam(false, &resource.FilenameOptions{Filenames: []string{name}, Recursive: recursive})
	}
	infos, err := b.Do().Infos()
	if err != nil {
		return diffManifests{}, err
	}
	out := diffManifests{namespaceLabels: map[string]map[string]string{}}
	seen := map[types.NamespacedName]string{}
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		gvk := info.Object.GetObjectKind().GroupVersionKind()
		if ok && gvk.Group == "" && gvk.Kind == "Namespace" {
			out.namespaceLabels[u.GetName()] = u.GetLabels()
		}
		if !ok || gvk.Group != deepcallv1.GroupVersion.Group || gvk.Kind != "AgentGroup" {
			out.ignored++
			continue
		}
		g, err := diffAgentGroupOf(u, info.Source)
		if err != nil {
			return diffManifests{}, err
		}
		switch {
		case g.Namespace == "":
			g.Namespace = namespace
		case explicit && g.Namespace != namespace:
			return diffManifests{}, fmt.Errorf("%s: AgentGroup %s is in namespace %s, not in namespace %s that -n asks for", info.Source, g.Name, g.Namespace, namespace)
		}
		key := types.NamespacedName{Namespace: g.Namespace, Name: g.Name}
		if first, dup := seen[key]; dup {
			return diffManifests{}, fmt.Errorf("%s: AgentGroup %s is also in %s: keep one", info.Source, key, first)
		}
		seen[key] = info.Source
		out.groups = append(out.groups, diffManifest{group: g, source: info.Source})
	}
	return out, nil
}

// diffAgentGroupOf converts a manifest to an AgentGroup, refusing what the API
// server would: another version, unknown fields, no name, what the CRD's
// rules refuse (crdViolations), a receiveCall entry that is not a member.
func diffAgentGroupOf(u *unstructured.Unstructured, source string) (*deepcallv1.AgentGroup, error) {
	if v := u.GroupVersionKind().Version; v != deepcallv1.GroupVersion.Version {
		return nil, fmt.Errorf("%s: AgentGroup %s: apiVersion %s is not served; use %s", source, u.GetName(), u.GetAPIVersion(), deepcallv1.GroupVersion)
	}
	g := &deepcallv1.AgentGroup{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, g, true); err != nil {
		return nil, fmt.Errorf("%s: AgentGroup %s: %w", source, u.GetName(), err)
	}
	if g.Name == "" {
		return nil, fmt.Errorf("%s: an AgentGroup has no metadata.name", source)
	}
	if why := crdViolations(g); len(why) > 0 {
		return nil, fmt.Errorf("%s: AgentGroup %s: %s", source, g.Name, strings.Join(why, "; "))
	}
	if err := diffDesired(g).Validate(); err != nil {
		return nil, fmt.Errorf("%s: AgentGroup %s: %w", source, g.Name, err)
	}
	return g, nil
}
