package packaging

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/agentgroups/agentgroup-operator/test/packaging/internal/packagingtest"
)

// yamlBlock is a fenced YAML example of a Markdown file.
var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestOperationsExamplesApply: every Kubernetes object docs/operations.md
// shows (the Argo CD Application, Flux's OCIRepository and HelmRelease)
// passes a server-side dry-run on a kube-apiserver serving those tools'
// CRDs, so a person who copies one gets an object the API server takes,
// not a schema error. Each example's kind must be one the test knows, so
// a new example cannot go untested.
func TestOperationsExamplesApply(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(packagingtest.Root(), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	cp := packagingtest.StartControlPlaneWithCRDs(t, packagingtest.ThirdPartyCRDs(t))
	for _, ns := range []string{"argocd", "flux-system"} {
		if out, err := cp.Kubectl("", "create", "namespace", ns); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	var kinds []string
	for _, m := range yamlBlock.FindAllStringSubmatch(string(doc), -1) {
		block := m[1]
		var objs []string
		for _, o := range packagingtest.Objects(t, block) {
			if o.GetKind() != "" { // a kustomization.yaml is not an object
				objs = append(objs, o.GetKind())
			}
		}
		if len(objs) == 0 {
			continue
		}
		kinds = append(kinds, objs...)
		if out, err := cp.Kubectl(block, "apply", "--server-side", "--dry-run=server", "-f", "-"); err != nil {
			t.Errorf("an example of docs/operations.md does not apply: %v\n%s", err, block)
		} else {
			t.Logf("%s", out)
		}
	}
	slices.Sort(kinds)
	if want := []string{"Application", "HelmRelease", "OCIRepository"}; !slices.Equal(kinds, want) {
		t.Errorf("docs/operations.md shows objects %v, want %v: a new example needs its CRD here (make thirdparty-crds) and in this list", kinds, want)
	}
}
