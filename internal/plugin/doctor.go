package plugin

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// doctorOptions are doctor's flags.
type doctorOptions struct {
	account, clusterAccount string
	probeWrites             bool
}

func newDoctorCommand(f *Factory) *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor (--account NAME [-n NAMESPACE] | --cluster-account NAME) [--probe-write-endpoints]",
		Short: "Check an account's Group API against what the operator expects",
		Long: `doctor checks, with an Account's (or ClusterAccount's) credentials, that
the brand host's Group API answers as the operator expects: the Account and
its Secret, the credentials, the AGENT_TO_AGENT_CALL permission, the shape
of every answer the operator reads (field names, id types, list wrapping,
error codes and the HTTP status errors come with), latency, Retry-After and
redirects. Each check is a line: ok, warn (differs from GROUP_API.md but the
operator copes), FAIL (would break reconciling) or skip.

doctor only reads: list and getGroupAgentRelation. It never calls add (that
would create a group), and by default not update, delete or
submitAssignGroupToAgent either: their lines say skip.

--probe-write-endpoints sends those three once each, for a group id no
listing shows and that getGroupAgentRelation has just answered 1503 for; a
correct API answers 1503 again and changes nothing. The risk: 1503 means
"not found or not authorized", so it does not prove that no group has that
id. Should one exist that the credentials may not read, the probes could
rename it, delete it or empty its members. Use the flag on an account you
may change, when the write endpoints' answers matter (a new brand host, an
operator that fails on writes).

Exit status: 0 when no check FAILs (warnings do not fail), 1 otherwise.`,
		Example: `  # Check the Account "default" of namespace team-a (reads only)
  kubectl agentgroup doctor --account default -n team-a

  # Check a ClusterAccount, write endpoints included (see the risk above)
  kubectl agentgroup doctor --cluster-account shared --probe-write-endpoints`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), f)
		},
	}
	cmd.Flags().StringVar(&o.account, "account", "", "the Account to check (in the namespace -n or the context selects)")
	cmd.Flags().StringVar(&o.clusterAccount, "cluster-account", "", "the ClusterAccount to check")
	cmd.Flags().BoolVar(&o.probeWrites, "probe-write-endpoints", false, "also send update, delete and submitAssignGroupToAgent, for a group id that getGroupAgentRelation answered 1503 for (1503 also means not authorized: a group the credentials may not read could change)")
	cmd.MarkFlagsMutuallyExclusive("account", "cluster-account")
	cmd.MarkFlagsOneRequired("account", "cluster-account")
	return cmd
}

func (o *doctorOptions) run(ctx context.Context, f *Factory) error {
	key := types.NamespacedName{Name: o.clusterAccount}
	if o.account != "" {
		ns, err := f.Namespace()
		if err != nil {
			return err
		}
		key = types.NamespacedName{Namespace: ns, Name: o.account}
	}
	c, err := f.Client()
	if err != nil {
		return err
	}
	r := &report{}
	if d := o.checkAccount(ctx, f, c, key, r); d != nil {
		d.run(ctx, r)
	}
	r.print(f.Streams.Out)
	if r.failed() {
		return exitCode(ExitError)
	}
	return nil
}

// checkAccount is step one: the Account, its baseURL and its credentials
// Secret, read with the person's own rights. It returns the API checks to
// run, or nil when the Account cannot be called (its lines say why).
func (o *doctorOptions) checkAccount(ctx context.Context, f *Factory, c client.Client, key types.NamespacedName, r *report) *apiDoctor {
	s := r.section(sectionAccount)
	a, err := GetAccount(ctx, c, key)
	if err != nil {
		s.add(verdictFail, "account", "%v", err)
		return nil
	}
	r.header = fmt.Sprintf("Checking %s: %s/api/v2/Group/", a, strings.TrimRight(a.Spec.BaseURL, "/"))
	if err := groupapi.ValidateBaseURL(a.Spec.BaseURL); err != nil {
		s.add(verdictFail, "account", "%s: %v (the operator would stall it with InvalidBaseURL)", a, err)
		return nil
	}
	switch u, _ := url.Parse(a.Spec.BaseURL); {
	case u.Scheme == "http" && !f.AllowInsecureLoopback:
		s.add(verdictFail, "account", "%s, baseURL %s is plain http: pass --allow-insecure-loopback to call it (the manager needs its flag of the same name)", a, a.Spec.BaseURL)
		return nil
	case u.Scheme == "http":
		s.add(verdictOK, "account", "%s, baseURL %s (plain http to a loopback host, allowed by --allow-insecure-loopback)", a, a.Spec.BaseURL)
	default:
		s.add(verdictOK, "account", "%s, baseURL %s", a, a.Spec.BaseURL)
	}

	// One read of the Secret: the user the line names is the one the
	// client calls as.
	creds, err := f.Credentials(ctx, c, a)
	if err != nil {
		s.add(verdictFail, "credentials", "%v", err)
		return nil
	}
	secret := a.Spec.CredentialsSecretRef.Key(a.Key.Namespace)
	if creds.SSID != "" {
		s.add(verdictOK, "credentials", "Secret %s holds ssid", secret)
	} else {
		s.add(verdictOK, "credentials", "Secret %s holds userId and token (user %s)", secret, creds.UserID)
	}
	gc, err := f.NewClient(a, creds)
	if err != nil {
		s.add(verdictFail, "account", "%v", err)
		return nil
	}
	return &apiDoctor{
		client:      gc,
		probeWrites: o.probeWrites,
		expect:      expectations{UserID: creds.UserID, RemoteAccount: a.Status.RemoteAccount, BaseURL: a.Spec.BaseURL},
	}
}
