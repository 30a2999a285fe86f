// Command manager runs the agentgroup-operator: the Account, ClusterAccount
// and AgentGroup controllers, against the cluster in KUBECONFIG (or
// in-cluster config).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/controllers"
	"github.com/agentgroups/agentgroup-operator/internal/accounts"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
	"github.com/agentgroups/agentgroup-operator/internal/version"
)

// parseDeletionPolicy accepts the two deletionPolicy values, spelled as in
// the API.
func parseDeletionPolicy(s string) (deepcallv1.DeletionPolicy, error) {
	switch p := deepcallv1.DeletionPolicy(s); p {
	case deepcallv1.DeletionDelete, deepcallv1.DeletionOrphan:
		return p, nil
	}
	return "", fmt.Errorf("%q is not a deletion policy: use Delete or Orphan", s)
}

func main() {
	var (
		metricsAddr    string
		probeAddr      string
		leaderElect    bool
		leaderNS       string
		concurrency    int
		requestTimeout time.Duration
		secureMetrics  bool
		metricsCerts   string
		pprofAddr      string
		watchNS        string
		createSettle   time.Duration
		maxRetryAfter  time.Duration
		watchSelector  string
		insecureLocal  bool
		deletion       string
		printVersion   bool
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address the metrics endpoint binds to; 0 disables it.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"Serve the metrics over HTTPS to Kubernetes users allowed to get /metrics (TokenReview, SubjectAccessReview); false: plain HTTP, no authentication.")
	flag.StringVar(&metricsCerts, "metrics-cert-path", "",
		"Directory holding the metrics server's tls.crt and tls.key (reloaded when they change); empty: a self-signed certificate made at start.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Loopback address serving /debug/pprof (e.g. 127.0.0.1:6060); empty: off.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one manager reconciles at a time.")
	flag.StringVar(&leaderNS, "leader-election-namespace", "", "Namespace of the leader-election Lease; needed outside a cluster.")
	flag.IntVar(&concurrency, "max-concurrent-reconciles", 16, "AgentGroups reconciled in parallel (each Account's rate limit still applies).")
	flag.DurationVar(&requestTimeout, "request-timeout", 30*time.Second, "Timeout of one Group API request.")
	flag.DurationVar(&createSettle, "create-settle", 5*time.Minute,
		"How long after an add call whose answer was lost or unclear its group may still appear in listings (the API's read-after-write lag). "+
			"Only after it is the group added again; longer only delays that rare retry, shorter risks a twin.")
	flag.DurationVar(&maxRetryAfter, "max-retry-after", groupapi.DefaultMaxRetryAfter,
		"The longest pause one 429's Retry-After imposes on a remote account's calls (a longer one is cut to this).")
	flag.StringVar(&watchSelector, "watch-label-selector", "",
		"Reconcile only the Accounts, ClusterAccounts and AgentGroups whose labels match this selector (sharding; empty: all). "+
			"A shard runs with "+deepcallv1.ShardLabel+"=NAME, the default manager of a sharded install with '!"+deepcallv1.ShardLabel+"'.")
	flag.BoolVar(&insecureLocal, "allow-insecure-loopback", false,
		"Let an Account's baseURL use plain http:// to 127.0.0.1, [::1] or localhost (a local simulator, demos, tests). Off: https:// only.")
	flag.StringVar(&watchNS, "watch-namespaces", "",
		"Comma-separated namespaces to cache and reconcile (a namespaced install: the manager needs permissions only there); empty: all namespaces.")
	flag.StringVar(&deletion, "default-deletion-policy", string(deepcallv1.DeletionDelete),
		"What deleting an AgentGroup that sets no spec.deletionPolicy does to its remote group: Delete, or Orphan to keep it.")
	flag.BoolVar(&printVersion, "version", false, "Print the version stamped at build time and exit.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	if printVersion {
		fmt.Println(version.Version)
		os.Exit(0)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")
	shard, err := parseWatchSelector(watchSelector)
	if err != nil {
		log.Error(err, "Unable to use --watch-label-selector")
		os.Exit(1)
	}
	namespaces, err := parseWatchNamespaces(watchNS)
	if err != nil {
		log.Error(err, "Unable to use --watch-namespaces")
		os.Exit(1)
	}
	defaultDeletion, err := parseDeletionPolicy(deletion)
	if err != nil {
		log.Error(err, "Unable to use --default-deletion-policy")
		os.Exit(1)
	}
	if err := checkPprofAddress(pprofAddr); err != nil {
		log.Error(err, "Unable to use --pprof-bind-address")
		os.Exit(1)
	}
	metricsOpts, metricsCertWatcher, err := metricsOptions(metricsAddr, secureMetrics, metricsCerts)
	if err != nil {
		log.Error(err, "Unable to set up the metrics server")
		os.Exit(1)
	}
	leaderID := leaderElectionID("agentgroup-operator.deepcall.agentgroups.dev", shard)

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(deepcallv1.AddToScheme(scheme))

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOpts,
		PprofBindAddress:        pprofAddr,
		Cache:                   inNamespaces(cacheOptions(shard), namespaces),
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        leaderID,
		LeaderElectionNamespace: leaderNS,
		// The process exits soon after losing the lease, so a new leader
		// may start at once.
		LeaderElectionReleaseOnCancel: true,
		// On SIGTERM, passes already running finish their remote calls and
		// status writes (a pass makes at most a few calls, each bounded by
		// --request-timeout); config/manager's terminationGracePeriodSeconds
		// covers this.
		GracefulShutdownTimeout: ptr.To(2*requestTimeout + 10*time.Second),
	})
	if err != nil {
		log.Error(err, "Unable to create the manager")
		os.Exit(1)
	}
	if err := groupapi.RegisterMetrics(ctrlmetrics.Registry); err != nil {
		log.Error(err, "Unable to register the Group API metrics")
		os.Exit(1)
	}
	if metricsCertWatcher != nil {
		if err := mgr.Add(metricsCertWatcher); err != nil {
			log.Error(err, "Unable to watch the metrics certificate")
			os.Exit(1)
		}
	}
	ctx := ctrl.SetupSignalHandler()
	// ClusterAccounts are served unless the manager is confined to
	// namespaces, where it may not read cluster-scoped objects.
	clusterAccounts := len(namespaces) == 0
	if err := controllers.SetupIndexes(ctx, mgr, clusterAccounts); err != nil {
		log.Error(err, "Unable to set up field indexes")
		os.Exit(1)
	}

	registry := accounts.NewRegistry(nil)
	if err := (&controllers.AccountReconciler{
		Client:                mgr.GetClient(),
		APIReader:             mgr.GetAPIReader(),
		Recorder:              mgr.GetEventRecorder("account-controller"),
		Accounts:              registry,
		RequestTimeout:        requestTimeout,
		MaxRetryAfter:         maxRetryAfter,
		ClusterAccounts:       clusterAccounts,
		AllowInsecureLoopback: insecureLocal,
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "Unable to set up the Account controller")
		os.Exit(1)
	}
	if err := (&controllers.AgentGroupReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("agentgroup-controller"),
		Accounts:                registry,
		CreateSettle:            createSettle,
		MaxConcurrentReconciles: concurrency,
		ClusterAccounts:         clusterAccounts,
		DefaultDeletionPolicy:   defaultDeletion,
	}).SetupWithManager(mgr); err != nil {
		log.Error(err, "Unable to set up the AgentGroup controller")
		os.Exit(1)
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up the health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up the ready check")
		os.Exit(1)
	}
	log.Info("Starting the manager", "watchLabelSelector", watchSelector, "watchNamespaces", namespaces, "leaderElectionID", leaderID)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "The manager stopped")
		os.Exit(1)
	}
}
