// Command thirdparty-crds writes the CRDs of the other projects' kinds that
// this project ships manifests for (Prometheus Operator's ServiceMonitor and
// PrometheusRule, Argo CD's Application, Flux's HelmRelease and its sources)
// into one directory, so that tests can install them on a local API server
// and server-side dry-run those manifests: `make thirdparty-crds` writes
// bin/crds.
//
// Versions: go.mod pins the Go API modules, whose CRDs controller-gen
// generates from their markers as those projects do; argoCD below pins the
// Argo CD release, whose module is only downloaded (it cannot be a
// dependency: it needs k8s.io/kubernetes' staging replaces), for the CRDs
// it ships as YAML.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// generated are the API packages controller-gen reads, and the files of
// the CRDs kept from each (controller-gen names them <group>_<plural>.yaml).
var generated = []struct {
	pkg   string
	files []string
}{
	{"github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1",
		[]string{"monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"}},
	{"github.com/fluxcd/helm-controller/api/v2",
		[]string{"helm.toolkit.fluxcd.io_helmreleases.yaml"}},
	{"github.com/fluxcd/source-controller/api/v1",
		[]string{"source.toolkit.fluxcd.io_helmrepositories.yaml", "source.toolkit.fluxcd.io_ocirepositories.yaml", "source.toolkit.fluxcd.io_gitrepositories.yaml"}},
	{"github.com/fluxcd/kustomize-controller/api/v1",
		[]string{"kustomize.toolkit.fluxcd.io_kustomizations.yaml"}},
}

// argoCD is the Argo CD release whose shipped CRDs are copied, by their
// path in its module and the name written.
var argoCD = struct {
	module, version string
	files           map[string]string
}{
	module:  "github.com/argoproj/argo-cd/v3",
	version: "v3.5.7", // v3.6 needs Go 1.27
	files: map[string]string{
		"manifests/crds/application-crd.yaml": "argoproj.io_applications.yaml",
		"manifests/crds/appproject-crd.yaml":  "argoproj.io_appprojects.yaml",
	},
}

func main() {
	controllerGen := flag.String("controller-gen", "controller-gen", "the controller-gen binary")
	out := flag.String("out", "", "directory to write the CRDs to (its YAML files are replaced)")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	if err := run(*controllerGen, *out); err != nil {
		log.Fatal(err)
	}
}

func run(controllerGen, out string) error {
	tmp, err := os.MkdirTemp("", "thirdparty-crds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	crds := map[string][]byte{} // file name -> content
	var sources []string
	for i, g := range generated {
		dir := filepath.Join(tmp, fmt.Sprint(i))
		// maxDescLen=0: the descriptions are most of these CRDs' size and
		// no dry-run needs them.
		cmd := exec.Command(controllerGen, "crd:maxDescLen=0", "paths="+g.pkg, "output:crd:dir="+dir)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("controller-gen for %s: %w\n%s", g.pkg, err, b)
		}
		for _, f := range g.files {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return fmt.Errorf("controller-gen wrote no %s for %s: %w", f, g.pkg, err)
			}
			crds[f] = b
		}
		v, err := moduleVersion(g.pkg)
		if err != nil {
			return err
		}
		sources = append(sources, fmt.Sprintf("%s %s: %s", g.pkg, v, strings.Join(g.files, " ")))
	}

	dir, err := download(tmp, argoCD.module, argoCD.version)
	if err != nil {
		return err
	}
	var names []string
	for _, from := range slices.Sorted(maps.Keys(argoCD.files)) {
		b, err := os.ReadFile(filepath.Join(dir, from))
		if err != nil {
			return fmt.Errorf("%s@%s: %w", argoCD.module, argoCD.version, err)
		}
		crds[argoCD.files[from]] = b
		names = append(names, argoCD.files[from])
	}
	sources = append(sources, fmt.Sprintf("%s %s: %s", argoCD.module, argoCD.version, strings.Join(names, " ")))

	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(out, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for name, b := range crds {
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return err
		}
	}
	// Written last: make's target, so an interrupted run is done again.
	return os.WriteFile(filepath.Join(out, "SOURCES"), []byte(strings.Join(sources, "\n")+"\n"), 0o644)
}

// moduleVersion is the version go.mod selects for the module of pkg.
func moduleVersion(pkg string) (string, error) {
	b, err := exec.Command("go", "list", "-f", "{{.Module.Version}}", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w", pkg, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// download fetches module@version into the module cache (checked against
// the checksum database) and returns its directory there. It runs in
// outside, a directory outside this module, whose go.sum stays as it is.
func download(outside, module, version string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = outside
	b, err := cmd.Output()
	var m struct{ Dir, Error string }
	if jerr := json.Unmarshal(b, &m); jerr != nil && err == nil {
		err = jerr
	}
	switch {
	case m.Error != "":
		return "", fmt.Errorf("go mod download %s@%s: %s", module, version, m.Error)
	case err != nil:
		return "", fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	return m.Dir, nil
}
