// Package chart tests the Helm chart charts/agentgroup-operator: it lints,
// renders as the golden files say, matches config/ (one source of truth
// for RBAC and CRDs) and applies to a real API server.
package chart

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentgroups/agentgroup-operator/test/packaging/internal/packagingtest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/ from the chart as it renders now")

// cases are the values files in testdata/values, each rendered, linted
// and compared with testdata/golden/<case>.yaml.
var cases = []string{"defaults", "namespaced", "everything-on", "crds-off"}

func valuesFile(name string) string {
	return filepath.Join("testdata", "values", name+".yaml")
}

func render(t *testing.T, name string, flags ...string) string {
	t.Helper()
	abs, err := filepath.Abs(valuesFile(name))
	if err != nil {
		t.Fatal(err)
	}
	return packagingtest.HelmTemplate(t, append([]string{"-f", abs}, flags...)...)
}

// helm lint, plain and --strict (which fails on warnings too, such as a
// version that is not SemVer 2), with each case's values.
func TestChartLints(t *testing.T) {
	helm := packagingtest.Helm(t)
	for _, name := range cases {
		abs, err := filepath.Abs(valuesFile(name))
		if err != nil {
			t.Fatal(err)
		}
		for _, strict := range []bool{false, true} {
			args := []string{"lint", packagingtest.Chart(), "--namespace", packagingtest.Namespace, "-f", abs}
			if strict {
				args = append(args, "--strict")
			}
			if out, err := packagingtest.RunErr(helm, args...); err != nil {
				t.Errorf("%s: %v", name, err)
			} else if !strings.Contains(out, "0 chart(s) failed") {
				t.Errorf("%s: helm %s:\n%s", name, strings.Join(args, " "), out)
			}
		}
	}
}

// Each case renders exactly as its golden file, but for the CRDs' specs
// (TestChartMatchesConfig compares those with config/crd/bases, so that a
// change of the API does not rewrite every golden file). `go test
// ./chart -update` rewrites them; review the diff.
func TestChartRendersAsGolden(t *testing.T) {
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			got := elideCRDSpecs(render(t, name))
			golden := filepath.Join("testdata", "golden", name+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (write it with -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("the chart renders %s differently from %s (-golden +rendered); if intended, rerun with -update:\n%s", name, golden, diff)
			}
		})
	}
}

const elided = "spec: {} # elided: TestChartMatchesConfig compares it with config/crd/bases"

// elideCRDSpecs keeps each CRD's metadata and drops its spec (the last
// field of a rendered CRD: toYaml sorts the keys).
func elideCRDSpecs(rendered string) string {
	docs := packagingtest.Documents(rendered)
	for i, doc := range docs {
		if !strings.Contains(doc, "\nkind: CustomResourceDefinition\n") {
			continue
		}
		if head, _, ok := strings.Cut(doc, "\nspec:\n"); ok {
			docs[i] = head + "\n" + elided + "\n"
		}
	}
	return strings.Join(docs, "\n---\n")
}
