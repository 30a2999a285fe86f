package main

import (
	"crypto/tls"
	"fmt"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// metricsOptions is the metrics server on addr, as the kubebuilder
// scaffold builds it. Secure (the default) serves HTTPS and lets in only
// a bearer token the API server accepts (TokenReview) for a user allowed
// to get the non-resource URL /metrics (SubjectAccessReview); otherwise
// plain HTTP, open to whoever reaches the address. The certificate is
// certPath's tls.crt and tls.key, reloaded when they change (the returned
// watcher, for the manager to run), or with no certPath a self-signed one
// made at start. HTTP/2 is off (the Rapid Reset and Stream Cancellation
// CVEs), as in the scaffold.
func metricsOptions(addr string, secure bool, certPath string) (metricsserver.Options, *certwatcher.CertWatcher, error) {
	opts := metricsserver.Options{
		BindAddress:   addr,
		SecureServing: secure,
		TLSOpts:       []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if !secure {
		if certPath != "" {
			return opts, nil, fmt.Errorf("--metrics-cert-path %s is for HTTPS: it needs --metrics-secure", certPath)
		}
		return opts, nil, nil
	}
	opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	if certPath == "" {
		return opts, nil, nil
	}
	w, err := certwatcher.New(filepath.Join(certPath, "tls.crt"), filepath.Join(certPath, "tls.key"))
	if err != nil {
		return opts, nil, fmt.Errorf("metrics certificate in %s: %w", certPath, err)
	}
	opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.GetCertificate = w.GetCertificate })
	return opts, w, nil
}
