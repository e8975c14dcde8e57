// Conformance of the Python plugin executable against HashiCorp's real
// go-plugin client (the transport gitlab-runner's fleeting client uses).
//
// The fleeting Go module itself cannot be fetched here (the Go module proxy
// answers 403 for gitlab.com/gitlab-org/fleeting/fleeting, see
// docs/protocol.md), so the fleeting service is called through stubs
// generated from this project's .proto (fleetingpb/), and everything below
// the service — process start, handshake, AutoMTLS, health, controller,
// stdio, broker, logging, Kill — is exercised by go-plugin's own client.
//
// Env: FLEETING_PLUGIN_BIN = path of the installed executable (required; the
// test fails, not skips, without it). The plugin serves the in-memory test
// provider from tests/support (FLEETING_OPENSTACK_PROVIDER) unless
// FLEETING_CONFORMANCE_CONFIG names a real plugin_config.
package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	pb "fleeting-openstack/conformance/fleetingpb"
	"fleeting-openstack/conformance/hostkit"
	"fleeting-openstack/conformance/pluginclient"
)

// logSink adds JSON parsing to pluginclient.LogSink.
type logSink struct{ pluginclient.LogSink }

type logLine map[string]interface{}

func (s *logSink) lines(t *testing.T) []logLine {
	var out []logLine
	for _, raw := range strings.Split(s.String(), "\n") {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		var l logLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("client logger wrote a non-JSON line %q: %v", raw, err)
		}
		out = append(out, l)
	}
	return out
}

func (s *logSink) find(t *testing.T, message string) logLine {
	for _, l := range s.lines(t) {
		if l["@message"] == message {
			return l
		}
	}
	return nil
}

func pluginBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("FLEETING_PLUGIN_BIN")
	if bin == "" {
		t.Fatal("FLEETING_PLUGIN_BIN must name the installed fleeting-plugin-openstack executable")
	}
	return bin
}

type started struct {
	client *plugin.Client
	group  pb.InstanceGroupClient
	logs   *logSink
	pid    int
	socket string
}

type options struct {
	autoMTLS  bool
	mux       bool
	socketDir string // PLUGIN_UNIX_SOCKET_DIR
	group     string // PLUGIN_UNIX_SOCKET_GROUP (via go-plugin's UnixSocketConfig)
	extraEnv  []string
	real      bool // serve the OpenStack provider instead of the in-memory test provider
}

func start(t *testing.T, o options) (*started, error) {
	t.Helper()
	here, _ := os.Getwd()
	cmd := exec.Command(pluginBin(t))
	cmd.Env = append(os.Environ(), "FLEETING_OPENSTACK_LOG_LEVEL=trace")
	if !o.real {
		cmd.Env = append(cmd.Env,
			"PYTHONPATH="+filepath.Join(here, "..", "support"),
			"FLEETING_OPENSTACK_PROVIDER=memory_provider:MemoryProvider")
	}
	cmd.Env = append(cmd.Env, o.extraEnv...)
	if o.socketDir != "" {
		cmd.Env = append(cmd.Env, "PLUGIN_UNIX_SOCKET_DIR="+o.socketDir)
	}
	sink := &logSink{}
	cfg := hostkit.ClientConfig(cmd, pluginclient.Handshake, pluginclient.NewInstanceGroup,
		hostkit.Logger("runner", hclog.Trace, sink))
	cfg.AutoMTLS = o.autoMTLS
	cfg.GRPCBrokerMultiplex = o.mux
	if o.group != "" {
		cfg.UnixSocketConfig = &plugin.UnixSocketConfig{Group: o.group}
	}
	c := plugin.NewClient(cfg)
	raw, rc, err := hostkit.Connect(t, c, &sink.LogSink)
	if err != nil {
		return nil, err
	}
	return &started{client: c, group: raw.(pb.InstanceGroupClient), logs: sink, pid: rc.Pid, socket: rc.Addr.String()}, nil
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func assertGone(t *testing.T, s *started) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(s.pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still exists after Kill (err=%v)", s.pid, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(s.socket); !os.IsNotExist(err) {
		t.Fatalf("socket %s still exists after Kill (stat err=%v)", s.socket, err)
	}
}

// lifecycle runs the whole in-memory lifecycle and returns the plugin's log.
func lifecycle(t *testing.T, o options) *logSink {
	s, err := start(t, o)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	killed := false
	defer func() {
		if !killed {
			s.client.Kill()
		}
	}()
	if o.socketDir != "" && filepath.Dir(s.socket) != o.socketDir {
		t.Fatalf("socket %s not in PLUGIN_UNIX_SOCKET_DIR %s", s.socket, o.socketDir)
	}
	if o.group != "" {
		st, err := os.Stat(s.socket)
		if err != nil {
			t.Fatalf("stat socket: %v", err)
		}
		if st.Mode().Perm() != 0o660 || strconv.Itoa(int(st.Sys().(*syscall.Stat_t).Gid)) != o.group {
			t.Fatalf("socket mode %v gid %d, want 0660 and group %s", st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Gid, o.group)
		}
	}
	settings := &pb.Settings{ConnectorConfig: &pb.ConnectorConfig{
		Os: "linux", Protocol: "ssh", Username: "core", Keepalive: int64(30 * time.Second)}}
	initResp, err := s.group.Init(ctx(t), &pb.InitRequest{Config: []byte(`{"name":"conf","max_size":5,"log_probe":true}`), Settings: settings})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if got := initResp.GetInfo().GetId(); got != "memory/conf" {
		t.Fatalf("Init id = %q", got)
	}
	if got := initResp.GetInfo().GetMaxSize(); got != 5 {
		t.Fatalf("Init max_size = %d", got)
	}

	inc, err := s.group.Increase(ctx(t), &pb.IncreaseRequest{Delta: 3})
	if err != nil || inc.GetSucceeded() != 3 || inc.GetError() != "" {
		t.Fatalf("Increase(3) = %v, %v", inc, err)
	}
	inc, err = s.group.Increase(ctx(t), &pb.IncreaseRequest{Delta: 4})
	if err != nil || inc.GetSucceeded() != 2 || !strings.Contains(inc.GetError(), "max_size 5") {
		t.Fatalf("Increase(4) beyond max_size = %v, %v (want 2 succeeded and a reason)", inc, err)
	}
	up, err := s.group.Update(ctx(t), &pb.UpdateRequest{})
	if err != nil || len(up.GetInstances()) != 5 {
		t.Fatalf("Update = %v, %v", up, err)
	}
	for _, i := range up.GetInstances() {
		if i.GetState() != "creating" {
			t.Fatalf("first Update state of %s = %q, want creating", i.GetId(), i.GetState())
		}
	}
	up, _ = s.group.Update(ctx(t), &pb.UpdateRequest{})
	for _, i := range up.GetInstances() {
		if i.GetState() != "running" {
			t.Fatalf("second Update state of %s = %q, want running", i.GetId(), i.GetState())
		}
	}
	ci, err := s.group.ConnectInfo(ctx(t), &pb.ConnectInfoRequest{Id: "mem-1"})
	if err != nil {
		t.Fatalf("ConnectInfo: %v", err)
	}
	if ci.GetInfo().GetInternalAddr() != "192.0.2.10" || ci.GetInfo().GetExternalAddr() != "198.51.100.10" ||
		ci.GetInfo().GetConnectorConfig().GetUsername() != "core" ||
		ci.GetInfo().GetConnectorConfig().GetKeepalive() != int64(30*time.Second) {
		t.Fatalf("ConnectInfo = %v", ci)
	}
	if _, err := s.group.ConnectInfo(ctx(t), &pb.ConnectInfoRequest{Id: "nope"}); err == nil ||
		!strings.Contains(err.Error(), "instance nope not found") {
		t.Fatalf("ConnectInfo(unknown) error = %v, want a readable reason", err)
	}
	if _, err := s.group.Heartbeat(ctx(t), &pb.HeartbeatRequest{Id: "mem-1"}); err != nil {
		t.Fatalf("Heartbeat(running): %v", err)
	}
	dec, err := s.group.Decrease(ctx(t), &pb.DecreaseRequest{Instances: []string{"mem-1", "mem-9"}})
	if err != nil || len(dec.GetSucceeded()) != 1 || dec.GetSucceeded()[0] != "mem-1" || !strings.Contains(dec.GetError(), "mem-9") {
		t.Fatalf("Decrease = %v, %v", dec, err)
	}
	if _, err := s.group.Heartbeat(ctx(t), &pb.HeartbeatRequest{Id: "mem-1"}); err == nil ||
		!strings.Contains(err.Error(), "unhealthy") {
		t.Fatalf("Heartbeat(deleting) error = %v, want unhealthy", err)
	}
	if _, err := s.group.Suspend(ctx(t), &pb.SuspendRequest{Instances: []string{"mem-2"}}); err == nil ||
		!strings.Contains(err.Error(), "Unimplemented") {
		t.Fatalf("Suspend error = %v, want Unimplemented", err)
	}
	if _, err := s.group.Shutdown(ctx(t), &pb.ShutdownRequest{}); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	// Plugin log lines reach the client's logger at their own level.
	want := map[string]string{"probe trace": "trace", "probe debug": "debug", "probe info": "info",
		"probe warn": "warn", "probe error": "error"}
	for msg, level := range want {
		l := s.logs.find(t, msg)
		if l == nil {
			t.Fatalf("log line %q did not reach the client logger; got %v", msg, s.logs.lines(t))
		}
		if l["@level"] != level {
			t.Fatalf("log line %q at level %v, want %s", msg, l["@level"], level)
		}
	}
	if l := s.logs.find(t, "probe info"); l["probe_field"] != "value-1" {
		t.Fatalf("extra field lost: %v", l)
	}

	s.client.Kill()
	killed = true
	assertGone(t, s)
	return s.logs
}

func TestLifecyclePlain(t *testing.T) { lifecycle(t, options{}) }

func TestLifecycleAutoMTLS(t *testing.T) { lifecycle(t, options{autoMTLS: true}) }

func TestLifecycleSocketDirAndGroup(t *testing.T) {
	dir := t.TempDir()
	lifecycle(t, options{socketDir: dir, group: strconv.Itoa(os.Getgid())})
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("socket dir not empty after Kill: %v", entries)
	}
}

// A host whose binary holds no descriptor (here the override names a text
// file) gets the built-in contract, and the plugin says so at warn level.
func TestProtocolFromNonGoFileServesBuiltin(t *testing.T) {
	notGo := filepath.Join(t.TempDir(), "not-a-go-binary.txt")
	if err := os.WriteFile(notGo, []byte("no descriptors in here.proto\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := lifecycle(t, options{autoMTLS: true, extraEnv: []string{
		"FLEETING_OPENSTACK_PROTOCOL_FROM=" + notGo, "XDG_CACHE_HOME=" + t.TempDir()}})
	l := logs.find(t, hostkit.BuiltinLogMessage)
	if l == nil || l["@level"] != "warn" {
		t.Fatalf("warn line %q = %v; log:\n%s", hostkit.BuiltinLogMessage, l, logs.String())
	}
	if why, _ := l["why"].(string); !strings.Contains(why, notGo) {
		t.Fatalf("warn line does not say why (naming %s): %v", notGo, l)
	}
	if l := logs.find(t, hostkit.ContractLogMessage); l != nil {
		t.Fatalf("the plugin claims a runner contract although the override holds none: %v", l)
	}
}

func TestInitConfigErrorIsReadable(t *testing.T) {
	s, err := start(t, options{})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer s.client.Kill()
	_, err = s.group.Init(ctx(t), &pb.InitRequest{Config: []byte(`{"name":"x","nmae":"typo"}`), Settings: &pb.Settings{}})
	if err == nil || !strings.Contains(err.Error(), "unknown key(s) nmae") {
		t.Fatalf("Init error = %v, want the config problem in words", err)
	}
	// Before a successful Init every other RPC says so.
	if _, err := s.group.Update(ctx(t), &pb.UpdateRequest{}); err == nil || !strings.Contains(err.Error(), "not initialised") {
		t.Fatalf("Update before Init error = %v", err)
	}
}

func TestMultiplexAnsweredHonestly(t *testing.T) {
	_, err := start(t, options{mux: true})
	if !errors.Is(err, plugin.ErrGRPCBrokerMuxNotSupported) {
		t.Fatalf("start with GRPCBrokerMultiplex: err = %v, want ErrGRPCBrokerMuxNotSupported", err)
	}
}

func TestWithoutCookie(t *testing.T) {
	cmd := exec.Command(pluginBin(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit = %v, want status 1", err)
	}
	if stdout.Len() != 0 {
		t.Fatalf("stdout = %q, want nothing", stdout.String())
	}
	// go-plugin's own line, then one line pointing people at --help (issue 12).
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "This binary is a plugin") || !strings.Contains(lines[1], "--help") {
		t.Fatalf("stderr = %q, want go-plugin's line and a line pointing at --help", stderr.String())
	}
}

func TestSIGINTIgnored(t *testing.T) {
	s, err := start(t, options{})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer s.client.Kill()
	if err := syscall.Kill(s.pid, syscall.SIGINT); err != nil {
		t.Fatalf("kill -INT: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	raw, _ := s.client.Client()
	if err := raw.Ping(); err != nil {
		t.Fatalf("plugin died on SIGINT: %v", err)
	}
}

func TestOpenStackProviderConfigErrorsAtInit(t *testing.T) {
	s, err := start(t, options{real: true})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer s.client.Kill()
	config := `{"name":"g","server_spec":{"name":"w-%d","imageRef":"not-a-uuid","flavorRef":"1","networks":"auto","falvor_name":"x"}}`
	_, err = s.group.Init(ctx(t), &pb.InitRequest{Config: []byte(config), Settings: &pb.Settings{}})
	if err == nil {
		t.Fatal("Init accepted an invalid plugin_config")
	}
	for _, want := range []string{"server_spec.imageRef", "server_spec.falvor_name", "did you mean 'flavor_name'"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Init error %q does not mention %q", err.Error(), want)
		}
	}
}
