//go:build artifact

package artifact

import (
	"encoding/json"
	"os"
	"testing"

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
