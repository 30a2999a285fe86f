package controllers

import (
	"cmp"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi/sim"
	"github.com/agentgroups/agentgroup-operator/internal/testenv"
)

// The envtest suites: a real kube-apiserver and etcd, the real manager with
// both controllers, and the simulator over real HTTP. Each test gets its own
// namespace, its own simulator and its own manager (watching only that
// namespace), so remote state and call counts belong to one story.

var (
	restConfig *rest.Config
	k8s        client.Client
	scheme     = runtime.NewScheme()
)

const (
	testUser  = "10234"
	testToken = "t0ken-value-never-logged"
)

func TestMain(m *testing.M) {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(deepcallv1.AddToScheme(scheme))
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr), zap.Level(zapcore.Level(zapLevel()))))
	testenv.Main(m, func(cfg *rest.Config) error {
		restConfig = cfg
		var err error
		k8s, err = client.New(cfg, client.Options{Scheme: scheme})
		return err
	})
}

// story is one test's world: a namespace, a simulator, a manager.
type story struct {
	t      *testing.T
	ns     string
	sim    *sim.Server
	simURL string
	// others are more namespaces, each with the same Secret and Account,
	// watched by the same manager (withNamespaces).
	others []string
	// rps is every Account's requestsPerSecond and burst (default 50).
	rps int32
	// createSettle is the manager's --create-settle (default 6s).
	createSettle time.Duration
	// maxRetryAfter is the manager's --max-retry-after (0: the default).
	maxRetryAfter time.Duration
	// stallRetry is how long a stalled AgentGroup waits (0: an hour).
	stallRetry time.Duration
	// syncInterval is every Account's syncInterval (0: 10 minutes).
	syncInterval time.Duration
	// routineBurst and routineEvery bound routine events (0: defaults).
	routineBurst int
	routineEvery time.Duration
	// allowInsecureLoopback is the manager's --allow-insecure-loopback
	// (default true: the simulator is plain http on 127.0.0.1).
	allowInsecureLoopback bool
	// defaultDeletion is the manager's --default-deletion-policy ("": Delete).
	defaultDeletion deepcallv1.DeletionPolicy
	// factory wraps the clients the manager builds (nil: none).
	wrap func(groupapi.Interface) groupapi.Interface
	// registry and client are the running manager's.
	registry *accounts.Registry
	client   client.Client

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// newStory creates a namespace, starts a simulator with one user whose
// credentials are in a Secret, an Account for it, and the manager.
func newStory(t *testing.T, opts ...func(*story)) *story {
	t.Helper()
	s := &story{t: t, sim: sim.New(sim.Options{}), rps: 50, createSettle: 6 * time.Second, allowInsecureLoopback: true}
	for _, o := range opts {
		o(s)
	}
	s.sim.AddUser(sim.User{ID: testUser, Token: testToken, Agents: sim.AgentRange(1000, 1999)})
	s.simURL = serve(t, s.sim)

	s.ns = s.namespace()
	for i := range s.others {
		s.others[i] = s.namespace()
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// serve serves the simulator over HTTP until the test ends.
func serve(t *testing.T, s *sim.Server) string {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}

// namespace creates a namespace with the credentials Secret and the
// Account "default" for the test user.
func (s *story) namespace() string {
	s.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "story-"}}
	s.must(k8s.Create(context.Background(), ns))
	s.must(k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "deepcall-credentials"},
		StringData: map[string]string{"userId": testUser, "token": testToken},
	}))
	s.must(k8s.Create(context.Background(), &deepcallv1.Account{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "default"},
		Spec: deepcallv1.AccountSpec{
			BaseURL:              s.simURL,
			CredentialsSecretRef: deepcallv1.SecretReference{Name: "deepcall-credentials"},
			RequestsPerSecond:    s.rps,
			Burst:                s.rps,
			SyncInterval:         metav1.Duration{Duration: cmp.Or(s.syncInterval, 10*time.Minute)},
		},
	}))
	return ns.Name
}

// withNamespaces gives the story n more namespaces on the same remote user.
func withNamespaces(n int) func(*story) { return func(s *story) { s.others = make([]string, n) } }

// withoutInsecureLoopback runs the manager without --allow-insecure-loopback.
func withoutInsecureLoopback() func(*story) {
	return func(s *story) { s.allowInsecureLoopback = false }
}

// withDefaultDeletionPolicy runs the manager with --default-deletion-policy.
func withDefaultDeletionPolicy(p deepcallv1.DeletionPolicy) func(*story) {
	return func(s *story) { s.defaultDeletion = p }
}

// withSim replaces the story's simulator options.
func withSim(o sim.Options) func(*story) { return func(s *story) { s.sim = sim.New(o) } }

// start runs a manager that watches only this story's namespace.
func (s *story) start() {
	s.t.Helper()
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: s.watched()},
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	s.must(err)
	ctx, cancel := context.WithCancel(context.Background())
	s.must(SetupIndexes(ctx, mgr, true))
	registry := accounts.NewRegistry(func(o groupapi.Options) (groupapi.Interface, error) {
		c, err := groupapi.New(o)
		if err != nil || s.wrap == nil {
			return c, err
		}
		return s.wrap(c), nil
	})
	s.registry, s.client = registry, mgr.GetClient()
	s.must((&AccountReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("account-controller"),
		Accounts: registry, RequestTimeout: 5 * time.Second, MaxRetryAfter: s.maxRetryAfter, ClusterAccounts: true,
		AllowInsecureLoopback: s.allowInsecureLoopback,
	}).SetupWithManager(mgr))
	s.must((&AgentGroupReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("agentgroup-controller"),
		Accounts:     registry,
		CreateSettle: s.createSettle, MaxConcurrentReconciles: 4, StallRetry: s.stallRetry,
		RoutineEventBurst: s.routineBurst, RoutineEventEvery: s.routineEvery, ClusterAccounts: true,
		DefaultDeletionPolicy: s.defaultDeletion,
	}).SetupWithManager(mgr))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			s.t.Errorf("manager: %v", err)
		}
	}()
	s.mu.Lock()
	s.cancel, s.done = cancel, done
	s.mu.Unlock()
}

func (s *story) watched() map[string]cache.Config {
	out := map[string]cache.Config{s.ns: {}}
	for _, ns := range s.others {
		out[ns] = cache.Config{}
	}
	return out
}

// stop stops the manager and waits for it.
func (s *story) stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel = nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (s *story) must(err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
}

// group creates an AgentGroup in the story's namespace.
func (s *story) group(name string, mutate func(*deepcallv1.AgentGroup)) *deepcallv1.AgentGroup {
	s.t.Helper()
	return s.groupIn(s.ns, name, mutate)
}

// groupIn creates an AgentGroup in namespace ns.
func (s *story) groupIn(ns, name string, mutate func(*deepcallv1.AgentGroup)) *deepcallv1.AgentGroup {
	s.t.Helper()
	g := &deepcallv1.AgentGroup{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if mutate != nil {
		mutate(g)
	}
	s.must(k8s.Create(context.Background(), g))
	return g
}

// update changes an AgentGroup's spec, retrying on conflicts.
func (s *story) update(name string, mutate func(*deepcallv1.AgentGroup)) {
	s.t.Helper()
	s.updateIn(s.ns, name, mutate)
}

// updateIn is update for an AgentGroup of namespace ns.
func (s *story) updateIn(ns, name string, mutate func(*deepcallv1.AgentGroup)) {
	s.t.Helper()
	s.eventually(10*time.Second, func() error {
		g := &deepcallv1.AgentGroup{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, g); err != nil {
			return err
		}
		mutate(g)
		return k8s.Update(context.Background(), g)
	})
}

// get reads an AgentGroup.
func (s *story) get(name string) *deepcallv1.AgentGroup {
	s.t.Helper()
	return s.getIn(s.ns, name)
}

// getIn reads an AgentGroup of namespace ns.
func (s *story) getIn(ns, name string) *deepcallv1.AgentGroup {
	s.t.Helper()
	g := &deepcallv1.AgentGroup{}
	s.must(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, g))
	return g
}

// eventually retries check until it returns nil or the timeout passes.
func (s *story) eventually(timeout time.Duration, check func() error) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReady waits until the AgentGroup is Ready for its current generation.
func (s *story) waitReady(name string) *deepcallv1.AgentGroup {
	s.t.Helper()
	return s.waitReason(name, metav1.ConditionTrue, "")
}

// waitReason waits for Ready to have this status and (if set) reason, for
// the current generation.
func (s *story) waitReason(name string, st metav1.ConditionStatus, reason string) *deepcallv1.AgentGroup {
	s.t.Helper()
	return s.waitReasonIn(s.ns, name, st, reason)
}

// waitReasonIn is waitReason for an AgentGroup of namespace ns.
func (s *story) waitReasonIn(ns, name string, st metav1.ConditionStatus, reason string) *deepcallv1.AgentGroup {
	s.t.Helper()
	var g *deepcallv1.AgentGroup
	s.eventually(20*time.Second, func() error {
		g = &deepcallv1.AgentGroup{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, g); err != nil {
			return err
		}
		c := meta.FindStatusCondition(g.Status.Conditions, deepcallv1.ConditionReady)
		if c == nil || c.Status != st || (reason != "" && c.Reason != reason) || c.ObservedGeneration != g.Generation {
			return fmt.Errorf("AgentGroup %s: Ready is %+v, want %s %s at generation %d", name, c, st, reason, g.Generation)
		}
		return nil
	})
	return g
}

// kstatus is the verdict Flux and kstatus-based tools would give on an
// AgentGroup.
func (s *story) kstatus(name string) status.Status {
	s.t.Helper()
	return s.kstatusOf("AgentGroup", name)
}

// accountKstatus is kstatus's verdict on an Account.
func (s *story) accountKstatus(name string) status.Status {
	s.t.Helper()
	return s.kstatusOf("Account", name)
}

func (s *story) kstatusOf(kind, name string) status.Status {
	s.t.Helper()
	return s.kstatusIn(s.ns, kind, name)
}

// kstatusIn is kstatusOf for an object of namespace ns.
func (s *story) kstatusIn(ns, kind, name string) status.Status {
	s.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(deepcallv1.GroupVersion.WithKind(kind))
	s.must(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u))
	res, err := status.Compute(u)
	s.must(err)
	return res.Status
}

// remote returns the simulator's groups of the test user.
func (s *story) remote() []sim.Group { return s.sim.Groups(testUser) }

// calls returns the simulator's per-operation call counts.
func (s *story) calls() map[string]int { return s.sim.Calls() }

// writes counts the write calls among counts.
func writes(c map[string]int) int {
	return c["add"] + c["update"] + c["delete"] + c["submitAssignGroupToAgent"]
}

// events returns the reasons of the events about one object.
func (s *story) events(name string) []string {
	s.t.Helper()
	var list eventsv1.EventList
	s.must(k8s.List(context.Background(), &list, client.InNamespace(s.ns)))
	var reasons []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// touch makes the manager reconcile the AgentGroup now (an annotation
// change), standing in for the periodic resync.
func (s *story) touch(name string) {
	s.t.Helper()
	s.update(name, func(g *deepcallv1.AgentGroup) {
		if g.Annotations == nil {
			g.Annotations = map[string]string{}
		}
		g.Annotations["test/touch"] = time.Now().Format(time.RFC3339Nano)
	})
}

func zapLevel() int8 {
	if os.Getenv("TEST_VERBOSE") != "" {
		return -1
	}
	return 3 // quiet: the stories print their own failures (TEST_VERBOSE=1 for logs)
}

var ctxBG = context.Background()

func key(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

func findCondition(g *deepcallv1.AgentGroup, typ string) *metav1.Condition {
	return meta.FindStatusCondition(g.Status.Conditions, typ)
}

// waitGone waits until the AgentGroup no longer exists.
func (s *story) waitGone(name string) {
	s.t.Helper()
	s.eventually(20*time.Second, func() error {
		err := k8s.Get(ctxBG, key(s.ns, name), &deepcallv1.AgentGroup{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("AgentGroup %s still exists (%v)", name, err)
	})
}
