// Command image writes the manager's image as a tarball (`make image`),
// with no container daemon and no network: an empty base, one layer
// holding the static manager binary and a CA bundle, a non-root numeric
// user and the OCI labels. The tarball is in the format `docker save`
// writes (go-containerregistry's tarball package), so `docker load`,
// `kind load image-archive` and `crane push` take it.
//
// The Dockerfile builds the same image for users' own CI; the user, the
// entrypoint and the labels here are the Dockerfile's, and
// test/packaging/image_test.go fails when the two disagree.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const (
	// entrypoint is where the manager lives in the image.
	entrypoint = "/manager"
	// user is distroless's "nonroot" by number: with no /etc/passwd in the
	// image, and so that the kubelet can check runAsNonRoot, it must be
	// numeric.
	user = "65532:65532"
	// caBundlePath is the first place Go's crypto/x509 looks on Linux (and
	// where distroless keeps its bundle): the manager calls the Group API
	// over HTTPS.
	caBundlePath = "/etc/ssl/certs/ca-certificates.crt"

	title    = "agentgroup-operator"
	source   = "https://github.com/agentgroups/agentgroup-operator"
	licenses = "Apache-2.0"
)

type options struct {
	binary   string
	caBundle string
	out      string
	tag      string
	version  string
	revision string
	arch     string
	created  int64
}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "", "The static linux manager binary to put at "+entrypoint+".")
	flag.StringVar(&o.caBundle, "ca-bundle", "", "PEM file of the CA certificates to put at "+caBundlePath+".")
	flag.StringVar(&o.out, "out", "", "The image tarball to write.")
	flag.StringVar(&o.tag, "tag", "", "The image's tag, e.g. ghcr.io/agentgroups/agentgroup-operator:v0.1.0.")
	flag.StringVar(&o.version, "version", "", "The org.opencontainers.image.version label: the version stamped in the binary.")
	flag.StringVar(&o.revision, "revision", "", "The org.opencontainers.image.revision label: the source commit.")
	flag.StringVar(&o.arch, "arch", "", "The binary's GOARCH.")
	flag.Int64Var(&o.created, "created", 0, "The image's creation time and its files' mtime, in Unix seconds (SOURCE_DATE_EPOCH): the same sources give the same image.")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	for flagName, v := range map[string]string{"binary": o.binary, "ca-bundle": o.caBundle, "out": o.out, "tag": o.tag, "version": o.version, "revision": o.revision, "arch": o.arch} {
		if v == "" {
			return fmt.Errorf("-%s is required", flagName)
		}
	}
	tag, err := name.NewTag(o.tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", o.tag, err)
	}
	created := time.Unix(o.created, 0).UTC()
	img, err := image(o, created)
	if err != nil {
		return err
	}
	return writeTarball(o.out, tag, img)
}

// image is the empty base plus one layer, with the config the
// Dockerfile's final stage has.
func image(o options, created time.Time) (v1.Image, error) {
	rootfs, err := rootfsTar(o.binary, o.caBundle, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(rootfs)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "make image: " + entrypoint + " and " + caBundlePath},
	})
	if err != nil {
		return nil, fmt.Errorf("append the layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: created}
	cfg.OS = "linux"
	cfg.Architecture = o.arch
	cfg.Config.User = user
	cfg.Config.Entrypoint = []string{entrypoint}
	cfg.Config.WorkingDir = "/"
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    title,
		"org.opencontainers.image.version":  o.version,
		"org.opencontainers.image.revision": o.revision,
		"org.opencontainers.image.source":   source,
		"org.opencontainers.image.licenses": licenses,
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set the config: %w", err)
	}
	return img, nil
}

// rootfsTar is the layer's uncompressed tar: the CA bundle (0644) with its
// directories, and the manager (0755), all owned by root so the non-root
// user can run but not change them.
func rootfsTar(binary, caBundle string, mtime time.Time) ([]byte, error) {
	manager, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("manager binary: %w", err)
	}
	cas, err := os.ReadFile(caBundle)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(cas) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", caBundle)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(hdr *tar.Header, body []byte) error {
		hdr.ModTime = mtime
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	dirs := []string{"etc/", "etc/ssl/", "etc/ssl/certs/"}
	for _, d := range dirs {
		if err := add(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}, nil); err != nil {
			return nil, err
		}
	}
	if err := add(&tar.Header{Typeflag: tar.TypeReg, Name: caBundlePath[1:], Mode: 0o644, Size: int64(len(cas))}, cas); err != nil {
		return nil, err
	}
	if err := add(&tar.Header{Typeflag: tar.TypeReg, Name: entrypoint[1:], Mode: 0o755, Size: int64(len(manager))}, manager); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeTarball writes beside out and renames, so that a reader never sees
// half an image.
func writeTarball(out string, tag name.Tag, img v1.Image) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tarball.Write(tag, img, tmp); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", out, err), tmp.Close())
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
