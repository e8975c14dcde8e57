// Package fleetingclient drives the installed plugin with fleeting's own Go
// code (gitlab.com/gitlab-org/fleeting/fleeting at the version go.mod pins):
// the client every gitlab-runner starts a plugin with (fleeting.RunPlugin)
// and plugin.Main's command-line conventions. It must not import
// ../fleetingpb (fleeting registers the same .proto package "proto").
package fleetingclient

// Handshake proof (issue 17, item 1), version 0: see ../handshake_test.go for
// the hosts offering 1, 3, and 3 and 0.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"

	"fleeting-openstack/conformance/hostkit"
)

func pluginBin(t *testing.T) string {
	t.Helper()
	return hostkit.MustEnv(t, "FLEETING_PLUGIN_BIN")
}

// TestHandshakeFleetingClient: fleeting.RunPlugin offers only version 0 (no
// other version, fleeting's cookie); a plugin answering anything else fails
// right there with "incompatible API version". The plugin reads the contract
// from its parent, this test binary, which links fleeting's client.
func TestHandshakeFleetingClient(t *testing.T) {
	sink := fleetingLifecycle(t, "hs0", nil)
	if !strings.Contains(sink.String(), "serving the runner's contract") {
		t.Fatalf("the plugin did not serve the contract read from its parent:\n%s", sink.String())
	}
}

// TestFleetingClientWhenTheParentCannotBeRead: a plugin that cannot read the
// executable that started it (another mount namespace, an unreadable binary;
// here the contract source names a file that cannot be read) serves its
// built-in contract, and fleeting's own client runs the whole lifecycle on it.
func TestFleetingClientWhenTheParentCannotBeRead(t *testing.T) {
	sink := fleetingLifecycle(t, "hsb", map[string]string{
		"FLEETING_OPENSTACK_PROTOCOL_FROM": t.TempDir() + "/no-such-runner",
	})
	if !strings.Contains(sink.String(), "serving the built-in one (fleeting's)") {
		t.Fatalf("the plugin did not fall back to the built-in contract:\n%s", sink.String())
	}
}

// fleetingLifecycle runs Init, Increase, Update, ConnectInfo, Heartbeat,
// Decrease, Suspend, Shutdown and Kill through fleeting's client and returns
// what the plugin logged.
func fleetingLifecycle(t *testing.T, name string, extra map[string]string) *hostkit.LogSink {
	t.Helper()
	for _, kv := range hostkit.MemoryEnv(t) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // fleeting.RunPlugin hands the plugin this process's environment
	}
	for k, v := range extra {
		t.Setenv(k, v)
	}
	sink := &hostkit.LogSink{}
	runner, err := fleeting.RunPlugin(pluginBin(t), []byte(`{"name":"`+name+`","max_size":4}`),
		fleeting.WithPluginLogger(hostkit.Logger("runner", hclog.Debug, sink)))
	if err != nil {
		t.Fatalf("fleeting.RunPlugin: %v\nplugin log:\n%s", err, sink.String())
	}
	killed := false
	defer func() {
		if !killed {
			runner.Kill()
		}
	}()
	pid := hostkit.OnlyChild(t, pluginBin(t))
	if got := hostkit.Environ(t, pid)["PLUGIN_PROTOCOL_VERSIONS"]; got != "0" {
		t.Fatalf("fleeting's client offered PLUGIN_PROTOCOL_VERSIONS=%q, want 0", got)
	}
	g := runner.InstanceGroup()
	c := context.Background()
	info, err := g.Init(c, hclog.NewNullLogger(), provider.Settings{ConnectorConfig: provider.ConnectorConfig{
		OS: "linux", Protocol: provider.ProtocolSSH, Username: "core", Keepalive: 30 * time.Second, Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if info.ID != "memory/"+name || info.MaxSize != 4 || info.Version == "" {
		t.Fatalf("Init = %+v, want id memory/%s, max_size 4 and a version", info, name)
	}
	if n, err := g.Increase(c, 2); err != nil || n != 2 {
		t.Fatalf("Increase(2) = %d, %v", n, err)
	}
	updateAll := func() map[string]provider.State {
		states := map[string]provider.State{}
		if err := g.Update(c, func(id string, s provider.State) { states[id] = s }); err != nil {
			t.Fatalf("Update: %v", err)
		}
		return states
	}
	if s := updateAll(); len(s) != 2 || s["mem-1"] != provider.StateCreating || s["mem-2"] != provider.StateCreating {
		t.Fatalf("first Update = %v, want mem-1 and mem-2 creating", s)
	}
	if s := updateAll(); len(s) != 2 || s["mem-1"] != provider.StateRunning || s["mem-2"] != provider.StateRunning {
		t.Fatalf("second Update = %v, want mem-1 and mem-2 running", s)
	}
	ci, err := g.ConnectInfo(c, "mem-1")
	if err != nil {
		t.Fatalf("ConnectInfo: %v", err)
	}
	if ci.InternalAddr != "192.0.2.10" || ci.ExternalAddr != "198.51.100.10" || ci.Username != "core" ||
		ci.OS != "linux" || ci.Protocol != provider.ProtocolSSH || ci.Keepalive != 30*time.Second || ci.Timeout != 10*time.Second {
		t.Fatalf("ConnectInfo = %+v", ci)
	}
	if err := g.Heartbeat(c, "mem-1"); err != nil {
		t.Fatalf("Heartbeat(running): %v", err)
	}
	done, err := g.Decrease(c, []string{"mem-1", "mem-2"})
	if err != nil || len(done) != 2 {
		t.Fatalf("Decrease = %v, %v", done, err)
	}
	if s := updateAll(); len(s) != 2 || s["mem-1"] != provider.StateDeleting {
		t.Fatalf("Update after Decrease = %v, want both deleting", s)
	}
	if s := updateAll(); len(s) != 0 {
		t.Fatalf("Update = %v, want the group empty", s)
	}
	if _, err := g.Suspend(c, []string{"x"}); !errors.Is(err, provider.ErrSuspendResumeNotSupported) {
		t.Fatalf("Suspend through fleeting's client = %v, want ErrSuspendResumeNotSupported", err)
	}
	if err := g.Shutdown(c); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	runner.Kill()
	killed = true
	hostkit.WaitGone(t, pid, 2*time.Second)
	return sink
}
