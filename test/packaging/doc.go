// Package packaging tests what ships beside the manager binary: the image,
// the installer, the Helm chart, the Argo CD health checks, the alerts and
// the dashboard. It is a module of its own so that the tools these tests
// need (Prometheus's rule parser, gopher-lua, go-containerregistry) never
// become dependencies of the manager: `make test-packaging`, which
// `make test` runs.
package packaging
