// Command stored captures what each landed version of the operator stores
// (testdata/stored/<commit>/, `make stored-testdata`): it builds the
// version's manager from the Git history, runs it on a local control plane
// with that version's CRDs against the simulator, drives its objects into
// every state a crash can leave (history.Workload: bound, pending create,
// deleting, stalled), kills it with SIGKILL while three adds wait for
// their answers, and writes the objects as the API server holds them and
// the simulator's groups. Today's types must read them all
// (api/v1alpha1's stored-form test) and today's manager must carry on
// from them (controllers' TestStoredFormsConverge).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
	"github.com/agentgroups/agentgroup-operator/internal/history"
	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// The simulator user the captures run as; its token is a test value,
// stored in the captured Secret.
const (
	user  = "30001"
	token = "stored-forms-token-30001"
)

func main() {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	versions := flag.String("versions", "", "comma-separated commits of landed versions to capture (default: all of internal/history.Landed)")
	out := flag.String("out", filepath.Join(root, "testdata", "stored"), "directory to write <commit>/ into")
	flag.Parse()
	ctrllog.SetLogger(logr.Discard()) // the workload's client logs nothing worth reading

	todo := history.Landed
	if *versions != "" {
		todo = nil
		for _, c := range strings.Split(*versions, ",") {
			v, err := history.Find(strings.TrimSpace(c))
			if err != nil {
				log.Fatal(err)
			}
			todo = append(todo, v)
		}
	}
	for _, v := range todo {
		if err := capture(root, v, filepath.Join(*out, v.Commit)); err != nil {
			log.Fatalf("%s: %v", v.Commit, err)
		}
		log.Printf("%s: captured into %s", v.Commit, filepath.Join(*out, v.Commit))
	}
}

func capture(root string, v history.Version, out string) error {
	ctx := context.Background()
	b, err := history.Build(root, v)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "stored-"+v.Commit+"-")
	if err != nil {
		return err
	}
	env, err := localenv.StartWithCRDs(root, dir, b.CRDs)
	if err != nil {
		return err
	}
	defer env.Stop()

	s := sim.New(sim.Options{})
	s.AddUser(sim.User{ID: user, Token: token, Agents: sim.AgentRange(1000, 1099)})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(l, s) }()
	defer l.Close()

	w, err := history.NewWorkload(env, "http://"+l.Addr().String(), user, token)
	if err != nil {
		return err
	}
	if err := w.ApplyAccounts(ctx); err != nil {
		return err
	}
	probe, err := localenv.FreeAddr()
	if err != nil {
		return err
	}
	mgr, err := env.Run("manager", b.Manager, b.Args(history.ManagerFlags(probe)...)...)
	if err != nil {
		return err
	}
	snap, err := w.Crash(ctx, mgr.Kill)
	if err != nil {
		return fmt.Errorf("%w (logs in %s)", err, dir)
	}
	if err := snap.Write(out); err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	return nil
}
