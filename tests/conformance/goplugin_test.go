// Conformance of the Python plugin executable against HashiCorp's real
// go-plugin client (the transport gitlab-runner's fleeting client uses).
//
// The transport options fleeting's own client does not expose (AutoMTLS,
// socket dir and group, multiplexing) are exercised here with go-plugin's
// client and fleeting's handshake (hostkit.Handshake); the fleeting service
// is called through stubs generated from this project's .proto, which is
// fleeting's contract (fleetingpb/). fleeting's own client drives the plugin
// in handshake_test.go and fleeting_test.go.
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
	"io"
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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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

// update is one streamed Update: instance -> state (a duplicate fails t).
func update(t *testing.T, g pb.InstanceGroupClient) map[string]pb.UpdateResponse_State {
	t.Helper()
	stream, err := g.Update(ctx(t), &pb.Empty{})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	out := map[string]pb.UpdateResponse_State{}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Update stream: %v", err)
		}
		if _, dup := out[m.GetInstance()]; dup {
			t.Fatalf("Update streamed %s twice", m.GetInstance())
		}
		out[m.GetInstance()] = m.GetState()
	}
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
	if got := initResp.GetId(); got != "memory/conf" {
		t.Fatalf("Init id = %q", got)
	}
	if got := initResp.GetMaxSize(); got != 5 {
		t.Fatalf("Init max_size = %d", got)
	}

	inc, err := s.group.Increase(ctx(t), &pb.IncreaseRequest{N: 3})
	if err != nil || inc.GetSucceeded() != 3 {
		t.Fatalf("Increase(3) = %v, %v", inc, err)
	}
	// Beyond max_size: fleeting's IncreaseResponse has no error field and a Go
	// client drops the body of an error status, so the plugin answers OK with
	// what it created: the runner's count stays right.
	inc, err = s.group.Increase(ctx(t), &pb.IncreaseRequest{N: 4})
	if err != nil || inc.GetSucceeded() != 2 {
		t.Fatalf("Increase(4) beyond max_size = %v, %v (want OK and 2 succeeded)", inc, err)
	}
	states := update(t, s.group)
	if len(states) != 5 {
		t.Fatalf("Update = %v, want 5 instances", states)
	}
	for id, st := range states {
		if st != pb.UpdateResponse_creating {
			t.Fatalf("first Update state of %s = %v, want creating", id, st)
		}
	}
	for id, st := range update(t, s.group) {
		if st != pb.UpdateResponse_running {
			t.Fatalf("second Update state of %s = %v, want running", id, st)
		}
	}
	ci, err := s.group.ConnectInfo(ctx(t), &pb.ConnectInfoRequest{Instance: "mem-1"})
	if err != nil {
		t.Fatalf("ConnectInfo: %v", err)
	}
	if ci.GetInternalAddr() != "192.0.2.10" || ci.GetExternalAddr() != "198.51.100.10" ||
		ci.GetConnector().GetUsername() != "core" ||
		ci.GetConnector().GetKeepalive() != int64(30*time.Second) {
		t.Fatalf("ConnectInfo = %v", ci)
	}
	if _, err := s.group.ConnectInfo(ctx(t), &pb.ConnectInfoRequest{Instance: "nope"}); err == nil ||
		!strings.Contains(err.Error(), "instance nope not found") {
		t.Fatalf("ConnectInfo(unknown) error = %v, want a readable reason", err)
	}
	if _, err := s.group.Heartbeat(ctx(t), &pb.HeartbeatRequest{Instance: "mem-1"}); err != nil {
		t.Fatalf("Heartbeat(running): %v", err)
	}
	dec, err := s.group.Decrease(ctx(t), &pb.DecreaseRequest{Instances: []string{"mem-1", "mem-9"}})
	if err != nil || len(dec.GetSucceeded()) != 1 || dec.GetSucceeded()[0] != "mem-1" {
		t.Fatalf("Decrease(mem-1, unknown mem-9) = %v, %v (want OK, [mem-1])", dec, err)
	}
	if _, err := s.group.Heartbeat(ctx(t), &pb.HeartbeatRequest{Instance: "mem-1"}); err == nil ||
		!strings.Contains(err.Error(), "unhealthy") {
		t.Fatalf("Heartbeat(deleting) error = %v, want unhealthy", err)
	}
	if _, err := s.group.Suspend(ctx(t), &pb.SuspendRequest{Instances: []string{"mem-2"}}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("Suspend error = %v, want Unimplemented (no suspend_resume capability)", err)
	}
	if _, err := s.group.Shutdown(ctx(t), &pb.Empty{}); err != nil {
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
	l := logs.LogSink.FindPrefix(hostkit.BuiltinLogMessage)
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
	stream, err := s.group.Update(ctx(t), &pb.Empty{})
	if err == nil {
		_, err = stream.Recv()
	}
	if err == nil || !strings.Contains(err.Error(), "not initialised") {
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
