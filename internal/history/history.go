// Package history builds earlier landed versions of the operator from the
// Git history, for what must hold across versions: capturing the objects
// each version stores (testdata/stored, `make stored-testdata`), and the
// upgrade and rollback stories, which run an earlier manager beside
// today's against one control plane.
package history

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Version is one landed version of the operator: a commit of main that
// CI passed and users may run.
type Version struct {
	// Commit is the abbreviated commit id.
	Commit string
	// Stores is what this version writes that it was the first to write,
	// in the form later versions must read (docs/operations.md,
	// "Compatibility").
	Stores string
}

// Landed lists every landed version, oldest first. A change lands with
// the commit before it added here, and its stored objects captured into
// testdata/stored (docs/development.md, "Changing what the operator
// stores").
var Landed = []Version{
	{"28498d8", "status.pendingCreate with startedAt to the second; finalizers remote-group, agentgroups, credentials-in-use"},
	{"f43f472", "status.pendingCreate.startedAt to the microsecond; status.remoteAccount on AgentGroups and Accounts"},
	{"d28ed4a", "nothing new"},
	{"cf4de64", "the create intent in the annotation deepcall.agentgroups.dev/create-intent (status.pendingCreate no longer written)"},
	{"1c21c7e", "ClusterAccount"},
	{"927a102", "nothing new"},
	{"6c59273", "the annotation deepcall.agentgroups.dev/resync and status.lastHandledResync"},
	{"e80918a", "nothing new"},
	{"c05e45c", "nothing new"},
}

// First is the first landed version, the oldest an upgrade starts from.
func First() Version { return Landed[0] }

// Previous is the last landed version: the one a rollback returns to.
func Previous() Version { return Landed[len(Landed)-1] }

// Find returns the landed version whose commit is id (abbreviated to any
// length of at least four, or in full).
func Find(id string) (Version, error) {
	var found []Version
	for _, v := range Landed {
		if len(id) >= 4 && (strings.HasPrefix(v.Commit, id) || strings.HasPrefix(id, v.Commit)) {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Version{}, fmt.Errorf("%s is not a landed version (internal/history.Landed; give at least four characters of its commit id)", id)
	}
	return Version{}, fmt.Errorf("%s names %d landed versions: give more of the commit id", id, len(found))
}

// Built is a landed version's manager and CRDs, under bin/history.
type Built struct {
	Version
	// Manager is the binary built from the version's source, CRDs the
	// directory of its generated CRDs.
	Manager, CRDs string
	// Flags are the names of the flags the manager takes, read off its
	// -help: earlier versions lack some (--allow-insecure-loopback,
	// --create-settle).
	Flags map[string]bool
}

// Build builds the version's manager from the Git history of the
// repository at root into root/bin/history/<commit>, or reuses what an
// earlier call built there (a commit never changes).
func Build(root string, v Version) (*Built, error) {
	dir := filepath.Join(root, "bin", "history", v.Commit)
	b := &Built{Version: v, Manager: filepath.Join(dir, "manager"), CRDs: filepath.Join(dir, "crds")}
	if _, err := os.Stat(b.Manager); err != nil {
		if err := build(root, v.Commit, dir); err != nil {
			return nil, fmt.Errorf("build the manager of %s: %w", v.Commit, err)
		}
	}
	return b, b.readFlags()
}

// Today is the manager built from the working tree (bin/manager), run
// the way the landed versions are.
func Today(manager string) (*Built, error) {
	b := &Built{Version: Version{Commit: "today"}, Manager: manager}
	return b, b.readFlags()
}

// readFlags reads the flags the manager takes off its -help.
func (b *Built) readFlags() error {
	help, _ := exec.Command(b.Manager, "-help").CombinedOutput() // -help exits 2
	b.Flags = map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-(-?[a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(help), -1) {
		b.Flags[strings.TrimPrefix(m[1], "-")] = true
	}
	if !b.Flags["metrics-bind-address"] {
		return fmt.Errorf("%s -help lists no flags:\n%s", b.Manager, help)
	}
	return nil
}

// Args are the flags for running the manager on a local control plane:
// those of want it knows ("name=value"), in order.
func (b *Built) Args(want ...string) []string {
	var out []string
	for _, f := range want {
		name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
		if b.Flags[name] {
			out = append(out, "--"+strings.TrimLeft(f, "-"))
		}
	}
	return out
}

// build writes the version's CRDs and then its manager into dir, from its
// source extracted into a temporary directory (kept out of bin/, whose Go
// files would otherwise join the image's build context).
func build(root, commit, dir string) error {
	if out, err := git(root, "cat-file", "-e", commit+"^{commit}"); err != nil {
		return fmt.Errorf("commit %s is not in this clone (%s): clone the whole history, or run `git fetch --unshallow`", commit, strings.TrimSpace(string(out)))
	}
	src, err := os.MkdirTemp("", "agentgroup-"+commit+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	archive, err := git(root, "archive", "--format=tar", commit)
	if err != nil {
		return fmt.Errorf("git archive %s: %w: %s", commit, err, archive)
	}
	if err := extract(archive, src); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.CopyFS(filepath.Join(dir, "crds"), os.DirFS(filepath.Join(src, "config", "crd", "bases"))); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "manager.tmp")
	cmd := exec.Command("go", "build", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w: %s", err, out)
	}
	return os.Rename(tmp, filepath.Join(dir, "manager"))
}

func git(root string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = root
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		return stderr.Bytes(), err
	}
	return out.Bytes(), nil
}

// largeFile is the size from which a file of the archive is left out: a
// build output committed by mistake, never needed to build the manager.
const largeFile = 4 << 20

// extract writes a tar archive's regular files under dir.
func extract(archive []byte, dir string) error {
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg || h.Size >= largeFile {
			continue
		}
		path := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(path, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("archive entry %q leaves %s", h.Name, dir)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o755|0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
}
