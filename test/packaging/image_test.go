package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds the image as a user does, `make image`, with a version
// of its own, and reads the tarball back as `docker load` would: the tag,
// the config (non-root numeric user, entrypoint, labels), the one layer
// (the manager, static, built with -trimpath, printing that version with
// --version; the CA bundle). Then it runs the Dockerfile's build stage
// over the context .dockerignore leaves, and checks the Dockerfile's final
// stage says what the tarball's config says.
func TestImage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image's manager is a linux binary that this test runs")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	version := "pkgtest-" + randomHex(t)
	revision := imageGitRevision(root)
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	start := time.Now()
	runMake(t, root, "image", "VERSION="+version, "IMAGE_TAR="+tarPath)
	t.Logf("make image: %s", time.Since(start).Round(time.Second))

	// IMG's default is the ghcr.io repository tagged with VERSION;
	// ImageFromPath fails when the tarball holds no such tag.
	tag, err := name.NewTag("ghcr.io/agentgroups/agentgroup-operator:" + version)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatalf("the tarball has no image tagged %s: %v", tag, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("config", func(t *testing.T) {
		uid, gid, err := imageNumericUser(cfg.Config.User)
		if err != nil {
			t.Errorf("user: %v", err)
		} else if uid == 0 || gid == 0 {
			t.Errorf("user %q is root's uid or gid", cfg.Config.User)
		}
		if diff := cmp.Diff([]string{"/manager"}, cfg.Config.Entrypoint); diff != "" {
			t.Errorf("entrypoint (-want +got):\n%s", diff)
		}
		if len(cfg.Config.Cmd) != 0 {
			t.Errorf("cmd %q: the manager's flags are the Deployment's to give", cfg.Config.Cmd)
		}
		if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
			t.Errorf("platform %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
		}
		wantLabels := map[string]string{
			"org.opencontainers.image.title":    "agentgroup-operator",
			"org.opencontainers.image.version":  version,
			"org.opencontainers.image.revision": revision,
			"org.opencontainers.image.source":   "https://github.com/agentgroups/agentgroup-operator",
			"org.opencontainers.image.licenses": "Apache-2.0",
		}
		if diff := cmp.Diff(wantLabels, cfg.Config.Labels); diff != "" {
			t.Errorf("labels (-want +got):\n%s", diff)
		}
		license, err := os.ReadFile(filepath.Join(root, "LICENSE"))
		if err != nil || !bytes.Contains(license, []byte("Apache License\n                           Version 2.0")) {
			t.Errorf("the licenses label says Apache-2.0, but LICENSE is not its text (%v)", err)
		}
	})

	t.Run("layer", func(t *testing.T) {
		files := imageLayerFiles(t, img)
		entry := strings.TrimPrefix(cfg.Config.Entrypoint[0], "/")
		caBundle := "etc/ssl/certs/ca-certificates.crt"
		if diff := cmp.Diff([]string{caBundle, entry}, slices.Sorted(maps.Keys(files))); diff != "" {
			t.Errorf("regular files in the layer (-want +got):\n%s", diff)
		}
		manager, ok := files[entry]
		if !ok {
			t.Fatalf("no %s in the layer", entry)
		}
		if manager.hdr.Mode != 0o755 || manager.hdr.Uid != 0 || manager.hdr.Gid != 0 {
			t.Errorf("%s: mode %o owner %d:%d, want 755 root:root (the non-root user runs it, cannot change it)",
				entry, manager.hdr.Mode, manager.hdr.Uid, manager.hdr.Gid)
		}
		if ca, ok := files[caBundle]; !ok || !x509.NewCertPool().AppendCertsFromPEM(ca.body) {
			t.Errorf("%s holds no CA certificate: the manager could not verify the Group API's", caBundle)
		}
		bin := filepath.Join(t.TempDir(), "manager")
		if err := os.WriteFile(bin, manager.body, 0o755); err != nil {
			t.Fatal(err)
		}
		imageCheckStatic(t, bin, cfg.Architecture)
		if got := imageRunVersion(t, bin); got != version+"\n" {
			t.Errorf("manager --version printed %q, want %q", got, version+"\n")
		}
	})

	t.Run("dockerfile", func(t *testing.T) {
		start := time.Now()
		imageCheckDockerfile(t, root, cfg, map[string]string{
			"VERSION":    version,
			"REVISION":   revision,
			"TARGETOS":   "linux",
			"TARGETARCH": runtime.GOARCH,
		})
		t.Logf("Dockerfile build stage: %s", time.Since(start).Round(time.Second))
	})
}

// imageMake runs make in the repository with its own variables only: a
// make running this test passes its command line down in MAKEFLAGS.
func runMake(t *testing.T, root string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", append([]string{"-C", root}, args...)...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == "MAKEFLAGS" || k == "MFLAGS" || k == "MAKELEVEL"
	})
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func randomHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// imageGitRevision is the commit the image is built from, as the
// Makefile's REVISION finds it.
func imageGitRevision(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// imageNumericUser parses "uid:gid": a name would need an /etc/passwd in
// the image, and the kubelet cannot check runAsNonRoot against it.
func imageNumericUser(user string) (uid, gid uint64, err error) {
	u, g, ok := strings.Cut(user, ":")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not uid:gid", user)
	}
	if uid, err = strconv.ParseUint(u, 10, 32); err != nil {
		return 0, 0, fmt.Errorf("uid in %q is not a number", user)
	}
	if gid, err = strconv.ParseUint(g, 10, 32); err != nil {
		return 0, 0, fmt.Errorf("gid in %q is not a number", user)
	}
	return uid, gid, nil
}

type imageFile struct {
	hdr  *tar.Header
	body []byte
}

// imageLayerFiles is the regular files of the image's only layer.
func imageLayerFiles(t *testing.T, img v1.Image) map[string]imageFile {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1 (an empty base and the manager)", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]imageFile{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[path.Clean(hdr.Name)] = imageFile{hdr: hdr, body: body}
	}
	return files
}

// imageCheckStatic fails unless bin is a static linux binary for arch,
// built without cgo and with -trimpath: a dynamic one does not start in
// an image without libc.
func imageCheckStatic(t *testing.T, bin, arch string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s is not an ELF binary: %v", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (it asks for an ELF interpreter)", bin)
		}
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("%s: build info: %v", bin, err)
	}
	want := map[string]string{"CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": arch, "-trimpath": "true"}
	got := map[string]string{}
	for _, s := range info.Settings {
		if _, ok := want[s.Key]; ok {
			got[s.Key] = s.Value
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s build settings (-want +got):\n%s", bin, diff)
	}
}

// imageRunVersion is what `bin --version` prints; it must exit 0 and say
// nothing on stderr.
func imageRunVersion(t *testing.T, bin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--version")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("%s --version wrote to stderr: %s", bin, stderr.String())
	}
	return stdout.String()
}

// dockerInstruction is one Dockerfile instruction, its continuation lines
// joined.
type dockerInstruction struct {
	cmd  string // upper case
	args string
	line int
}

type dockerStage struct {
	from         string // the base image
	name         string // AS name
	instructions []dockerInstruction
}

// imageCheckDockerfile does what docker build would do with buildArgs,
// as far as it can without a daemon: the builder stage's COPY and RUN
// over the context .dockerignore leaves (in a directory standing for the
// builder's root), then the final stage's COPY --from, USER, ENTRYPOINT
// and LABEL against the config `make image` wrote.
func imageCheckDockerfile(t *testing.T, root string, cfg *v1.ConfigFile, buildArgs map[string]string) {
	stages := imageParseDockerfile(t, filepath.Join(root, "Dockerfile"))
	if len(stages) != 2 {
		t.Fatalf("%d stages, want 2 (builder and the final image)", len(stages))
	}
	builder, final := stages[0], stages[1]

	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goVersion == nil || builder.from != "golang:"+string(goVersion[1]) {
		t.Errorf("builder FROM %s, want golang:<go.mod's go version>", builder.from)
	}

	buildCtx := imageBuildContext(t, root)
	builderRoot := t.TempDir()
	imageRunStage(t, builder, buildArgs, func(dst string, srcs []string, workdir string) {
		imageCopyFromContext(t, buildCtx, srcs, filepath.Join(builderRoot, imageAbs(workdir, dst)))
	}, builderRoot)

	args := imageStageArgs(final, buildArgs)
	var user, copied string
	var entrypoint []string
	labels := map[string]string{}
	for _, in := range final.instructions {
		switch in.cmd {
		case "ARG", "WORKDIR":
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) != 3 || f[0] != "--from="+builder.name {
				t.Fatalf("line %d: want COPY --from=%s SRC DST, got COPY %s", in.line, builder.name, in.args)
			}
			copied = f[2]
			src := filepath.Join(builderRoot, f[1])
			if got := imageRunVersion(t, src); got != buildArgs["VERSION"]+"\n" {
				t.Errorf("the Dockerfile's manager --version printed %q, want %q", got, buildArgs["VERSION"]+"\n")
			}
			imageCheckStatic(t, src, buildArgs["TARGETARCH"])
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &entrypoint); err != nil {
				t.Errorf("line %d: ENTRYPOINT is not the exec (JSON) form: %v", in.line, err)
			}
		case "LABEL":
			for _, kv := range imageWords(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				labels[k] = os.Expand(v, func(name string) string { return args[name] })
			}
		default:
			t.Errorf("line %d: this test cannot check %s in the final stage", in.line, in.cmd)
		}
	}
	if user != cfg.Config.User {
		t.Errorf("Dockerfile USER %q, make image's %q", user, cfg.Config.User)
	}
	if diff := cmp.Diff(cfg.Config.Entrypoint, entrypoint); diff != "" {
		t.Errorf("ENTRYPOINT (-make image +Dockerfile):\n%s", diff)
	}
	if len(entrypoint) == 0 || copied != entrypoint[0] {
		t.Errorf("the manager is copied to %q, the entrypoint is %q", copied, entrypoint)
	}
	if diff := cmp.Diff(cfg.Config.Labels, labels); diff != "" {
		t.Errorf("LABEL (-make image +Dockerfile):\n%s", diff)
	}
}

// imageRunStage runs a builder stage: ARG, WORKDIR, COPY (through copy)
// and RUN (sh -c in the directory standing for WORKDIR, with the stage's
// build args in the environment, as docker does).
func imageRunStage(t *testing.T, st dockerStage, buildArgs map[string]string, copyIn func(dst string, srcs []string, workdir string), rootDir string) {
	t.Helper()
	args := map[string]string{}
	workdir := "/"
	for _, in := range st.instructions {
		switch in.cmd {
		case "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			if b, ok := buildArgs[k]; ok {
				v = b
			}
			args[k] = v
		case "WORKDIR":
			workdir = imageAbs(workdir, in.args)
			if err := os.MkdirAll(filepath.Join(rootDir, workdir), 0o755); err != nil {
				t.Fatal(err)
			}
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) < 2 || strings.HasPrefix(f[0], "--") {
				t.Fatalf("line %d: COPY %s: the test copies from the context only", in.line, in.args)
			}
			copyIn(f[len(f)-1], f[:len(f)-1], workdir)
		case "RUN":
			script := in.args
			for strings.HasPrefix(script, "--") { // --mount=type=cache,...: a cache, nothing to emulate
				_, script, _ = strings.Cut(script, " ")
				script = strings.TrimSpace(script)
			}
			cmd := exec.Command("sh", "-c", script)
			cmd.Dir = filepath.Join(rootDir, workdir)
			// The host's Go, caches and proxy; none of its build settings.
			cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
				k, _, _ := strings.Cut(kv, "=")
				return slices.Contains([]string{"GOFLAGS", "GOOS", "GOARCH", "CGO_ENABLED", "GOWORK"}, k)
			})
			for k, v := range args {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("line %d: RUN %s: %v\n%s", in.line, script, err, out)
			}
		default:
			t.Fatalf("line %d: this test cannot run %s in a build stage", in.line, in.cmd)
		}
	}
}

// imageStageArgs is the stage's ARGs: buildArgs where given, else the
// defaults.
func imageStageArgs(st dockerStage, buildArgs map[string]string) map[string]string {
	args := map[string]string{}
	for _, in := range st.instructions {
		if in.cmd == "ARG" {
			k, v, _ := strings.Cut(in.args, "=")
			if b, ok := buildArgs[k]; ok {
				v = b
			}
			args[k] = v
		}
	}
	return args
}

func imageAbs(workdir, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(workdir, p)
}

// imageParseDockerfile reads the stages of a Dockerfile: comments and blank
// lines dropped, continuation lines joined.
func imageParseDockerfile(t *testing.T, file string) []dockerStage {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []dockerStage
	var pending strings.Builder
	pendingLine := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if pending.Len() == 0 {
			pendingLine = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending.WriteString(cont + " ")
			continue
		}
		pending.WriteString(line)
		cmd, args, _ := strings.Cut(pending.String(), " ")
		pending.Reset()
		in := dockerInstruction{cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " "), line: pendingLine}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			if len(f) > 0 && strings.HasPrefix(f[0], "--platform=") {
				f = f[1:]
			}
			st := dockerStage{}
			if len(f) > 0 {
				st.from = f[0]
			}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s:%d: %s before the first FROM", file, pendingLine, in.cmd)
		}
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

// imageWords splits LABEL's arguments like a shell: on blanks outside
// double quotes, quotes removed.
func imageWords(s string) []string {
	var words []string
	var w strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// imageBuildContext is the files docker build would send: every file of the
// repository that .dockerignore does not exclude, by slash path relative to
// the root. It fails when a binary or Git's objects would go along.
func imageBuildContext(t *testing.T, root string) map[string]string {
	t.Helper()
	rules := imageReadDockerignore(t, filepath.Join(root, ".dockerignore"))
	files := map[string]string{}
	var size int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rules.excluded(rel) {
			return nil
		}
		if rel == ".git" || strings.HasPrefix(rel, ".git/") || strings.HasPrefix(rel, "bin/") {
			t.Errorf("the build context holds %s: .dockerignore must leave out bin/ and .git", rel)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			t.Errorf("the build context holds the symbolic link %s", rel)
			return nil
		}
		if info, err := d.Info(); err == nil {
			size += info.Size()
		}
		files[rel] = p
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build context: %d files, %d KiB", len(files), size/1024)
	return files
}

// imageCopyFromContext copies srcs ("." for the whole context) to dst, a
// directory, as COPY does; a source .dockerignore left out fails, as it
// does in docker build.
func imageCopyFromContext(t *testing.T, buildCtx map[string]string, srcs []string, dst string) {
	t.Helper()
	for _, src := range srcs {
		src = path.Clean(src)
		var rels []string
		if src == "." {
			rels = slices.Collect(maps.Keys(buildCtx))
		} else if _, ok := buildCtx[src]; ok {
			rels = []string{src}
		} else {
			t.Fatalf("COPY %s: not in the build context (.dockerignore?)", src)
		}
		for _, rel := range rels {
			target := filepath.Join(dst, filepath.FromSlash(rel))
			if src != "." {
				target = filepath.Join(dst, path.Base(rel))
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				t.Fatal(err)
			}
			body, err := os.ReadFile(buildCtx[rel])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(target, body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// dockerignoreRule is one .dockerignore line: a path pattern whose
// segments are filepath.Match patterns or "**" (any number of segments).
type dockerignoreRule struct {
	negate   bool
	segments []string
}

type dockerignoreRules []dockerignoreRule

func imageReadDockerignore(t *testing.T, file string) dockerignoreRules {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var rules dockerignoreRules
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := dockerignoreRule{}
		if p, ok := strings.CutPrefix(line, "!"); ok {
			r.negate, line = true, p
		}
		line = path.Clean(strings.TrimPrefix(line, "/"))
		r.segments = strings.Split(line, "/")
		rules = append(rules, r)
	}
	return rules
}

// excluded applies the rules in order, the last that matches deciding, as
// docker does; a rule matching a parent directory matches what is in it.
func (rules dockerignoreRules) excluded(rel string) bool {
	segments := strings.Split(rel, "/")
	excluded := false
	for _, r := range rules {
		for n := len(segments); n > 0; n-- {
			if dockerignoreMatch(r.segments, segments[:n]) {
				excluded = !r.negate
				break
			}
		}
	}
	return excluded
}

func dockerignoreMatch(pattern, segments []string) bool {
	if len(pattern) == 0 {
		return len(segments) == 0
	}
	if pattern[0] == "**" {
		for i := 0; i <= len(segments); i++ {
			if dockerignoreMatch(pattern[1:], segments[i:]) {
				return true
			}
		}
		return false
	}
	if len(segments) == 0 {
		return false
	}
	ok, _ := path.Match(pattern[0], segments[0])
	return ok && dockerignoreMatch(pattern[1:], segments[1:])
}
