package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/agentgroups/agentgroup-operator/internal/testenv"
)

// k is a client of the real kube-apiserver that envtest started.
var k client.Client

func TestMain(m *testing.M) {
	testenv.Main(m, func(cfg *rest.Config) error {
		scheme := runtime.NewScheme()
		if err := corev1.AddToScheme(scheme); err != nil {
			return err
		}
		var err error
		k, err = client.New(cfg, client.Options{Scheme: scheme})
		return err
	})
}

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"}}
	if err := k.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// object decodes a YAML manifest into an unstructured object in ns.
func object(t *testing.T, ns, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatalf("bad test manifest: %v\n%s", err, manifest)
	}
	u.SetNamespace(ns)
	return u
}

func TestSamplesAreAccepted(t *testing.T) {
	ns := namespace(t)
	dir := filepath.Join(testenv.RepoRoot(), "config", "samples")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("expected the Secret, Account and three AgentGroup samples in %s, found %v (%v)", dir, files, err)
	}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(raw)), 4096).Decode(&u.Object); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		u.SetNamespace(ns)
		if err := k.Create(context.Background(), u); err != nil {
			t.Errorf("sample %s rejected: %v", filepath.Base(f), err)
		}
	}
}

func TestDefaults(t *testing.T) {
	ns := namespace(t)
	ag := object(t, ns, `
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: AgentGroup
metadata: {name: minimal}
spec: {}
`)
	if err := k.Create(context.Background(), ag); err != nil {
		t.Fatalf("create minimal AgentGroup: %v", err)
	}
	want := map[string]any{
		"accountRef":       map[string]any{"kind": "Account", "name": "default"},
		"enabled":          true,
		"managementPolicy": "Manage",
		"adoptionPolicy":   "Never",
		// Unset: the manager's --default-deletion-policy decides.
		"deletionPolicy": nil,
	}
	for field, v := range want {
		got, _, _ := unstructured.NestedFieldNoCopy(ag.Object, "spec", field)
		if fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("spec.%s defaulted to %v, want %v", field, got, v)
		}
	}
	acct := object(t, ns, `
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: Account
metadata: {name: default}
spec: {baseURL: "https://ctv3-dev.sarv.com", credentialsSecretRef: {name: creds}}
`)
	if err := k.Create(context.Background(), acct); err != nil {
		t.Fatalf("create minimal Account: %v", err)
	}
	for field, v := range map[string]any{"requestsPerSecond": int64(5), "burst": int64(10), "syncInterval": "10m"} {
		got, _, _ := unstructured.NestedFieldNoCopy(acct.Object, "spec", field)
		if fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("Account spec.%s defaulted to %v, want %v", field, got, v)
		}
	}
}

// TestRejected is the list of what the API server refuses at `kubectl apply`,
// with the message a person sees. Each manifest is otherwise valid.
func TestRejected(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	manyMembers := make([]string, 5001)
	for i := range manyMembers {
		manyMembers[i] = fmt.Sprintf("%q", fmt.Sprint(10000+i))
	}
	group := func(spec string) string {
		return "apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: g}\nspec: " + spec
	}
	account := func(spec string) string {
		return "apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: Account\nmetadata: {name: a}\nspec: " + spec
	}
	const creds = `credentialsSecretRef: {name: creds}`

	cases := map[string]struct {
		manifest string
		message  string
	}{
		"receiver that is not a member": {
			manifest: group(`{members: ["1001"], receiveCall: ["1001", "1002"]}`),
			message:  "receiveCall entries must also be listed in members",
		},
		"receivers without members": {
			manifest: group(`{receiveCall: ["1001"]}`),
			message:  "receiveCall entries must also be listed in members",
		},
		"member listed twice": {
			manifest: group(`{members: ["1001", "1001"]}`),
			message:  `spec.members[1]: Duplicate value: "1001"`,
		},
		"receiver listed twice": {
			manifest: group(`{members: ["1001"], receiveCall: ["1001", "1001"]}`),
			message:  `spec.receiveCall[1]: Duplicate value: "1001"`,
		},
		"member id with a space": {
			manifest: group(`{members: ["10 01"]}`),
			message:  `spec.members[0]: Invalid value: "10 01": spec.members[0] in body should match '^[A-Za-z0-9_-]{1,64}$'`,
		},
		"member id longer than 64": {
			manifest: group(`{members: ["` + long(65) + `"]}`),
			message:  "spec.members[0]: Too long: may not be more than 64 bytes",
		},
		"more than 5000 members": {
			manifest: group(`{members: [` + strings.Join(manyMembers, ",") + `]}`),
			message:  "spec.members: Too many: 5001: must have at most 5000 items",
		},
		"more than 1000 receivers": {
			manifest: group(`{members: [` + strings.Join(manyMembers[:1001], ",") + `], receiveCall: [` + strings.Join(manyMembers[:1001], ",") + `]}`),
			message:  "spec.receiveCall: Too many: 1001: must have at most 1000 items",
		},
		"groupName with a leading space": {
			manifest: group(`{groupName: " Sales"}`),
			message:  "groupName must not start or end with a space",
		},
		"groupName with a trailing space": {
			manifest: group(`{groupName: "Sales "}`),
			message:  "groupName must not start or end with a space",
		},
		"empty groupName": {
			manifest: group(`{groupName: ""}`),
			message:  "spec.groupName: Invalid value: \"\": spec.groupName in body should be at least 1 chars long",
		},
		"groupName longer than 100": {
			manifest: group(`{groupName: "` + long(101) + `"}`),
			message:  "spec.groupName: Too long: may not be more than 100 bytes",
		},
		"metadata.name longer than 100 without groupName": {
			manifest: "apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: " + long(101) + "}\nspec: {}",
			message:  "metadata.name is longer than 100 characters: set spec.groupName",
		},
		"unknown managementPolicy": {
			manifest: group(`{managementPolicy: Sometimes}`),
			message:  `spec.managementPolicy: Unsupported value: "Sometimes": supported values: "Manage", "Observe"`,
		},
		"unknown deletionPolicy": {
			manifest: group(`{deletionPolicy: Keep}`),
			message:  `spec.deletionPolicy: Unsupported value: "Keep": supported values: "Delete", "Orphan"`,
		},
		"unknown adoptionPolicy": {
			manifest: group(`{adoptionPolicy: Always}`),
			message:  `spec.adoptionPolicy: Unsupported value: "Always": supported values: "Never", "ByName"`,
		},
		"groupId with a slash": {
			manifest: group(`{groupId: "12/13"}`),
			message:  "spec.groupId in body should match",
		},
		"enabled as a string": {
			manifest: group(`{enabled: "yes"}`),
			message:  `spec.enabled: Invalid value: "string": spec.enabled in body must be of type boolean`,
		},
		"Account with http to a remote host": {
			manifest: account(`{baseURL: "http://ctv3-dev.sarv.com", ` + creds + `}`),
			message:  "baseURL must use https:// (http:// is allowed only for 127.0.0.1, [::1] and localhost)",
		},
		"Account baseURL without a scheme": {
			manifest: account(`{baseURL: "ctv3-dev.sarv.com", ` + creds + `}`),
			message:  "baseURL must be an absolute URL such as https://ctv3-dev.sarv.com",
		},
		"Account baseURL with another scheme": {
			manifest: account(`{baseURL: "ftp://ctv3-dev.sarv.com", ` + creds + `}`),
			message:  "baseURL must be an absolute URL such as https://ctv3-dev.sarv.com",
		},
		"Account baseURL with a query": {
			manifest: account(`{baseURL: "https://ctv3-dev.sarv.com/?x=1", ` + creds + `}`),
			message:  "baseURL must not contain a query or fragment",
		},
		"Account without credentialsSecretRef": {
			manifest: account(`{baseURL: "https://ctv3-dev.sarv.com"}`),
			message:  "spec.credentialsSecretRef: Required value",
		},
		"Account with an empty Secret name": {
			manifest: account(`{baseURL: "https://ctv3-dev.sarv.com", credentialsSecretRef: {name: ""}}`),
			message:  "spec.credentialsSecretRef.name in body should be at least 1 chars long",
		},
		"Account syncInterval under 30s": {
			manifest: account(`{baseURL: "https://ctv3-dev.sarv.com", syncInterval: 10s, ` + creds + `}`),
			message:  "syncInterval must be at least 30s",
		},
		"Account syncInterval that is not a duration": {
			manifest: account(`{baseURL: "https://ctv3-dev.sarv.com", syncInterval: "ten minutes", ` + creds + `}`),
			message:  "spec.syncInterval in body should match",
		},
		"Account naming a Secret in another namespace": {
			manifest: account(`{baseURL: "https://ctv3-dev.sarv.com", credentialsSecretRef: {name: creds, namespace: kube-system}}`),
			message:  "an Account's credentialsSecretRef cannot name a namespace",
		},
		"unknown accountRef kind": {
			manifest: group(`{accountRef: {kind: Secret, name: x}}`),
			message:  `spec.accountRef.kind: Unsupported value: "Secret": supported values: "Account", "ClusterAccount"`,
		},
		"Account requestsPerSecond of 0": {
			manifest: account(`{baseURL: "https://ctv3-dev.sarv.com", requestsPerSecond: 0, ` + creds + `}`),
			message:  "spec.requestsPerSecond: Invalid value: 0: spec.requestsPerSecond in body should be greater than or equal to 1",
		},
	}
	ns := namespace(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := k.Create(context.Background(), object(t, ns, tc.manifest), client.DryRunAll)
			if err == nil {
				t.Fatalf("accepted, want rejection with %q", tc.message)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("rejected with\n  %v\nwant a message containing\n  %s", err, tc.message)
			}
		})
	}
}

// A ClusterAccount is cluster-scoped, so it must say where its Secret is.
func TestClusterAccountNamesTheSecretNamespace(t *testing.T) {
	manifest := func(ref string) *unstructured.Unstructured {
		return object(t, "", `
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: ClusterAccount
metadata: {name: shared}
spec: {baseURL: "https://ctv3-dev.sarv.com", credentialsSecretRef: `+ref+`, allowedNamespaces: {}}
`)
	}
	err := k.Create(context.Background(), manifest(`{name: creds}`), client.DryRunAll)
	if want := "a ClusterAccount's credentialsSecretRef must name the Secret's namespace"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ClusterAccount without the Secret's namespace: %v, want %q", err, want)
	}
	if err := k.Create(context.Background(), manifest(`{name: creds, namespace: platform}`), client.DryRunAll); err != nil {
		t.Errorf("ClusterAccount with the Secret's namespace rejected: %v", err)
	}
}

func TestAccepted(t *testing.T) {
	cases := map[string]string{
		"http on 127.0.0.1":           `{kind: Account, spec: {baseURL: "http://127.0.0.1:8080", credentialsSecretRef: {name: c}}}`,
		"http on [::1]":               `{kind: Account, spec: {baseURL: "http://[::1]:8080", credentialsSecretRef: {name: c}}}`,
		"http on localhost":           `{kind: Account, spec: {baseURL: "http://localhost", credentialsSecretRef: {name: c}}}`,
		"https with a path":           `{kind: Account, spec: {baseURL: "https://v4-api.deepcall.com/", credentialsSecretRef: {name: c}}}`,
		"syncInterval of 30s":         `{kind: Account, spec: {baseURL: "https://a.example", syncInterval: 30s, credentialsSecretRef: {name: c}}}`,
		"hour syncInterval":           `{kind: Account, spec: {baseURL: "https://a.example", syncInterval: 1h30m, credentialsSecretRef: {name: c}}}`,
		"no members at all":           `{kind: AgentGroup, spec: {groupName: "Empty"}}`,
		"members without receivers":   `{kind: AgentGroup, spec: {members: ["a_1", "B-2"]}}`,
		"groupName with inner spaces": `{kind: AgentGroup, spec: {groupName: "Sales  Team (EU)"}}`,
		"groupId given":               `{kind: AgentGroup, spec: {groupId: "12"}}`,
		"a ClusterAccount named":      `{kind: AgentGroup, spec: {accountRef: {kind: ClusterAccount, name: shared}}}`,
	}
	ns := namespace(t)
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			u := object(t, ns, m)
			u.SetAPIVersion("deepcall.agentgroups.dev/v1alpha1")
			u.SetName("x")
			if err := k.Create(context.Background(), u, client.DryRunAll); err != nil {
				t.Errorf("rejected: %v", err)
			}
		})
	}
}

func TestGroupIDIsImmutableOnceSet(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	ag := object(t, ns, "apiVersion: deepcall.agentgroups.dev/v1alpha1\nkind: AgentGroup\nmetadata: {name: bind}\nspec: {}")
	if err := k.Create(ctx, ag); err != nil {
		t.Fatal(err)
	}
	setGroupID := func(v any) error {
		if v == nil {
			unstructured.RemoveNestedField(ag.Object, "spec", "groupId")
		} else if err := unstructured.SetNestedField(ag.Object, v, "spec", "groupId"); err != nil {
			t.Fatal(err)
		}
		return k.Update(ctx, ag)
	}
	if err := setGroupID("12"); err != nil {
		t.Fatalf("setting groupId from empty must be allowed: %v", err)
	}
	const msg = "groupId cannot be changed or removed once set"
	if err := setGroupID("13"); err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("changing groupId: got %v, want %q", err, msg)
	}
	if err := k.Get(ctx, client.ObjectKeyFromObject(ag), ag); err != nil {
		t.Fatal(err)
	}
	if err := setGroupID(nil); err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("removing groupId: got %v, want %q", err, msg)
	}
}
