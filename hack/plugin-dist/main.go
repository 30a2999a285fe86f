// Command plugin-dist builds the release archives of kubectl-agentgroup
// and renders its krew manifest (`make plugin-dist`): for each os/arch, a
// static binary and LICENSE in dist/plugin/kubectl-agentgroup_<tag>_<os>_<arch>.tar.gz,
// then plugins/agentgroup.yaml with each archive's sha256 into
// dist/krew/agentgroup.yaml. The template functions are
// krew-release-bot's (.TagName, addURIAndSha), rendered the same way.
//
// A platform of the template that was not built is an error, unless
// -partial drops it (the packaging test builds only the host's).
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"sigs.k8s.io/yaml"
)

func main() {
	tag := flag.String("tag", "", "the release's tag (VERSION), in archive names and the manifest")
	platforms := flag.String("platforms", "", "space-separated os/arch pairs to build")
	ldflags := flag.String("ldflags", "", "linker flags of the build (the version stamp)")
	out := flag.String("out", "dist", "directory for plugin/ and krew/")
	manifest := flag.String("template", "plugins/agentgroup.yaml", "the krew manifest template")
	partial := flag.Bool("partial", false, "drop the template's platforms that were not built")
	epoch := flag.Int64("source-date-epoch", 0, "the archives' file times (seconds since 1970)")
	flag.Parse()
	if err := run(*tag, strings.Fields(*platforms), *ldflags, *out, *manifest, *partial, time.Unix(*epoch, 0)); err != nil {
		fmt.Fprintln(os.Stderr, "plugin-dist:", err)
		os.Exit(1)
	}
}

// semver is the version form krew accepts in a manifest.
var semver = regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func run(tag string, platforms []string, ldflags, out, manifest string, partial bool, mtime time.Time) error {
	if len(platforms) == 0 {
		return fmt.Errorf("-platforms is required")
	}
	if !semver.MatchString(tag) {
		return fmt.Errorf("version %q is not vMAJOR.MINOR.PATCH[-PRE]: krew installs only those (make plugin-dist VERSION=v1.2.3)", tag)
	}
	dir := filepath.Join(out, "plugin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	license, err := os.ReadFile("LICENSE")
	if err != nil {
		return err
	}
	archives := map[string]string{} // base name → sha256
	for _, p := range platforms {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return fmt.Errorf("platform %q is not os/arch", p)
		}
		name := fmt.Sprintf("kubectl-agentgroup_%s_%s_%s.tar.gz", tag, goos, goarch)
		sum, err := buildArchive(filepath.Join(dir, name), goos, goarch, ldflags, license, mtime)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		archives[name] = sum
		fmt.Printf("wrote %s\n", filepath.Join(dir, name))
	}
	rendered, err := render(manifest, tag, archives, partial)
	if err != nil {
		return err
	}
	dest := filepath.Join(out, "krew", "agentgroup.yaml")
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dest, rendered, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", dest)
	return nil
}

// buildArchive cross-compiles the plugin and packs it with LICENSE; the
// archive's bytes depend only on the inputs.
func buildArchive(dest, goos, goarch, ldflags string, license []byte, mtime time.Time) (string, error) {
	tmp, err := os.MkdirTemp("", "plugin-dist-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bin := "kubectl-agentgroup"
	if goos == "windows" {
		bin += ".exe"
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", filepath.Join(tmp, bin), "./cmd/kubectl-agentgroup")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	binary, err := os.ReadFile(filepath.Join(tmp, bin))
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{bin, 0o755, binary}, {"LICENSE", 0o644, license}} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Format: tar.FormatPAX, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), os.WriteFile(dest, buf.Bytes(), 0o644)
}

// render fills the template as krew-release-bot does: addURIAndSha renders
// its URL with the tag and returns the uri and sha256 lines of the
// archive the URL names.
func render(file, tag string, archives map[string]string, partial bool) ([]byte, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	data := struct{ TagName string }{tag}
	missing := map[string]bool{}
	funcs := template.FuncMap{"addURIAndSha": func(uri, tag string) (string, error) {
		u, err := execute(uri, data)
		if err != nil {
			return "", err
		}
		sum, ok := archives[path.Base(u)]
		if !ok {
			missing[u] = true
		}
		return fmt.Sprintf("uri: %s\n    sha256: %s", u, sum), nil
	}}
	t, err := template.New(filepath.Base(file)).Funcs(funcs).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := t.Execute(&out, data); err != nil {
		return nil, err
	}
	if len(missing) == 0 {
		return out.Bytes(), nil
	}
	if !partial {
		return nil, fmt.Errorf("%s names archives that were not built: %v", file, keys(missing))
	}
	return dropPlatforms(out.Bytes(), missing)
}

func execute(text string, data any) (string, error) {
	t, err := template.New("uri").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = t.Execute(&b, data)
	return b.String(), err
}

// dropPlatforms removes the platforms whose archive was not built.
func dropPlatforms(manifest []byte, missing map[string]bool) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(manifest, &m); err != nil {
		return nil, err
	}
	spec, _ := m["spec"].(map[string]any)
	platforms, _ := spec["platforms"].([]any)
	var kept []any
	for _, p := range platforms {
		if uri, _ := p.(map[string]any)["uri"].(string); !missing[uri] {
			kept = append(kept, p)
		}
	}
	spec["platforms"] = kept
	return yaml.Marshal(m)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
