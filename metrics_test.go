package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// TestMetricsCertPath: with --metrics-cert-path the metrics server
// presents that directory's certificate over HTTP/1.1 and, with no
// bearer token, answers 401 before it asks the API server anything.
func TestMetricsCertPath(t *testing.T) {
	dir := t.TempDir()
	crt, key, err := certutil.GenerateSelfSignedCertKey("localhost", []net.IP{{127, 0, 0, 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"tls.crt": crt, "tls.key": key} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr, err := localenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	opts, watcher, err := metricsOptions(addr, true, dir)
	if err != nil || watcher == nil || opts.FilterProvider == nil {
		t.Fatalf("metricsOptions: %+v, watcher %v, %v: want HTTPS with authn/authz and a certificate watcher", opts, watcher, err)
	}
	// The filter is built against an API server that is never asked.
	srv, err := metricsserver.NewServer(opts, &rest.Config{Host: "https://127.0.0.1:1"}, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Start(ctx) }()
	if err := localenv.WaitTCP(addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if certs, err := certutil.ParseCertsPEM(crt); err != nil || len(certs) == 0 {
		t.Fatalf("parse the test certificate: %v", err)
	} else {
		roots.AddCert(certs[0])
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics trusting only the certificate in %s: %v", dir, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.ProtoMajor != 1 {
		t.Errorf("GET /metrics without a token: %s over %s, want 401 Unauthorized over HTTP/1.1", resp.Status, resp.Proto)
	}
}

func TestMetricsOptionsPlain(t *testing.T) {
	opts, watcher, err := metricsOptions(":8080", false, "")
	if err != nil || watcher != nil || opts.SecureServing || opts.FilterProvider != nil {
		t.Errorf("--metrics-secure=false: %+v, watcher %v, %v; want plain HTTP with no filter", opts, watcher, err)
	}
	if _, _, err := metricsOptions(":8080", false, t.TempDir()); err == nil {
		t.Error("--metrics-secure=false with --metrics-cert-path accepted, want an error")
	}
}
