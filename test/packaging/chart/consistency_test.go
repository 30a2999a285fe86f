package chart

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agentgroups/agentgroup-operator/test/packaging/internal/packagingtest"
)

// The chart and config/ describe one operator: the rendered chart must
// hold the same CRDs, the same roles (rules, aggregation labels) bound
// the same way, and a manager Deployment, metrics Service and
// NetworkPolicy that do what config/'s do. Only the names differ:
// config/default's namePrefix agentgroup- against the chart's release
// prefix.
func TestChartMatchesConfig(t *testing.T) {
	chart := packagingtest.Objects(t, render(t, "defaults"))
	config := packagingtest.Objects(t, packagingtest.Kustomize(t, "config/default"))
	compareInstalls(t, chart, config)
}

// With watchNamespaces the chart matches config/namespaced: a Role and
// RoleBinding in each watched namespace, no cluster-wide grant, and
// --watch-namespaces.
func TestNamespacedChartMatchesConfig(t *testing.T) {
	chart := packagingtest.Objects(t, render(t, "namespaced"))
	config := packagingtest.Objects(t, packagingtest.Kustomize(t, "config/namespaced"))
	compareInstalls(t, chart, config)
}

// The chart's PrometheusRule holds config/prometheus's alerts, as they
// are.
func TestChartAlertsMatchConfig(t *testing.T) {
	chart := packagingtest.One(t, packagingtest.Objects(t, render(t, "everything-on")), "PrometheusRule")
	config := packagingtest.One(t, packagingtest.Objects(t, packagingtest.Kustomize(t, "config/prometheus")), "PrometheusRule")
	if diff := cmp.Diff(config.Object["spec"], chart.Object["spec"]); diff != "" {
		t.Errorf("the chart's alerts differ from config/prometheus/prometheus_rule.yaml (run `make chart`), -config +chart:\n%s", diff)
	}
}

func compareInstalls(t *testing.T, chart, config []*unstructured.Unstructured) {
	t.Run("kinds", func(t *testing.T) {
		// config/ also creates its namespace; Helm installs into one.
		want := kinds(config)
		delete(want, "Namespace")
		if diff := cmp.Diff(want, kinds(chart)); diff != "" {
			t.Errorf("objects of each kind (-config +chart):\n%s", diff)
		}
	})
	t.Run("CRDs", func(t *testing.T) { compareCRDs(t, chart, config) })
	t.Run("roles", func(t *testing.T) {
		if diff := cmp.Diff(roles(t, config, configName), roles(t, chart, chartName)); diff != "" {
			t.Errorf("roles (-config +chart), as kind/namespace/name: granted rules and aggregation labels:\n%s", diff)
		}
	})
	t.Run("bindings", func(t *testing.T) {
		if diff := cmp.Diff(bindings(t, config, configName), bindings(t, chart, chartName)); diff != "" {
			t.Errorf("bindings (-config +chart), as kind/namespace/role: subjects:\n%s", diff)
		}
	})
	chartDeploy, configDeploy := deployment(t, chart), deployment(t, config)
	t.Run("Deployment", func(t *testing.T) {
		if diff := cmp.Diff(managerRun(configDeploy), managerRun(chartDeploy)); diff != "" {
			t.Errorf("how the manager runs (-config +chart):\n%s", diff)
		}
		sa := packagingtest.Typed[corev1.ServiceAccount](t, packagingtest.One(t, chart, "ServiceAccount"))
		if chartDeploy.Spec.Template.Spec.ServiceAccountName != sa.Name {
			t.Errorf("the Deployment runs as %q, the chart's ServiceAccount is %q", chartDeploy.Spec.Template.Spec.ServiceAccountName, sa.Name)
		}
	})
	t.Run("metrics Service", func(t *testing.T) {
		if diff := cmp.Diff(servicePorts(t, config, configDeploy), servicePorts(t, chart, chartDeploy)); diff != "" {
			t.Errorf("metrics Service ports, as port -> container port (-config +chart):\n%s", diff)
		}
	})
	t.Run("NetworkPolicy", func(t *testing.T) {
		if diff := cmp.Diff(ingress(t, config, configDeploy), ingress(t, chart, chartDeploy)); diff != "" {
			t.Errorf("the manager's ingress (-config +chart):\n%s", diff)
		}
	})
}

func kinds(objs []*unstructured.Unstructured) map[string]int {
	n := map[string]int{}
	for _, o := range objs {
		n[o.GetKind()]++
	}
	return n
}

func compareCRDs(t *testing.T, chart, config []*unstructured.Unstructured) {
	byName := func(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
		m := map[string]*unstructured.Unstructured{}
		for _, o := range packagingtest.Find(objs, "CustomResourceDefinition") {
			m[o.GetName()] = o
		}
		return m
	}
	chartCRDs, configCRDs := byName(chart), byName(config)
	if len(configCRDs) == 0 {
		t.Fatal("config/ renders no CRD")
	}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(configCRDs)), slices.Sorted(maps.Keys(chartCRDs))); diff != "" {
		t.Errorf("CRDs (-config +chart); run `make chart`:\n%s", diff)
	}
	for name, want := range configCRDs {
		got, ok := chartCRDs[name]
		if !ok {
			continue
		}
		if diff := cmp.Diff(want.Object["spec"], got.Object["spec"]); diff != "" {
			t.Errorf("CRD %s spec (-config +chart); run `make chart`:\n%s", name, diff)
		}
		annotations := got.GetAnnotations()
		for k, v := range want.GetAnnotations() {
			if annotations[k] != v {
				t.Errorf("CRD %s: annotation %s=%q, config says %q", name, k, annotations[k], v)
			}
		}
		// Uninstalling the release must not delete every AgentGroup.
		if annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s: helm.sh/resource-policy=%q, want keep", name, annotations["helm.sh/resource-policy"])
		}
	}
}

// The two installs' names, with their prefixes and role suffixes taken
// off: config/'s agentgroup-manager-role and the chart's
// agentgroup-operator-manager are both "manager".
func configName(name string) string {
	name = strings.TrimPrefix(name, "agentgroup-")
	if strings.HasSuffix(name, "-rolebinding") {
		return strings.TrimSuffix(name, "-rolebinding")
	}
	return strings.TrimSuffix(name, "-role")
}

func chartName(name string) string { return strings.TrimPrefix(name, packagingtest.Release+"-") }

type role struct {
	// Grants: one "apiGroup/resource[/name] verb" or "url verb" a line.
	Grants []string
	// Aggregation labels (rbac.authorization.k8s.io/aggregate-to-*).
	Aggregation map[string]string
}

// roles maps kind/namespace/short name to what each Role and ClusterRole
// grants, expanded to single grants so that the same rights written in
// other groupings compare equal.
func roles(t *testing.T, objs []*unstructured.Unstructured, short func(string) string) map[string]role {
	out := map[string]role{}
	for _, o := range append(packagingtest.Find(objs, "ClusterRole"), packagingtest.Find(objs, "Role")...) {
		r := packagingtest.Typed[rbacv1.ClusterRole](t, o)
		agg := map[string]string{}
		for k, v := range r.Labels {
			if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
				agg[k] = v
			}
		}
		out[o.GetKind()+"/"+o.GetNamespace()+"/"+short(o.GetName())] = role{Grants: grants(r.Rules), Aggregation: agg}
	}
	return out
}

func grants(rules []rbacv1.PolicyRule) []string {
	set := map[string]bool{}
	orAll := func(s []string) []string {
		if len(s) == 0 {
			return []string{""}
		}
		return s
	}
	for _, r := range rules {
		for _, v := range r.Verbs {
			for _, url := range r.NonResourceURLs {
				set[url+" "+v] = true
			}
			for _, g := range orAll(r.APIGroups) {
				for _, res := range r.Resources {
					for _, name := range orAll(r.ResourceNames) {
						set[strings.TrimSuffix(g+"/"+res+"/"+name, "/")+" "+v] = true
					}
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// bindings maps kind/namespace/short role name to the subjects a binding
// gives that role, the manager's ServiceAccount written "manager".
func bindings(t *testing.T, objs []*unstructured.Unstructured, short func(string) string) map[string][]string {
	sa := packagingtest.One(t, objs, "ServiceAccount")
	out := map[string][]string{}
	for _, o := range append(packagingtest.Find(objs, "ClusterRoleBinding"), packagingtest.Find(objs, "RoleBinding")...) {
		b := packagingtest.Typed[rbacv1.RoleBinding](t, o)
		var subjects []string
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == sa.GetName() && s.Namespace == sa.GetNamespace() {
				subjects = append(subjects, "manager")
			} else {
				subjects = append(subjects, s.Kind+"/"+s.Namespace+"/"+s.Name)
			}
		}
		key := o.GetKind() + "/" + o.GetNamespace() + "/" + b.RoleRef.Kind + "/" + short(b.RoleRef.Name)
		out[key] = append(out[key], subjects...)
	}
	return out
}

func deployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	return packagingtest.Typed[appsv1.Deployment](t, packagingtest.One(t, objs, "Deployment"))
}

// managerRun is what the Deployment decides about the manager, but for
// its image, names and labels.
func managerRun(d *appsv1.Deployment) any {
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	return struct {
		Containers                    int
		TerminationGracePeriodSeconds *int64
		PodSecurityContext            *corev1.PodSecurityContext
		Name                          string
		Args                          []string
		Env                           []corev1.EnvVar
		Ports                         []corev1.ContainerPort
		SecurityContext               *corev1.SecurityContext
		LivenessProbe, ReadinessProbe *corev1.Probe
		Resources                     corev1.ResourceRequirements
	}{len(pod.Containers), pod.TerminationGracePeriodSeconds, pod.SecurityContext, c.Name, c.Args, c.Env, c.Ports,
		c.SecurityContext, c.LivenessProbe, c.ReadinessProbe, c.Resources}
}

// servicePorts maps each port of the Service that selects the manager
// Pods to the container port it reaches.
func servicePorts(t *testing.T, objs []*unstructured.Unstructured, d *appsv1.Deployment) map[string]string {
	svc := packagingtest.Typed[corev1.Service](t, packagingtest.One(t, objs, "Service"))
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("Service %s (selector %v) does not select the manager Pods (%v)", svc.Name, svc.Spec.Selector, d.Spec.Template.Labels)
	}
	out := map[string]string{}
	for _, p := range svc.Spec.Ports {
		out[fmt.Sprintf("%s %d/%s", p.Name, p.Port, p.Protocol)] = containerPort(d, p.TargetPort)
	}
	return out
}

func containerPort(d *appsv1.Deployment, target intstr.IntOrString) string {
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		if (target.Type == intstr.String && p.Name == target.StrVal) || (target.Type == intstr.Int && p.ContainerPort == target.IntVal) {
			return fmt.Sprint(p.ContainerPort)
		}
	}
	return "none: " + target.String()
}

// ingress is what the NetworkPolicy that selects the manager Pods admits.
func ingress(t *testing.T, objs []*unstructured.Unstructured, d *appsv1.Deployment) any {
	np := packagingtest.Typed[networkingv1.NetworkPolicy](t, packagingtest.One(t, objs, "NetworkPolicy"))
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("NetworkPolicy %s does not select the manager Pods (%v)", np.Name, d.Spec.Template.Labels)
	}
	return struct {
		PolicyTypes []networkingv1.PolicyType
		Ingress     []networkingv1.NetworkPolicyIngressRule
	}{np.Spec.PolicyTypes, np.Spec.Ingress}
}
