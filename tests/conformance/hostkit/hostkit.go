// Package hostkit is what every Go host of these tests shares that does not
// depend on a fleeting contract: the handshake values, a client-only go-plugin
// plugin, the go-plugin client configuration and start-up (handshake, ping,
// dispense), the log sink and the checks after Kill.
//
// It must never import a generated .pb.go package (in particular not
// ../fleetingpb): Go links the descriptor of every imported .proto file into
// the binary, and the plugin reads its contract from the binary of the host
// that starts it (fleeting_openstack/contract/discovery.py). A variant host
// (../variants/<name>) must embed ONLY its variant contract; pluginclient adds
// the built-in stubs on top of this package for the other hosts.
package hostkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Handshake is fleeting's go-plugin handshake (the fleeting module's
// internal/plugin.Handshake, which hosts outside that module cannot import):
// magic cookie FLEETING_INSTANCE_GROUP_PLUGIN, app protocol version 0.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  0,
	MagicCookieKey:   "FLEETING_INSTANCE_GROUP_PLUGIN",
	MagicCookieValue: "4c6410b1-cb78-4962-8c76-ab936d0ea908",
}

// PluginName is the name the hosts dispense (client-side only: it never
// crosses the wire).
const PluginName = "instancegroup"

// ClientPlugin is a go-plugin gRPC plugin for a host that is only a client:
// it hands out NewClient(conn), a generated service stub.
type ClientPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	NewClient func(*grpc.ClientConn) interface{}
}

// GRPCServer is never used: the hosts are clients only.
func (ClientPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("client only")
}

// GRPCClient returns the stub over the plugin's connection.
func (p ClientPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return p.NewClient(c), nil
}

// Plugins is the versioned plugin set a host offers: PluginName at each of
// versions (go-plugin's client puts them, comma-separated, in the plugin's
// PLUGIN_PROTOCOL_VERSIONS); none given: Handshake.ProtocolVersion (0).
func Plugins(newClient func(*grpc.ClientConn) interface{}, versions ...int) map[int]plugin.PluginSet {
	if len(versions) == 0 {
		versions = []int{int(Handshake.ProtocolVersion)}
	}
	out := map[int]plugin.PluginSet{}
	for _, v := range versions {
		out[v] = plugin.PluginSet{PluginName: ClientPlugin{NewClient: newClient}}
	}
	return out
}

// LogSink collects what go-plugin's client re-logs from the plugin's stderr
// (use it as the client hclog.Logger's Output); safe for concurrent use.
type LogSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String is everything written so far.
func (s *LogSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Lines is every JSON log line written so far (a non-JSON line is kept as
// {"@raw": line}).
func (s *LogSink) Lines() []map[string]interface{} {
	var out []map[string]interface{}
	for _, raw := range strings.Split(s.String(), "\n") {
		if strings.TrimSpace(raw) == "" {
			continue
		}
		var l map[string]interface{}
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			l = map[string]interface{}{"@raw": raw}
		}
		out = append(out, l)
	}
	return out
}

// Find is the first line whose @message is message, or nil.
func (s *LogSink) Find(message string) map[string]interface{} {
	for _, l := range s.Lines() {
		if l["@message"] == message {
			return l
		}
	}
	return nil
}

// FindPrefix is the first line whose @message starts with prefix, or nil.
func (s *LogSink) FindPrefix(prefix string) map[string]interface{} {
	for _, l := range s.Lines() {
		if m, _ := l["@message"].(string); strings.HasPrefix(m, prefix) {
			return l
		}
	}
	return nil
}

// MustEnv is the value of an environment variable the test cannot run without
// (it fails, never skips, when it is missing).
func MustEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s must be set", name)
	}
	return v
}

// Host is a started plugin: go-plugin's client, the dispensed stub and what
// is needed to check the process afterwards.
type Host struct {
	Client *plugin.Client
	Stub   interface{}
	Logs   *LogSink
	Pid    int
	Socket string
}

// Options of Start.
type Options struct {
	Handshake plugin.HandshakeConfig
	NewClient func(*grpc.ClientConn) interface{}
	AutoMTLS  bool
	// Versions are the app protocol versions offered (default: the
	// handshake's ProtocolVersion).
	Versions []int
	// Env is the plugin's whole environment besides what go-plugin adds.
	Env []string
}

// Logger is a host's client-side hclog logger: JSON lines into out, from level on.
func Logger(name string, level hclog.Level, out io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: level, Output: out, JSONFormat: true})
}

// ClientConfig is the go-plugin client configuration every host starts the
// plugin with: cmd, gRPC only, PluginName handing out newClient's stub at
// app protocol version handshake.ProtocolVersion, one minute to start.
// Callers set the rest (other versions, AutoMTLS, multiplexing, sockets).
func ClientConfig(cmd *exec.Cmd, handshake plugin.HandshakeConfig, newClient func(*grpc.ClientConn) interface{},
	logger hclog.Logger) *plugin.ClientConfig {
	return &plugin.ClientConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: Plugins(newClient, int(handshake.ProtocolVersion)),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		StartTimeout:     time.Minute,
	}
}

// Connect starts c's plugin (go-plugin's handshake), pings it and dispenses
// PluginName. A failed handshake is returned, the plugin killed (some tests
// expect one); a failed ping or dispense fails t, with the plugin's log.
func Connect(t *testing.T, c *plugin.Client, logs *LogSink) (stub interface{}, rc *plugin.ReattachConfig, err error) {
	t.Helper()
	rpc, err := c.Client()
	if err != nil {
		c.Kill()
		return nil, nil, err
	}
	if err := rpc.Ping(); err != nil {
		c.Kill()
		t.Fatalf("ping (grpc.health.v1 service \"plugin\"): %v\nplugin log:\n%s", err, logs.String())
	}
	stub, err = rpc.Dispense(PluginName)
	if err != nil {
		c.Kill()
		t.Fatalf("dispense: %v", err)
	}
	return stub, c.ReattachConfig(), nil
}

// Start runs bin as this process's own child through go-plugin's real client
// (gRPC only), pings it and dispenses the stub. The plugin's log reaches
// Host.Logs at trace level.
func Start(t *testing.T, bin string, o Options) *Host {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = o.Env
	sink := &LogSink{}
	cfg := ClientConfig(cmd, o.Handshake, o.NewClient, Logger("host", hclog.Trace, sink))
	cfg.AutoMTLS = o.AutoMTLS
	if len(o.Versions) > 0 {
		cfg.VersionedPlugins = Plugins(o.NewClient, o.Versions...)
	}
	c := plugin.NewClient(cfg)
	raw, rc, err := Connect(t, c, sink)
	if err != nil {
		t.Fatalf("start %s: %v\nplugin log:\n%s", bin, err, sink.String())
	}
	return &Host{Client: c, Stub: raw, Logs: sink, Pid: rc.Pid, Socket: rc.Addr.String()}
}

// KillAndCheck kills the plugin through go-plugin and fails unless its
// process and unix socket are gone within 10 s.
func (h *Host) KillAndCheck(t *testing.T) {
	t.Helper()
	h.Client.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Kill(h.Pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still exists after Kill (err=%v)", h.Pid, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(h.Socket); !os.IsNotExist(err) {
		t.Fatalf("socket %s still exists after Kill (stat err=%v)", h.Socket, err)
	}
	if !h.Client.Exited() {
		t.Fatal("go-plugin client does not report the plugin as exited")
	}
}
