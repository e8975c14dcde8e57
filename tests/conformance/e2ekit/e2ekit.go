// Package e2ekit is what the Go tests that drive the installed plugin against
// the devcloud share (tests/conformance/e2e, tests/conformance/provisioner,
// the TestProvisioning runs of tests/conformance/fleetingtest): the E2E
// config tests/e2e/test_e2e.py writes, starting the plugin through fleeting's
// own client (fleeting.RunPlugin), and the safety checks before any SSH
// connection to a devcloud instance.
//
// The exported names are used by other packages: keep them stable. It
// imports fleeting, so a package using it must not import ../fleetingpb
// (both register the .proto package "proto": the test binary panics at start).
package e2ekit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"gitlab.com/gitlab-org/fleeting/fleeting"
	"golang.org/x/crypto/ssh"

	"fleeting-openstack/conformance/hostkit"
)

// Config is FLEETING_E2E_CONFIG, the devcloud resources written by
// tests/e2e/test_e2e.py (or any other pytest wrapper that prepares them).
type Config struct {
	CloudsYAML    string            `json:"clouds_yaml"`
	Cloud         string            `json:"cloud"`
	Images        map[string]string `json:"images"` // ubuntu, flatcar, ubuntu-never-ready, ubuntu-error
	Flavor        string            `json:"flavor"`
	Network       string            `json:"network"`
	SecurityGroup string            `json:"security_group"`
	Keypair       struct {
		Name       string `json:"name"`
		PrivateKey string `json:"private_key"`
	} `json:"keypair"`
	FIP struct {
		Port    string `json:"port"`    // a demo-project port on workers with a floating IP (optional)
		Address string `json:"address"` // that floating IP
		Pool    string `json:"pool"`    // an external network for floating_ip_pool (optional)
		CIDR    string `json:"cidr"`    // its subnet
	} `json:"fip"`
	Helper   string `json:"helper"`    // tests/devcloud/testdriver/e2e_instance.py
	StateDir string `json:"state_dir"` // the driver's state ($FLEETING_E2E_STATE)
	TmpDir   string `json:"tmp_dir"`   // for the plugin's credential state dirs
	RunID    string `json:"run_id"`
}

// PluginBin is FLEETING_PLUGIN_BIN, the installed plugin executable (the
// test fails, never skips, without it).
func PluginBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("FLEETING_PLUGIN_BIN")
	if bin == "" {
		t.Fatal("FLEETING_PLUGIN_BIN must name the installed fleeting-plugin-openstack executable")
	}
	return bin
}

// LoadConfig reads FLEETING_E2E_CONFIG (and checks FLEETING_PLUGIN_BIN).
func LoadConfig(t testing.TB) *Config {
	t.Helper()
	path := os.Getenv("FLEETING_E2E_CONFIG")
	if path == "" {
		t.Fatal("FLEETING_E2E_CONFIG must name the E2E config written by tests/e2e/test_e2e.py")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	PluginBin(t)
	return &c
}

// PluginConfig is a plugin_config for group on the devcloud: server_spec with
// image (a key of Config.Images), the flavor, the workers network (or, with
// external, the pre-made port that carries the floating IP), the security
// group; strategy, max_size 5, boot_time 3m and a credentials state dir under
// TmpDir. extra is merged on top (top-level keys; "server_spec" keys are
// merged into server_spec).
func (c *Config) PluginConfig(group, strategy, image string, external bool, extra map[string]any) map[string]any {
	network := map[string]any{"uuid": c.Network}
	if external {
		network = map[string]any{"port": c.FIP.Port}
	}
	spec := map[string]any{
		"name":            group + "-%d",
		"imageRef":        c.Images[image],
		"flavorRef":       c.Flavor,
		"networks":        []any{network},
		"security_groups": []any{map[string]any{"name": c.SecurityGroup}},
	}
	cfg := map[string]any{
		"cloud":         c.Cloud,
		"clouds_config": c.CloudsYAML,
		"name":          group,
		"boot_time":     "3m",
		"strategy":      strategy,
		"max_size":      5,
		"credentials":   map[string]any{"state_dir": filepath.Join(c.TmpDir, group)},
		"server_spec":   spec,
	}
	for k, v := range extra {
		if k == "server_spec" {
			for sk, sv := range v.(map[string]any) {
				spec[sk] = sv
			}
			continue
		}
		cfg[k] = v
	}
	return cfg
}

// Plugin is the plugin started through fleeting's own client.
type Plugin struct {
	Runner *fleeting.Runner
	Logs   *hostkit.LogSink
}

// RunPlugin starts FLEETING_PLUGIN_BIN with fleeting.RunPlugin (fleeting's
// handshake: cookie FLEETING_INSTANCE_GROUP_PLUGIN, app protocol version 0,
// plugin "instancegroup") and pluginConfig; the plugin's log is collected at
// debug level and printed when t fails. The plugin is killed at cleanup
// unless the test killed it.
func RunPlugin(t testing.TB, pluginConfig []byte) *Plugin {
	t.Helper()
	sink := &hostkit.LogSink{}
	logger := hostkit.Logger("runner", hclog.Debug, sink)
	r, err := fleeting.RunPlugin(PluginBin(t), pluginConfig, fleeting.WithPluginLogger(logger))
	if err != nil {
		t.Fatalf("fleeting.RunPlugin(%s): %v\nplugin log:\n%s", PluginBin(t), err, sink.String())
	}
	p := &Plugin{Runner: r, Logs: sink}
	t.Cleanup(func() {
		r.Kill()
		if t.Failed() {
			t.Logf("plugin log (last 8000 bytes):\n%s", Tail(sink.String(), 8000))
		}
	})
	return p
}

// Tail is the last n bytes of s.
func Tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type driverState struct {
	Nics []struct {
		IP     string `json:"ip"`
		Bridge string `json:"bridge"`
	} `json:"nics"`
	Fips []struct {
		Fip    string `json:"fip"`
		Bridge string `json:"bridge"`
	} `json:"fips"`
}

// CheckOurs is nil when addr belongs to server id as the test driver created
// it (its state.json), the host routes it to that driver's bridge and the
// driver's route-check agrees (the bridge holds only the driver's ports,
// forwarding off); otherwise an error saying why not. Nothing is connected to.
func CheckOurs(c *Config, id, addr string) error {
	raw, err := os.ReadFile(filepath.Join(c.StateDir, id, "state.json"))
	if err != nil {
		return fmt.Errorf("server %s has no test-driver state: %v", id, err)
	}
	var st driverState
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("parse driver state of %s: %v", id, err)
	}
	bridge := ""
	for _, n := range st.Nics {
		if n.IP == addr {
			bridge = n.Bridge
		}
	}
	for _, f := range st.Fips {
		if f.Fip == addr {
			bridge = f.Bridge
		}
	}
	if bridge == "" || !strings.HasPrefix(bridge, "fe2e-") {
		return fmt.Errorf("not an address the test driver created for %s", id)
	}
	var routes []struct {
		Dev string `json:"dev"`
	}
	out, err := exec.Command("ip", "-j", "route", "get", addr).Output()
	if err != nil || json.Unmarshal(out, &routes) != nil || len(routes) != 1 {
		return fmt.Errorf("ip route get: %s %v", out, err)
	}
	if routes[0].Dev != bridge {
		return fmt.Errorf("routed via %q, not the driver's bridge %s", routes[0].Dev, bridge)
	}
	chk, err := exec.Command("/usr/bin/python3", "-P", c.Helper, "route-check", addr).CombinedOutput()
	if err != nil || strings.TrimSpace(string(chk)) != bridge {
		return fmt.Errorf("route-check: %s %v", chk, err)
	}
	return nil
}

// AssertOurs fails t (before any connection) unless CheckOurs(c, id, addr) is nil.
func AssertOurs(t testing.TB, c *Config, id, addr string) {
	t.Helper()
	if err := CheckOurs(c, id, addr); err != nil {
		t.Fatalf("REFUSING to connect to %s: %v", addr, err)
	}
}

// RunSSH checks addr with AssertOurs, logs into it as user with the private
// key (retrying for 90 s while sshd starts; the host key must be one the
// instance printed on its console) and returns command's combined output.
func RunSSH(t testing.TB, c *Config, id, addr, user string, key []byte, command string) string {
	t.Helper()
	AssertOurs(t, c, id, addr)
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatalf("ConnectInfo key of %s does not parse: %v", id, err)
	}
	console := filepath.Join(c.StateDir, id, "console.log")
	cfg := &ssh.ClientConfig{
		User: user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			text, err := os.ReadFile(console)
			if err != nil {
				return err
			}
			if fp := ssh.FingerprintSHA256(key); !bytes.Contains(text, []byte(fp)) {
				return fmt.Errorf("host key %s was not printed on the console of %s", fp, id)
			}
			return nil
		},
		Timeout: 10 * time.Second,
	}
	var client *ssh.Client
	deadline := time.Now().Add(90 * time.Second) // the runner retries too: sshd may still be starting
	for {
		client, err = ssh.Dial("tcp", net.JoinHostPort(addr, "22"), cfg)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh %s@%s (server %s): %v", user, addr, id, err)
		}
		time.Sleep(time.Second)
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		t.Fatalf("ssh session on %s: %v", addr, err)
	}
	defer session.Close()
	out, err := session.CombinedOutput(command)
	if err != nil {
		t.Fatalf("ssh %s %q: %v: %s", addr, command, err, out)
	}
	return string(out)
}

// AssertInstanceGone fails t unless, within 30 s, the driver removed
// everything of server id (netns, state dir, links, processes, mounts).
func AssertInstanceGone(t testing.TB, c *Config, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		if _, err := os.Stat("/run/netns/fleeting-e2e-" + id); err == nil {
			left = append(left, "netns")
		}
		if _, err := os.Stat(filepath.Join(c.StateDir, id)); err == nil {
			left = append(left, "state dir")
		}
		veth := "fe2v" + strings.ReplaceAll(id, "-", "")[:9]
		links, _ := os.ReadDir("/sys/class/net")
		for _, l := range links {
			if strings.HasPrefix(l.Name(), veth) {
				left = append(left, "link "+l.Name())
			}
		}
		procs, _ := os.ReadDir("/proc")
		for _, pr := range procs {
			root, err := os.Readlink(filepath.Join("/proc", pr.Name(), "root"))
			if err == nil && strings.HasPrefix(root, filepath.Join(c.StateDir, id)) {
				left = append(left, "process "+pr.Name())
			}
		}
		mounts, _ := os.ReadFile("/proc/self/mountinfo")
		if bytes.Contains(mounts, []byte(filepath.Join(c.StateDir, id))) {
			left = append(left, "mount")
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s deleted but left behind: %v", id, left)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
