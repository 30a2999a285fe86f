package plugin

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
	"github.com/agentgroups/agentgroup-operator/internal/groupapi"
)

// Account is an Account or a ClusterAccount, read from the cluster.
type Account struct {
	// Key has no namespace for a ClusterAccount.
	Key    types.NamespacedName
	Spec   deepcallv1.AccountSpec
	Status deepcallv1.AccountStatus
	// ClusterAccount is the ClusterAccount read (nil for an Account): its
	// allowedNamespaces decide which namespaces may use it.
	ClusterAccount *deepcallv1.ClusterAccount
}

// Kind is "Account" or "ClusterAccount".
func (a *Account) Kind() string {
	if a.Key.Namespace == "" {
		return deepcallv1.KindClusterAccount
	}
	return deepcallv1.KindAccount
}

// String names the account as people write it: Account ns/name or
// ClusterAccount name.
func (a *Account) String() string {
	if a.Key.Namespace == "" {
		return "ClusterAccount " + a.Key.Name
	}
	return fmt.Sprintf("Account %s/%s", a.Key.Namespace, a.Key.Name)
}

// Ref is how an AgentGroup in the account's namespace (any namespace, for
// a ClusterAccount) names it.
func (a *Account) Ref() deepcallv1.AccountReference {
	if a.Key.Namespace == "" {
		return deepcallv1.AccountReference{Kind: deepcallv1.KindClusterAccount, Name: a.Key.Name}
	}
	return deepcallv1.AccountReference{Name: a.Key.Name}
}

// GetAccount reads an Account (key with a namespace) or a ClusterAccount
// (key without).
func GetAccount(ctx context.Context, c client.Client, key types.NamespacedName) (*Account, error) {
	if key.Namespace == "" {
		ca := &deepcallv1.ClusterAccount{}
		if err := c.Get(ctx, key, ca); err != nil {
			return nil, notFoundSays(err, "ClusterAccount %q", key.Name)
		}
		return &Account{Key: key, Spec: ca.Spec.AccountSpec, Status: ca.Status, ClusterAccount: ca}, nil
	}
	a := &deepcallv1.Account{}
	if err := c.Get(ctx, key, a); err != nil {
		return nil, notFoundSays(err, "Account %q in namespace %s", key.Name, key.Namespace)
	}
	return &Account{Key: key, Spec: a.Spec, Status: a.Status}, nil
}

func notFoundSays(err error, format string, args ...any) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf(format+" not found", args...)
	}
	return err
}

// requestTimeout bounds one Group API request of the plugin.
const requestTimeout = 30 * time.Second

// Connect reads the account's credentials (Credentials) and builds a
// client of its remote account with them (NewClient).
func (f *Factory) Connect(ctx context.Context, c client.Client, a *Account) (*groupapi.Client, error) {
	creds, err := f.Credentials(ctx, c, a)
	if err != nil {
		return nil, err
	}
	return f.NewClient(a, creds)
}

// Credentials reads the account's credentials Secret with the person's
// own rights. Nothing secret is ever printed: errors name the Secret and
// its keys, never values.
func (f *Factory) Credentials(ctx context.Context, c client.Client, a *Account) (groupapi.Credentials, error) {
	key := a.Spec.CredentialsSecretRef.Key(a.Key.Namespace)
	secret := &corev1.Secret{}
	if err := c.Get(ctx, key, secret); err != nil {
		switch {
		case apierrors.IsNotFound(err):
			return groupapi.Credentials{}, fmt.Errorf("%s: credentials Secret %q not found in namespace %s", a, key.Name, key.Namespace)
		case apierrors.IsForbidden(err):
			return groupapi.Credentials{}, fmt.Errorf("%s: your kubeconfig may not read its credentials Secret %s/%s (get secrets): the plugin calls the Group API with those credentials", a, key.Namespace, key.Name)
		}
		return groupapi.Credentials{}, fmt.Errorf("%s: read credentials Secret %s/%s: %w", a, key.Namespace, key.Name, err)
	}
	creds, err := groupapi.CredentialsFromSecret(secret.Name, secret.Data)
	if err != nil {
		return groupapi.Credentials{}, fmt.Errorf("%s: %w", a, err)
	}
	return creds, nil
}

// NewClient builds a client of the account's remote account with creds,
// at the Account's rate limit.
func (f *Factory) NewClient(a *Account, creds groupapi.Credentials) (*groupapi.Client, error) {
	gc, err := groupapi.New(groupapi.Options{
		BaseURL:               a.Spec.BaseURL,
		Credentials:           creds,
		RequestsPerSecond:     float64(a.Spec.RequestsPerSecond),
		Burst:                 int(a.Spec.Burst),
		Timeout:               requestTimeout,
		AllowInsecureLoopback: f.AllowInsecureLoopback,
	})
	if be, ok := err.(*groupapi.BaseURLError); ok && be.InsecureLoopback {
		return nil, fmt.Errorf("%s: baseURL %s is plain http: pass --allow-insecure-loopback to call it", a, a.Spec.BaseURL)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a, err)
	}
	return gc, nil
}

// readAttempts bounds how often a read is sent again after a 429 or a
// retryable error: reads are safe to repeat.
const readAttempts = 5

// Read runs a read call, sending it again after a 429 (once its
// Retry-After has passed: the client holds later calls until then) or a
// retryable error. Never for writes.
func Read[T any](ctx context.Context, read func(context.Context) (T, error)) (T, error) {
	var (
		out T
		err error
	)
	for try := range readAttempts {
		if out, err = read(ctx); err == nil || !groupapi.IsRetryable(err) {
			return out, err
		}
		if _, held := groupapi.HeldUntil(err); !held {
			select {
			case <-time.After(time.Duration(try+1) * 500 * time.Millisecond):
			case <-ctx.Done():
				return out, ctx.Err()
			}
		}
	}
	return out, err
}
