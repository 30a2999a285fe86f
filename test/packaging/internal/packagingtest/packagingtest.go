// Package packagingtest holds what the packaging tests share: where the
// repository and its tools are, rendering the chart and the
// kustomizations, reading multi-document YAML, and a control plane
// (kube-apiserver and etcd, bare or with the CRDs given) to apply
// manifests to.
package packagingtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// Root is the repository's top directory, found from this file's path so
// that the tests run from any directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// Bin is the path of a tool under bin/ (BIN when make sets it).
func Bin(name string) string {
	dir := os.Getenv("BIN")
	if dir == "" {
		dir = filepath.Join(Root(), "bin")
	}
	return filepath.Join(dir, name)
}

// Kubectl is bin/k8s/kubectl, which has kustomize built in.
func Kubectl(t testing.TB) string {
	t.Helper()
	return tool(t, Bin(filepath.Join("k8s", "kubectl")), "make k8s-bins")
}

// Helm is the pinned Helm the Makefile builds: HELM when make sets it,
// else the one bin/helm-v* there is.
func Helm(t testing.TB) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return tool(t, h, "make helm")
	}
	found, _ := filepath.Glob(Bin("helm-v*"))
	if len(found) != 1 {
		t.Fatalf("want one bin/helm-v*, found %v: run `make helm` (or set HELM)", found)
	}
	return found[0]
}

func tool(t testing.TB, path, build string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run `%s` (make test-packaging builds it)", path, build)
	}
	return path
}

// Run runs a command in the repository and returns its standard output;
// a failure ends the test with the command's standard error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// RunErr is Run returning the failure, with its standard error, instead.
func RunErr(name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = Root()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// Kustomize renders a kustomization directory of the repository.
func Kustomize(t testing.TB, dir string) string {
	t.Helper()
	return Run(t, Kubectl(t), "kustomize", filepath.Join(Root(), dir))
}

// Chart is the chart's directory.
func Chart() string { return filepath.Join(Root(), "charts", "agentgroup-operator") }

// Release and Namespace are the release the tests render the chart as.
const (
	Release   = "agentgroup-operator"
	Namespace = "agentgroup-system"
)

// HelmEnv keeps Helm's configuration, cache and data in a directory of
// the test's, away from the user's.
func HelmEnv(t testing.TB) []string {
	t.Helper()
	home := t.TempDir()
	return []string{"HELM_CONFIG_HOME=" + filepath.Join(home, "config"), "HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data")}
}

// HelmTemplate renders the chart as Release in Namespace with the given
// helm flags (-f FILE, --set K=V).
func HelmTemplate(t testing.TB, flags ...string) string {
	t.Helper()
	args := append([]string{"template", Release, Chart(), "--namespace", Namespace}, flags...)
	cmd := exec.Command(Helm(t), args...)
	cmd.Env = append(os.Environ(), HelmEnv(t)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// Objects decodes a multi-document YAML stream, skipping empty documents.
func Objects(t testing.TB, stream string) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, doc := range Documents(stream) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

// Documents splits a YAML stream on its "---" lines.
func Documents(stream string) []string {
	var docs []string
	var cur []string
	for _, line := range strings.Split(stream, "\n") {
		if strings.TrimRight(line, " ") == "---" {
			docs = append(docs, strings.Join(cur, "\n"))
			cur = nil
			continue
		}
		cur = append(cur, line)
	}
	return append(docs, strings.Join(cur, "\n"))
}

// Find returns the objects of a kind.
func Find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	return found
}

// One returns the only object of a kind, failing the test if there is not
// exactly one.
func One(t testing.TB, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	found := Find(objs, kind)
	if len(found) != 1 {
		t.Fatalf("want one %s, found %d", kind, len(found))
	}
	return found[0]
}

// Typed converts a decoded object into its Go type, failing the test on
// a field the type lacks.
func Typed[T any](t testing.TB, o *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return out
}

// ControlPlane is a bare kube-apiserver and etcd (no CRDs) reached with
// the admin kubeconfig.
type ControlPlane struct {
	Kubeconfig string
	kubectl    string
}

// StartControlPlane runs kube-apiserver and etcd from KUBEBUILDER_ASSETS
// (default bin/k8s) until the test ends.
func StartControlPlane(t testing.TB) *ControlPlane {
	t.Helper()
	return StartControlPlaneWithCRDs(t)
}

// StartControlPlaneWithCRDs is StartControlPlane with the CRDs of these
// directories (or files) installed, and served before it returns.
func StartControlPlaneWithCRDs(t testing.TB, crds ...string) *ControlPlane {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = Bin("k8s")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, CRDDirectoryPaths: crds, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		t.Fatalf("start kube-apiserver and etcd from %s (CRDs of %v): %v", assets, crds, err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cp := &ControlPlane{Kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"), kubectl: Kubectl(t)}
	if err := clientcmd.WriteToFile(*localenv.Kubeconfig(cfg), cp.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	return cp
}

// Kubectl runs kubectl against the control plane with stdin.
func (c *ControlPlane) Kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(c.kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
