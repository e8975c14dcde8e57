//go:build artifact

package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/connector"
	"gitlab.com/gitlab-org/fleeting/fleeting/integration"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// TestProvisioningInstalled is fleeting's own conformance test, integration.TestProvisioning,
// run with the plugin as fleeting-artifact's installer put it (ARTIFACT_PLUGIN, the path
// installer.LookPath resolved) against the devcloud (ARTIFACT_PLUGIN_CONFIG: a plugin_config JSON
// file; ARTIFACT_USERNAME: the connector's login user).
func TestProvisioningInstalled(t *testing.T) {
	plugin := env(t, "ARTIFACT_PLUGIN")
	raw, err := os.ReadFile(env(t, "ARTIFACT_PLUGIN_CONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	var pluginConfig map[string]any
	if err := json.Unmarshal(raw, &pluginConfig); err != nil {
		t.Fatal(err)
	}
	integration.TestProvisioning(t, plugin, integration.Config{
		PluginConfig: pluginConfig,
		ConnectorConfig: provider.ConnectorConfig{
			OS:       "linux",
			Arch:     "amd64",
			Protocol: provider.ProtocolSSH,
			Username: env(t, "ARTIFACT_USERNAME"),
		},
		MaxInstances: 1,
	})
}

// TestConnectInstalled does what TestProvisioning's executeCommand does, once the instance is
// running: fleeting's TestProvisioning runs the command right after the first Update, when a
// server that takes seconds to boot is still creating, so it logs in only into plugins that
// report running at once. Here fleeting's provisioner drives the installed plugin until the
// instance is running, then fleeting's connector logs in over SSH with ConnectInfo's credentials.
func TestConnectInstalled(t *testing.T) {
	plugin := env(t, "ARTIFACT_PLUGIN")
	raw, err := os.ReadFile(env(t, "ARTIFACT_PLUGIN_CONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	runner, err := fleeting.RunPlugin(plugin, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Kill()
	running := make(chan fleeting.Instance, 10)
	deleted := make(chan string, 10)
	provisioner, err := fleeting.Init(context.Background(), nil, runner.InstanceGroup(),
		fleeting.WithMaxSize(1),
		fleeting.WithUpdateIntervalWhenExpecting(2*time.Second),
		fleeting.WithInstanceGroupSettings(provider.Settings{ConnectorConfig: provider.ConnectorConfig{
			OS: "linux", Arch: "amd64", Protocol: provider.ProtocolSSH, Username: env(t, "ARTIFACT_USERNAME"),
		}}),
		fleeting.WithSubscriber(func(instances []fleeting.Instance) {
			for _, inst := range instances {
				switch inst.State() {
				case provider.StateRunning:
					running <- inst
				case provider.StateDeleted:
					deleted <- inst.ID()
				}
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer provisioner.Shutdown(context.Background())
	provisioner.Request(1)
	var inst fleeting.Instance
	select {
	case inst = <-running:
	case <-time.After(5 * time.Minute):
		t.Fatal("no instance running after 5 minutes")
	}
	info, err := inst.ConnectInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err = connector.Run(context.Background(), info, connector.ConnectorOptions{
		RunOptions: connector.RunOptions{Command: "echo 'hello world' && id -un", Stdout: &stdout, Stderr: &stderr},
	})
	if err != nil || !strings.Contains(stdout.String(), "hello world\n"+info.Username) {
		t.Fatalf("SSH as %s to %s: %v; stdout %q, stderr %q", info.Username, info.InternalAddr, err, stdout.String(), stderr.String())
	}
	t.Logf("logged in to %s (%s) as %s: %q", inst.ID(), info.InternalAddr, info.Username, stdout.String())
	inst.Delete()
	select {
	case <-deleted:
	case <-time.After(3 * time.Minute):
		t.Fatal("instance not deleted after 3 minutes")
	}
}
