//go:build smoke

// Smoke test of a built plugin executable against a real cloud, made to run
// where nothing but the executable and this test binary exist (the python-less
// Debian root of tests/packaging/test_single_file.py):
//
//	go test -c -tags smoke -o smoke.test ./smoke
//	FLEETING_PLUGIN_BIN=/plugin FLEETING_SMOKE_CONFIG=/smoke/plugin_config.json ./smoke.test -test.v
//
// HashiCorp's go-plugin client starts the executable (RunPlugin), then Init
// with the real plugin_config, Update, and Kill; afterwards the plugin process
// (and, for a self-extracting build, any child of it running the same
// executable) is gone and its unix socket removed.
//
// The build tag keeps this package out of `go test ./...` (test_conformance_go.py),
// which has no cloud config to give it.
//
// Env: FLEETING_PLUGIN_BIN (the executable), FLEETING_SMOKE_CONFIG (a
// plugin_config JSON file), FLEETING_SMOKE_USERNAME (connector_config.username,
// default empty: the image or the strategy names the user). Both of the first
// two are required: the test fails, never skips, without them.
package smoke

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	pb "fleeting-openstack/conformance/fleetingpb"
	"fleeting-openstack/conformance/hostkit"
	"fleeting-openstack/conformance/pluginclient"
)

func mustEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s must be set (see the comment at the top of smoke_test.go)", name)
	}
	return v
}

// pidsRunning lists the processes whose executable is bin (a PyInstaller
// one-file build runs as two: the unpacking parent and its Python child).
func pidsRunning(bin string) []int {
	want, err := filepath.EvalSymlinks(bin)
	if err != nil {
		want = bin
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid := 0
		for _, c := range e.Name() {
			if c < '0' || c > '9' {
				pid = -1
				break
			}
			pid = pid*10 + int(c-'0')
		}
		if pid <= 0 || pid == os.Getpid() {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		if exe == want {
			// A zombie keeps no exe link; a live process does.
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestSmoke(t *testing.T) {
	bin := mustEnv(t, "FLEETING_PLUGIN_BIN")
	config, err := os.ReadFile(mustEnv(t, "FLEETING_SMOKE_CONFIG"))
	if err != nil {
		t.Fatalf("read plugin_config: %v", err)
	}
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Fatalf("/proc is not mounted (needed to check the plugin's processes): %v", err)
	}
	if before := pidsRunning(bin); len(before) != 0 {
		t.Fatalf("processes of %s already running before the test: %v", bin, before)
	}

	logs := &pluginclient.LogSink{}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "FLEETING_OPENSTACK_LOG_LEVEL=debug")
	cfg := hostkit.ClientConfig(cmd, pluginclient.Handshake, pluginclient.NewInstanceGroup,
		hostkit.Logger("runner", hclog.Debug, logs))
	cfg.AutoMTLS = true
	client := plugin.NewClient(cfg)
	killed := false
	defer func() {
		if !killed {
			client.Kill()
		}
		if t.Failed() {
			t.Logf("plugin log (via the go-plugin client):\n%s", logs.String())
		}
	}()

	started := time.Now()
	raw, rc, err := hostkit.Connect(t, client, logs)
	if err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Logf("handshake, ping and dispense after %v", time.Since(started).Round(time.Millisecond))
	group := raw.(pb.InstanceGroupClient)
	socket := rc.Addr.String()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	settings := &pb.Settings{ConnectorConfig: &pb.ConnectorConfig{
		Os: "linux", Protocol: "ssh", Username: os.Getenv("FLEETING_SMOKE_USERNAME"), Keepalive: int64(30 * time.Second)}}
	initResp, err := group.Init(ctx, &pb.InitRequest{Config: config, Settings: settings})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	info := initResp
	t.Logf("Init: id=%q max_size=%d version=%q build_info=%q", info.GetId(), info.GetMaxSize(), info.GetVersion(), info.GetBuildInfo())
	if info.GetId() == "" || info.GetVersion() == "" {
		t.Fatalf("Init info incomplete: %v", info)
	}
	stream, err := group.Update(ctx, &pb.Empty{})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	var instances []string
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Update stream: %v", err)
		}
		instances = append(instances, m.GetInstance())
	}
	t.Logf("Update: %d instance(s)", len(instances))
	if len(instances) != 0 {
		t.Fatalf("Update of a fresh group = %v, want no instances", instances)
	}

	client.Kill()
	killed = true
	deadline := time.Now().Add(10 * time.Second)
	for {
		alive := syscall.Kill(rc.Pid, 0) == nil
		left := pidsRunning(bin)
		if !alive && len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Kill: plugin pid %d alive=%v, processes of %s left: %v", rc.Pid, alive, bin, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Fatalf("socket %s still exists after Kill (stat err=%v)", socket, err)
	}
	if client.Exited() != true {
		t.Fatalf("go-plugin client does not report the plugin as exited")
	}
}
