//go:build tools

// Package k8sbins pins the Kubernetes and etcd commands that `make k8s-bins`
// builds, so `go mod tidy` keeps them in this module's graph.
package k8sbins

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
