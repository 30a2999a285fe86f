package plugin

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	deepcallv1 "github.com/agentgroups/agentgroup-operator/api/v1alpha1"
)

// Step one reads the Account (or ClusterAccount), its baseURL and its
// Secret: a line for each, the credentials' form named, never a value.
func TestDoctorChecksTheAccount(t *testing.T) {
	account := func(baseURL string) *deepcallv1.Account {
		return &deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "team-a"},
			Spec: deepcallv1.AccountSpec{BaseURL: baseURL, CredentialsSecretRef: deepcallv1.SecretReference{Name: "creds"}}}
	}
	secret := func(data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "team-a"}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	cluster := &deepcallv1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: "shared"},
		Spec: deepcallv1.ClusterAccountSpec{AccountSpec: deepcallv1.AccountSpec{BaseURL: "https://brand.example.com",
			CredentialsSecretRef: deepcallv1.SecretReference{Name: "creds", Namespace: "team-a"}}}}
	cases := map[string]struct {
		objects  []client.Object
		key      types.NamespacedName
		loopback bool
		want     []string
		calls    bool // the API checks would run
	}{
		"userId and token": {
			objects: []client.Object{account("https://brand.example.com"), secret(map[string]string{"userId": "20016", "token": "t0ken-value"})},
			want: []string{`  ok    account: Account team-a/default, baseURL https://brand.example.com`,
				`  ok    credentials: Secret team-a/creds holds userId and token \(user 20016\)`},
			calls: true,
		},
		"ssid, through a ClusterAccount": {
			objects: []client.Object{cluster, secret(map[string]string{"ssid": "ss1d-value"})},
			key:     types.NamespacedName{Name: "shared"},
			want: []string{`  ok    account: ClusterAccount shared, baseURL https://brand.example.com`,
				`  ok    credentials: Secret team-a/creds holds ssid`},
			calls: true,
		},
		"no such Account": {
			want: []string{`  FAIL  account: Account "default" in namespace team-a not found`},
		},
		"plain http without --allow-insecure-loopback": {
			objects: []client.Object{account("http://127.0.0.1:8080"), secret(map[string]string{"ssid": "ss1d-value"})},
			want:    []string{`  FAIL  account: Account team-a/default, baseURL http://127.0.0.1:8080 is plain http: pass --allow-insecure-loopback to call it .*`},
		},
		"plain http with --allow-insecure-loopback": {
			objects:  []client.Object{account("http://127.0.0.1:8080"), secret(map[string]string{"ssid": "ss1d-value"})},
			loopback: true,
			want:     []string{`  ok    account: Account team-a/default, baseURL http://127.0.0.1:8080 \(plain http to a loopback host, allowed by --allow-insecure-loopback\)`},
			calls:    true,
		},
		"plain http to another host": {
			objects:  []client.Object{account("http://brand.example.com"), secret(map[string]string{"ssid": "ss1d-value"})},
			loopback: true,
			want:     []string{`  FAIL  account: Account team-a/default: baseURL "http://brand.example.com" must use https .*InvalidBaseURL\)`},
		},
		"no Secret": {
			objects: []client.Object{account("https://brand.example.com")},
			want:    []string{`  FAIL  credentials: Account team-a/default: credentials Secret "creds" not found in namespace team-a`},
		},
		"a Secret with both forms": {
			objects: []client.Object{account("https://brand.example.com"), secret(map[string]string{"ssid": "ss1d-value", "userId": "20016", "token": "t0ken-value"})},
			want:    []string{`  FAIL  credentials: Account team-a/default: Secret creds must hold either the key ssid, or the keys userId and token \(non-empty\); it holds \[ssid, token, userId\]`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tc.objects...).Build()
			f := &Factory{AllowInsecureLoopback: tc.loopback, Streams: genericiooptions.NewTestIOStreamsDiscard()}
			key := tc.key
			if key.Name == "" {
				key = types.NamespacedName{Namespace: "team-a", Name: "default"}
			}
			r := &report{}
			d := (&doctorOptions{}).checkAccount(context.Background(), f, c, key, r)
			var out bytes.Buffer
			r.print(&out)
			t.Logf("%s", out.String())
			lines(t, out.String(), tc.want...)
			if (d != nil) != tc.calls {
				t.Errorf("API checks to run: %v, want %v", d != nil, tc.calls)
			}
			if strings.Contains(out.String(), "t0ken-value") || strings.Contains(out.String(), "ss1d-value") {
				t.Error("the output holds a credential")
			}
		})
	}
}

// doctor reads the Secret once: the user its line names is the user its
// client calls as, even when the Secret is rotated while doctor runs.
func TestDoctorReadsTheSecretOnce(t *testing.T) {
	account := &deepcallv1.Account{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "team-a"},
		Spec: deepcallv1.AccountSpec{BaseURL: "https://brand.example.com", CredentialsSecretRef: deepcallv1.SecretReference{Name: "creds"}}}
	reads := 0
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(account).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			s, ok := obj.(*corev1.Secret)
			if !ok {
				return c.Get(ctx, key, obj, opts...)
			}
			// Each read sees the next rotation: user 20016, then 20017, ...
			s.ObjectMeta = metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}
			s.Data = map[string][]byte{"userId": []byte(fmt.Sprint(20016 + reads)), "token": []byte("t0ken-value")}
			reads++
			return nil
		},
	}).Build()
	f := &Factory{Streams: genericiooptions.NewTestIOStreamsDiscard()}
	r := &report{}
	d := (&doctorOptions{}).checkAccount(context.Background(), f, c, types.NamespacedName{Namespace: "team-a", Name: "default"}, r)
	var out bytes.Buffer
	r.print(&out)
	lines(t, out.String(), `  ok    credentials: Secret team-a/creds holds userId and token \(user 20016\)`)
	if reads != 1 {
		t.Errorf("the Secret was read %d times, want once", reads)
	}
	if d == nil || d.expect.UserID != "20016" {
		t.Errorf("the API checks expect %+v, want user 20016", d)
	}
}
