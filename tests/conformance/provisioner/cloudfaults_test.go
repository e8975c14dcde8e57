//go:build provisioner

package provisioner

// Cloud faults for hang_test.go and unseen_test.go: the project's fault proxy
// (tests/support/faultproxy.py, run by faultproxy_serve.py) in front of the
// devcloud, and nova-compute paused (tests/devcloud/compute_pause.py: SIGSTOP,
// SIGCONT after at most 20 s even if this process dies).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// testsDir is the checkout's tests/ (go test runs in tests/conformance/provisioner).
func testsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// python is the interpreter with the plugin's dependencies: $FLEETING_PYTHON, else the
// one beside the installed plugin executable (its virtualenv).
func python(e *Env) string {
	if p := os.Getenv("FLEETING_PYTHON"); p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(e.PluginBin), "python3")
}

// FaultProxy is faultproxy_serve.py: the fault-injecting proxies and their clouds.yaml.
type FaultProxy struct {
	CloudsYAML string `json:"clouds_yaml"`
	Cloud      string `json:"cloud"`
	cmd        *exec.Cmd
	in         io.WriteCloser
	out        *bufio.Reader
	mu         sync.Mutex
}

// ProxyStats is the answer to "stats PROXY".
type ProxyStats struct {
	Requests    int            `json:"requests"`
	Faults      map[string]int `json:"faults"`
	MaxInFlight int            `json:"max_in_flight"`
	Paths       map[string]int `json:"paths"`
}

// StartFaultProxy starts the proxies in front of the devcloud's Keystone, Nova,
// Neutron and Glance; they stop at the end of the test.
func StartFaultProxy(t *testing.T, e *Env) *FaultProxy {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(python(e), filepath.Join(testsDir(t), "support", "faultproxy_serve.py"), e.CloudsYAML, e.Cloud, dir)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	f := &FaultProxy{cmd: cmd, in: in, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		_, _ = io.WriteString(in, "quit\n")
		_ = in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	line, err := f.out.ReadString('\n')
	if err != nil {
		t.Fatalf("fault proxy did not start: %v", err)
	}
	if err := json.Unmarshal([]byte(line), f); err != nil || f.CloudsYAML == "" {
		t.Fatalf("fault proxy said %q (%v)", line, err)
	}
	return f
}

func (f *FaultProxy) call(t *testing.T, command string, answer any) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := io.WriteString(f.in, command+"\n"); err != nil {
		t.Fatalf("fault proxy %q: %v", command, err)
	}
	line, err := f.out.ReadString('\n')
	if err != nil {
		t.Fatalf("fault proxy %q: %v", command, err)
	}
	if err := json.Unmarshal([]byte(line), answer); err != nil {
		t.Fatalf("fault proxy %q answered %q", command, line)
	}
}

// Add adds a rule (action hang, reset, status...) on proxy for method ("*": any) and a path regex.
func (f *FaultProxy) Add(t *testing.T, proxy, action, method, path string) {
	t.Helper()
	var ok struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	f.call(t, strings.Join([]string{"add", proxy, action, method, path}, " "), &ok)
	if !ok.OK {
		t.Fatalf("fault proxy: %s", ok.Error)
	}
}

// Clear removes every rule (hung requests are reset): the cloud answers again. When.
func (f *FaultProxy) Clear(t *testing.T) time.Time {
	t.Helper()
	var ok struct {
		At float64 `json:"at"`
	}
	f.call(t, "clear", &ok)
	return time.Now()
}

// Stats is what proxy saw (max_in_flight since the last Stats).
func (f *FaultProxy) Stats(t *testing.T, proxy string) ProxyStats {
	t.Helper()
	var s ProxyStats
	f.call(t, "stats "+proxy, &s)
	return s
}

// PauseCompute stops the devcloud's nova-compute for at most seconds (≤ 20: the
// devcloud is shared); the returned function resumes it at once. It is resumed at the
// end of the test in any case, and by the pausing process itself when its time is up.
func PauseCompute(t *testing.T, e *Env, seconds int) (resume func() time.Duration) {
	t.Helper()
	if seconds > 20 {
		t.Fatalf("a nova-compute pause is at most 20 s (the devcloud is shared), not %d", seconds)
	}
	cmd := exec.Command(python(e), "-m", "devcloud.compute_pause", fmt.Sprint(seconds))
	cmd.Dir = testsDir(t)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+testsDir(t), "DEVCLOUD_STATE="+filepath.Dir(e.CloudsYAML))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("pausing nova-compute: %v", err)
	}
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "paused ") {
		_ = cmd.Process.Kill()
		t.Fatalf("pausing nova-compute: %q %v", line, err)
	}
	began := time.Now()
	var once sync.Once
	var took time.Duration
	resume = func() time.Duration {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_, _ = io.Copy(io.Discard, out)
			_ = cmd.Wait()
			took = time.Since(began)
		})
		return took
	}
	t.Cleanup(func() { resume() })
	return resume
}

// HeartbeatLoop calls Heartbeat through the real client for every id every interval
// (each call with a deadline of timeout, as a health check has) until stop is closed;
// errors per id.
func HeartbeatLoop(g provider.InstanceGroup, ids []string, interval, timeout time.Duration, stop <-chan struct{}) (calls *int, errs map[string][]string, done <-chan struct{}) {
	n := 0
	errs = map[string][]string{}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			for _, id := range ids {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				err := g.Heartbeat(ctx, id)
				cancel()
				n++
				if err != nil {
					errs[id] = append(errs[id], time.Now().Format("15:04:05.000")+" "+err.Error())
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
		}
	}()
	return &n, errs, finished
}
