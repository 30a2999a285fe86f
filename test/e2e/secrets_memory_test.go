//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/agentgroups/agentgroup-operator/internal/localenv"
)

// A platform team's cluster is full of Secrets the operator has nothing to
// do with (Helm keeps every release in one). With 1,000 unrelated 100 KiB
// Secrets applied, a tenth of them by kubectl (whose last-applied
// annotation copies the data), the manager's live heap grows by less than
// 10 MiB: it caches no Secret's data.
func TestUnrelatedSecretsCostNoMemory(t *testing.T) {
	const (
		ns        = "e2e-secret-memory"
		user      = "20010"
		secrets   = 1000
		size      = 100 << 10
		maxGrowth = 10 << 20
	)
	pprof, err := localenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	mgr := startManagerNamed(t, "manager-secret-memory", "--pprof-bind-address="+pprof)
	defer mgr.Stop()
	account(t, ns, user)
	waitAccountReason(t, ns, "default", "Synced")
	before := liveHeap(t, pprof)

	cs := kubernetes.NewForConfigOrDie(env.Config)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	start := time.Now()
	createSecrets(t, cs, ns, secrets, data)
	t.Logf("created %d Secrets of %d KiB in %s", secrets, size>>10, time.Since(start).Round(time.Second))

	// Events of one informer arrive in order: once the manager has acted
	// on a change of the Account's Secret made after the 1,000, it has
	// received them all.
	kubectl(t, "", "-n", ns, "patch", "secret", "creds", "--type=merge", "-p", `{"stringData":{"ssid":"and-user-too"}}`)
	waitAccountReason(t, ns, "default", "InvalidCredentials")
	after := liveHeap(t, pprof)
	growth := after - before
	t.Logf("manager live heap: %.1f MiB before, %.1f MiB after %d unrelated Secrets (%.1f MiB of Secret data): growth %.2f MiB",
		mib(before), mib(after), secrets, mib(secrets*size), mib(growth))
	if growth >= maxGrowth {
		t.Errorf("the manager's heap grew by %.1f MiB with %d unrelated Secrets, want < %.0f MiB", mib(growth), secrets, mib(maxGrowth))
	}
	// The Account goes while this manager runs, so no later story's
	// manager finds it half deleted.
	kubectl(t, "", "-n", ns, "delete", "account", "default", "--timeout=60s")
	kubectl(t, "", "delete", "namespace", ns, "--wait=false")
}

// createSecrets creates n Secrets holding data in ns, eight at a time;
// every tenth carries kubectl's last-applied annotation with the data
// again, as `kubectl apply` leaves it.
func createSecrets(t *testing.T, cs kubernetes.Interface, ns string, n int, data []byte) {
	t.Helper()
	work := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s := &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%04d", i), Namespace: ns},
					Data:       map[string][]byte{"payload": data},
				}
				if i%10 == 0 {
					s.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(data)}
				}
				if _, err := cs.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create Secret: %v", err)
	}
}

// liveHeap is the manager's heap in use right after a garbage collection,
// read from its pprof endpoint (the smallest of three readings).
func liveHeap(t *testing.T, addr string) int64 {
	t.Helper()
	best := int64(-1)
	for range 3 {
		resp, err := http.Get("http://" + addr + "/debug/pprof/heap?gc=1&debug=1")
		if err != nil {
			t.Fatal(err)
		}
		v, err := heapAlloc(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if best < 0 || v < best {
			best = v
		}
	}
	return best
}

// heapAlloc finds runtime.MemStats.HeapAlloc in a debug=1 heap profile.
func heapAlloc(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no HeapAlloc line in the heap profile (%v)", sc.Err())
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// waitAccountReason waits until the Account's Ready condition has reason.
func waitAccountReason(t *testing.T, ns, name, reason string) {
	t.Helper()
	eventually(t, 60*time.Second, func() error {
		got := kubectl(t, "", "-n", ns, "get", "account", name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`)
		if got != reason {
			return fmt.Errorf("Account %s/%s Ready reason %q, want %q", ns, name, got, reason)
		}
		return nil
	})
}
