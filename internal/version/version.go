// Package version holds the operator's version, stamped at build time:
//
//	go build -ldflags "-X github.com/agentgroups/agentgroup-operator/internal/version.Version=v1.2.3"
//
// `make build`, `make image` and the Dockerfile stamp it from VERSION (by
// default `git describe --tags --always --dirty`). A build that stamps
// nothing says "dev".
package version

// Version is a variable, not a constant, because the linker's -X can only
// set a string variable.
var Version = "dev"
