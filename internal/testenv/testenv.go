// Package testenv starts a real kube-apiserver and etcd (envtest) with the
// project's CRDs installed, for the envtest suites of every package.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the repository's top directory, found from this file's path so
// tests work from any package directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Start runs kube-apiserver and etcd from KUBEBUILDER_ASSETS (default
// bin/k8s, built by `make k8s-bins`) with the CRDs from config/crd/bases.
// The caller stops the returned environment.
func Start() (*envtest.Environment, *rest.Config, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		assets := filepath.Join(RepoRoot(), "bin", "k8s")
		if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
			return nil, nil, fmt.Errorf("no kube-apiserver in %s: run the tests with `make test`, which builds it (make k8s-bins)", assets)
		}
		os.Setenv("KUBEBUILDER_ASSETS", assets)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		// Start may fail after the processes are up (a CRD the server
		// refuses): stop them rather than leak them.
		_ = env.Stop()
		return nil, nil, fmt.Errorf("start envtest: %w", err)
	}
	return env, cfg, nil
}

// Main is a TestMain body: it starts envtest, hands its config to setup,
// runs the tests, stops envtest and exits with the tests' code.
func Main(m *testing.M, setup func(*rest.Config) error) {
	env, cfg, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	if err := setup(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop envtest:", err)
	}
	os.Exit(code)
}
