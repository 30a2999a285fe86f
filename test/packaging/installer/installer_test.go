// Package installer tests `make build-installer`, which renders
// config/default into one file (dist/install.yaml) for a pinned image.
package installer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/agentgroups/agentgroup-operator/test/packaging/internal/packagingtest"
)

const (
	namespace  = "agentgroup-system"
	deployment = "agentgroup-controller-manager"
	digest     = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// buildInstaller runs `make build-installer` for img into a file of the
// test's. -o manifests: the generated files are what the repository holds
// (make test regenerates them first, make verify-gen checks them), and
// regenerating here would rewrite the chart's copy under the chart tests
// running beside these.
func buildInstaller(t *testing.T, img string) []*unstructured.Unstructured {
	t.Helper()
	out := filepath.Join(t.TempDir(), "install.yaml")
	packagingtest.Run(t, "make", "--no-print-directory", "-s", "-o", "manifests", "build-installer", "IMG="+img, "INSTALLER="+out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return packagingtest.Objects(t, string(b))
}

// The installer pins exactly the image it is built for, however IMG is
// written: a tag, a digest, both, a registry with a port.
func TestInstallerPinsTheImage(t *testing.T) {
	for _, img := range []string{
		"registry.example.com:5000/platform/agentgroup-operator:v1.2.3-rc.1",
		"ghcr.io/agentgroups/agentgroup-operator@" + digest,
		"registry.example.com/agentgroup-operator:v1.2.3@" + digest,
	} {
		t.Run(img, func(t *testing.T) {
			d := packagingtest.Typed[appsv1.Deployment](t, packagingtest.One(t, buildInstaller(t, img), "Deployment"))
			var images []string
			for _, c := range d.Spec.Template.Spec.Containers {
				images = append(images, c.Image)
			}
			if !slices.Equal(images, []string{img}) {
				t.Errorf("the Deployment's images are %q, want exactly %q", images, img)
			}
		})
	}
}

// The installer holds the whole operator: the generated CRDs, the
// manager's RBAC, its Deployment, the metrics Service and the
// NetworkPolicy, and that policy admits ingress to the manager Pods on
// the metrics port alone, from namespaces labelled metrics=enabled.
func TestInstallerContents(t *testing.T) {
	objs := buildInstaller(t, "example.com/agentgroup-operator:test")
	var crds []string
	for _, o := range packagingtest.Find(objs, "CustomResourceDefinition") {
		crds = append(crds, o.GetName())
	}
	bases, err := filepath.Glob(filepath.Join(packagingtest.Root(), "config", "crd", "bases", "*.yaml"))
	if err != nil || len(bases) == 0 {
		t.Fatalf("no generated CRD in config/crd/bases: %v", err)
	}
	var want []string
	for _, b := range bases {
		// config/crd/bases/<group>_<plural>.yaml holds <plural>.<group>.
		group, plural, _ := strings.Cut(strings.TrimSuffix(filepath.Base(b), ".yaml"), "_")
		want = append(want, plural+"."+group)
	}
	if diff := cmp.Diff(want, slices.Sorted(slices.Values(crds))); diff != "" {
		t.Errorf("CRDs (-config/crd/bases +installer):\n%s", diff)
	}
	for _, kind := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service", "NetworkPolicy"} {
		if len(packagingtest.Find(objs, kind)) == 0 {
			t.Errorf("no %s in the installer", kind)
		}
	}

	d := packagingtest.Typed[appsv1.Deployment](t, packagingtest.One(t, objs, "Deployment"))
	pods := labels.Set(d.Spec.Template.Labels)
	if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--metrics-bind-address=:8443") {
		t.Errorf("the manager's args %q do not serve the metrics on :8443", d.Spec.Template.Spec.Containers[0].Args)
	}
	np := packagingtest.Typed[networkingv1.NetworkPolicy](t, packagingtest.One(t, objs, "NetworkPolicy"))
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if np.Namespace != d.Namespace || !sel.Matches(pods) {
		t.Errorf("NetworkPolicy %s/%s (pods %v) does not select the manager Pods %s/%v", np.Namespace, np.Name, sel, d.Namespace, pods)
	}
	tcp := networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(8443))}
	wantPolicy := networkingv1.NetworkPolicySpec{
		PodSelector: np.Spec.PodSelector,
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		Ingress: []networkingv1.NetworkPolicyIngressRule{{
			Ports: []networkingv1.NetworkPolicyPort{tcp},
			From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"metrics": "enabled"}}}},
		}},
	}
	if diff := cmp.Diff(wantPolicy, np.Spec); diff != "" {
		t.Errorf("NetworkPolicy %s (-want +installer): it must admit only the metrics port, from metrics=enabled namespaces:\n%s", np.Name, diff)
	}
}

// The installer applies with server-side apply to a control plane with
// nothing installed, and again on top of itself (an upgrade) without a
// conflict; the Deployment the API server holds runs the pinned image.
func TestInstallerAppliesServerSide(t *testing.T) {
	img := "example.com/agentgroup-operator:v0.0.0-test@" + digest
	out := filepath.Join(t.TempDir(), "install.yaml")
	packagingtest.Run(t, "make", "--no-print-directory", "-s", "-o", "manifests", "build-installer", "IMG="+img, "INSTALLER="+out)
	cp := packagingtest.StartControlPlane(t)
	for i := range 2 {
		if _, err := cp.Kubectl("", "apply", "--server-side", "-f", out); err != nil {
			t.Fatalf("apply %d: %v", i+1, err)
		}
	}
	got, err := cp.Kubectl("", "get", "deployment", "-n", namespace, deployment, "-o", "jsonpath={.spec.template.spec.containers[*].image}")
	if err != nil {
		t.Fatal(err)
	}
	if got != img {
		t.Errorf("the installed Deployment runs %q, want %q", got, img)
	}
	if _, err := cp.Kubectl("", "get", "networkpolicy", "-n", namespace, "agentgroup-allow-metrics-traffic"); err != nil {
		t.Error(err)
	}
}
