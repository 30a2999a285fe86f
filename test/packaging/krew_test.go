package packaging

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/agentgroups/agentgroup-operator/test/packaging/internal/packagingtest"
)

// TestKrewInstallsThePlugin builds the plugin's release archive for this
// machine and its krew manifest as the release does (`make plugin-dist`),
// installs it with krew from that manifest and archive, as `kubectl krew
// install --manifest-url` does from a release, and runs it through
// kubectl. krew validates the manifest and the archive's sha256 on the way.
func TestKrewInstallsThePlugin(t *testing.T) {
	krew := os.Getenv("KREW")
	if krew == "" {
		t.Fatal("KREW is not set: run `make test-packaging`, which builds krew")
	}
	version := "v0.0.0-krew." + randomHex(t)
	out := t.TempDir()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	runMake(t, packagingtest.Root(), "plugin-dist", "VERSION="+version, "PLUGIN_PLATFORMS="+platform, "PLUGIN_DIST_FLAGS=-partial -out "+out)

	manifest := filepath.Join(out, "krew", "agentgroup.yaml")
	archive := filepath.Join(out, "plugin", fmt.Sprintf("kubectl-agentgroup_%s_%s_%s.tar.gz", version, runtime.GOOS, runtime.GOARCH))
	krewRoot := t.TempDir()
	install := exec.Command(krew, "install", "--manifest="+manifest, "--archive="+archive)
	install.Env = append(os.Environ(), "KREW_ROOT="+krewRoot)
	if b, err := install.CombinedOutput(); err != nil {
		t.Fatalf("krew install: %v\n%s", err, b)
	}

	kubectl := exec.Command(packagingtest.Kubectl(t), "agentgroup", "--version")
	kubectl.Env = append(os.Environ(), "PATH="+filepath.Join(krewRoot, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	b, err := kubectl.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl agentgroup --version, installed by krew: %v\n%s", err, b)
	}
	if got := strings.TrimSpace(string(b)); !strings.HasSuffix(got, " "+version) {
		t.Errorf("kubectl agentgroup --version = %q, want the version built, %s", got, version)
	}
}

// TestKrewManifestCoversThePlatforms: the manifest template offers exactly
// the platforms `make plugin-dist` builds, each with the binary name the
// archive holds, and the release runs `make plugin-dist` for all of them
// and publishes what it writes.
func TestKrewManifestCoversThePlatforms(t *testing.T) {
	root := packagingtest.Root()
	src, err := os.ReadFile(filepath.Join(root, "plugins", "agentgroup.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The template's actions are not YAML: read it with each replaced by
	// the URL it names.
	var rendered []string
	for _, line := range strings.Split(string(src), "\n") {
		if i := strings.Index(line, `{{ addURIAndSha "`); i >= 0 {
			rest := line[i+len(`{{ addURIAndSha "`):]
			line = line[:i] + "uri: " + rest[:strings.Index(rest, `"`)]
		}
		rendered = append(rendered, strings.ReplaceAll(line, "{{ .TagName }}", "vX"))
	}
	var m struct {
		Spec struct {
			Version   string
			Platforms []struct {
				Selector struct{ MatchLabels map[string]string } `json:"selector"`
				URI      string                                  `json:"uri"`
				Bin      string                                  `json:"bin"`
			}
		}
	}
	if err := yaml.Unmarshal([]byte(strings.Join(rendered, "\n")), &m); err != nil {
		t.Fatalf("plugins/agentgroup.yaml: %v", err)
	}
	var offered []string
	for _, p := range m.Spec.Platforms {
		goos, goarch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		offered = append(offered, goos+"/"+goarch)
		if want := fmt.Sprintf("/vX/kubectl-agentgroup_vX_%s_%s.tar.gz", goos, goarch); !strings.HasSuffix(p.URI, want) {
			t.Errorf("%s/%s: uri %s does not end with the archive make plugin-dist writes, %s", goos, goarch, p.URI, want)
		}
		if want := map[bool]string{true: "kubectl-agentgroup.exe", false: "kubectl-agentgroup"}[goos == "windows"]; p.Bin != want {
			t.Errorf("%s/%s: bin %q, the archive holds %q", goos, goarch, p.Bin, want)
		}
	}
	built := strings.Fields(packagingtest.Run(t, "make", "-s", "--no-print-directory", "print-PLUGIN_PLATFORMS"))
	slices.Sort(offered)
	slices.Sort(built)
	if !slices.Equal(offered, built) {
		t.Errorf("plugins/agentgroup.yaml offers %v, make plugin-dist builds %v", offered, built)
	}

	release, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "release.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`make plugin-dist VERSION="$TAG"`, "dist/plugin/kubectl-agentgroup_*", "dist/krew/agentgroup.yaml"} {
		if !strings.Contains(string(release), want) {
			t.Errorf("release.yaml does not have %s: the release must build and publish every archive and the manifest", want)
		}
	}
}
