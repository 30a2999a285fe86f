// Package localenv runs a local Kubernetes control plane (etcd and
// kube-apiserver through envtest, plus kube-controller-manager's namespace,
// garbage-collector and ClusterRole-aggregation controllers, which envtest
// lacks) and background
// processes with their logs, for the demo, the e2e tests and the benchmarks.
package localenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Env is a running control plane and the processes started beside it.
type Env struct {
	// Root is the repository (bin/, config/); Dir holds logs and the kubeconfig.
	Root, Dir  string
	Kubeconfig string
	Config     *rest.Config

	env   *envtest.Environment
	procs []*Proc
}

// Proc is one background process.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
}

// Start runs etcd, kube-apiserver (with the CRDs installed) and
// kube-controller-manager from root/bin/k8s, writing the kubeconfig and
// logs to dir.
func Start(root, dir string) (*Env, error) {
	return StartWithCRDs(root, dir, filepath.Join(root, "config", "crd", "bases"))
}

// StartWithCRDs is Start with the CRDs of crdDir installed instead of
// today's: an earlier version's, for the stories that upgrade from it.
func StartWithCRDs(root, dir, crdDir string) (*Env, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	e := &Env{Root: root, Dir: dir, env: &envtest.Environment{
		BinaryAssetsDirectory: filepath.Join(root, "bin", "k8s"),
		CRDDirectoryPaths:     []string{crdDir},
		ErrorIfCRDPathMissing: true,
	}}
	cfg, err := e.env.Start()
	if err != nil {
		_ = e.env.Stop()
		return nil, fmt.Errorf("start etcd and kube-apiserver: %w", err)
	}
	e.Config = cfg
	e.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*Kubeconfig(cfg), e.Kubeconfig); err != nil {
		e.Stop()
		return nil, err
	}
	if _, err := e.Run("kube-controller-manager", e.Bin("k8s/kube-controller-manager"),
		"--kubeconfig="+e.Kubeconfig, "--controllers=namespace,garbagecollector,clusterrole-aggregation", "--leader-elect=false",
		"--secure-port=0", "--cert-dir="+dir); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

// Bin is the path of a binary under bin/.
func (e *Env) Bin(name string) string { return filepath.Join(e.Root, "bin", name) }

// Run starts a background process with KUBECONFIG set and its output in
// Dir/<name>.log (appended, so a restarted process keeps one log).
func (e *Env) Run(name, bin string, args ...string) (*Proc, error) {
	return e.RunWithEnv(name, nil, bin, args...)
}

// RunWithEnv is Run with extra environment variables (KEY=VALUE).
func (e *Env) RunWithEnv(name string, env []string, bin string, args ...string) (*Proc, error) {
	logPath := filepath.Join(e.Dir, name+".log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+e.Kubeconfig), env...)
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	e.procs = append(e.procs, p)
	return p, nil
}

// Kill ends the process at once (SIGKILL), as a crash would.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Stop asks the process to end (SIGTERM), then kills it after 10s.
func (p *Proc) Stop() {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

// Kubectl runs bin/k8s/kubectl against the control plane.
func (e *Env) Kubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(e.Bin("k8s/kubectl"), append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
	cmd.Dir = e.Root
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Apply installs a kustomization (a directory, relative to Root or
// absolute) with server-side apply, taking over fields another manager set
// (envtest installed the CRDs), as `make deploy` does.
func (e *Env) Apply(kustomizeDir string) error {
	_, err := e.Kubectl("", "apply", "--server-side", "--force-conflicts", "-k", kustomizeDir)
	return err
}

// ServiceAccountToken asks the API server for a token of the
// ServiceAccount ns/name (the TokenRequest API), valid for a day.
func (e *Env) ServiceAccountToken(ns, name string) (string, error) {
	cs, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(24 * 60 * 60))},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of ServiceAccount %s/%s: %w", ns, name, err)
	}
	return tr.Status.Token, nil
}

// ServiceAccountKubeconfig writes to path a kubeconfig that reaches the
// control plane as the ServiceAccount ns/name (a bearer token from
// ServiceAccountToken), so that a process run with it has exactly the
// permissions RBAC gives that ServiceAccount, as in a Pod.
func (e *Env) ServiceAccountKubeconfig(ns, name, path string) error {
	token, err := e.ServiceAccountToken(ns, name)
	if err != nil {
		return err
	}
	user := "system:serviceaccount:" + ns + ":" + name
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: user, Namespace: ns}
	cfg.CurrentContext = "local"
	return clientcmd.WriteToFile(*cfg, path)
}

// Stop ends every process, newest first, then the control plane.
func (e *Env) Stop() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].Stop()
	}
	e.procs = nil
	if e.env != nil {
		_ = e.env.Stop()
		e.env = nil
	}
}

// WaitTCP waits until something listens on addr.
func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			return c.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("nothing listens on %s after %v", addr, timeout)
}

// FreeAddr returns a loopback address with a free port.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Kubeconfig turns envtest's admin rest.Config into a kubeconfig.
func Kubeconfig(c *rest.Config) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData, Token: c.BearerToken}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	cfg.CurrentContext = "local"
	return cfg
}

// AccountYAML is a namespace holding a credentials Secret (user, token)
// and the Account "default" for the simulator at simAddr (plain http on
// loopback: the manager needs --allow-insecure-loopback), limited to rps
// requests a second.
func AccountYAML(ns, user, token, simAddr string, rps int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: %[1]s}
stringData: {userId: "%[2]s", token: "%[3]s"}
---
apiVersion: deepcall.agentgroups.dev/v1alpha1
kind: Account
metadata: {name: default, namespace: %[1]s}
spec:
  baseURL: http://%[4]s
  credentialsSecretRef: {name: creds}
  requestsPerSecond: %[5]d
  burst: %[5]d
`, ns, user, token, simAddr, rps)
}
