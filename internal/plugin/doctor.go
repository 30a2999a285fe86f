package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// doctorOptions are doctor's flags.
type doctorOptions struct {
	account, clusterAccount string
	skipWrites              bool
}

func newDoctorCommand(f *Factory) *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor (--account NAME [-n NAMESPACE] | --cluster-account NAME)",
		Short: "Check an account's Group API against what the operator expects",
		Long: `doctor checks, with an Account's (or ClusterAccount's) credentials, that
the brand host's Group API answers as the operator expects: the Account and
its Secret, the credentials, the AGENT_TO_AGENT_CALL permission, the shape
of every answer the operator reads (field names, id types, list wrapping,
error codes and the HTTP status errors come with), latency, Retry-After and
redirects. Each check is a line: ok, warn (differs from GROUP_API.md but the
operator copes), FAIL (would break reconciling) or skip.

doctor changes nothing. It never calls add (that would create a group). It
probes update, delete and submitAssignGroupToAgent only with a group id no
listing shows, after getGroupAgentRelation answered 1503 for it: a correct
API answers 1503 again and changes nothing. --skip-write-endpoints sends no
probe at all.

Exit status: 0 when no check FAILs (warnings do not fail), 1 otherwise.`,
		Example: `  # Check the Account "default" of namespace team-a
  kubectl agentgroup doctor --account default -n team-a

  # Check a ClusterAccount, without even the probes to an absent group
  kubectl agentgroup doctor --cluster-account shared --skip-write-endpoints`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), f)
		},
	}
	cmd.Flags().StringVar(&o.account, "account", "", "the Account to check (in the namespace -n or the context selects)")
	cmd.Flags().StringVar(&o.clusterAccount, "cluster-account", "", "the ClusterAccount to check")
	cmd.Flags().BoolVar(&o.skipWrites, "skip-write-endpoints", false, "do not probe update, delete and submitAssignGroupToAgent (even with a group id that does not exist)")
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

	gc, err := f.Connect(ctx, c, a)
	if err != nil {
		s.add(verdictFail, "credentials", "%v", err)
		return nil
	}
	creds, secret, err := credentialsOf(ctx, c, a)
	if err != nil {
		s.add(verdictFail, "credentials", "%v", err)
		return nil
	}
	if creds.SSID != "" {
		s.add(verdictOK, "credentials", "Secret %s holds ssid", secret)
	} else {
		s.add(verdictOK, "credentials", "Secret %s holds userId and token (user %s)", secret, creds.UserID)
	}
	return &apiDoctor{
		client:     gc,
		skipWrites: o.skipWrites,
		expect:     expectations{UserID: creds.UserID, RemoteAccount: a.Status.RemoteAccount, BaseURL: a.Spec.BaseURL},
	}
}

// credentialsOf reads the account's credentials to name their form and
// user (never a secret value); Connect has just read the same Secret.
func credentialsOf(ctx context.Context, c client.Client, a *Account) (groupapi.Credentials, types.NamespacedName, error) {
	key := a.Spec.CredentialsSecretRef.Key(a.Key.Namespace)
	secret := &corev1.Secret{}
	if err := c.Get(ctx, key, secret); err != nil {
		return groupapi.Credentials{}, key, fmt.Errorf("%s: read credentials Secret %s: %w", a, key, err)
	}
	creds, err := groupapi.CredentialsFromSecret(secret.Name, secret.Data)
	if err != nil {
		return groupapi.Credentials{}, key, errors.New(a.String() + ": " + err.Error())
	}
	return creds, key, nil
}
