//go:build e2e

// End to end: the installed plugin executable, driven through HashiCorp
// go-plugin's real client (v1.8.0) and the fleeting service stubs
// (../fleetingpb), creates devcloud servers that the test driver
// (tests/devcloud/testdriver) boots from the plugin's user_data; the test
// logs into them over SSH with the credentials ConnectInfo returns.
//
// fleeting's own integration.TestProvisioning cannot be used: the Go module
// proxy refuses gitlab.com/gitlab-org/fleeting/fleeting (403, see
// docs/protocol.md). TestProvisioning below follows the same sequence:
// Init -> Increase -> Update until running -> ConnectInfo -> SSH and run a
// command -> Decrease to zero -> Update until gone -> Kill.
//
// Build tag e2e (so that `go test ./...` of the conformance module does not
// build it). Run by tests/e2e/test_e2e.py:
//
//	FLEETING_PLUGIN_BIN=... FLEETING_E2E_CONFIG=e2e.json go test -tags e2e ./e2e/...
//
// FLEETING_E2E_CONFIG (written by the pytest wrapper) names the devcloud
// resources; see e2eConfig. The test fails, never skips, when it is missing.
//
// Safety: before the first connection to any address the test checks that
// the address is one the test driver created for that server (its
// state.json) and that `ip route get` sends it to one of the driver's
// bridges (no uplink, forwarding off); it never connects anywhere else.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"golang.org/x/crypto/ssh"

	pb "fleeting-openstack/conformance/fleetingpb"
	"fleeting-openstack/conformance/pluginclient"
)

// e2eConfig is FLEETING_E2E_CONFIG.
type e2eConfig struct {
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
		Port    string `json:"port"`
		Address string `json:"address"`
	} `json:"fip"`
	Helper   string `json:"helper"`    // tests/devcloud/testdriver/e2e_instance.py
	StateDir string `json:"state_dir"` // the driver's state ($FLEETING_E2E_STATE)
	TmpDir   string `json:"tmp_dir"`   // for the plugin's credential state dirs
	RunID    string `json:"run_id"`
}

func loadConfig(t *testing.T) *e2eConfig {
	t.Helper()
	path := os.Getenv("FLEETING_E2E_CONFIG")
	if path == "" {
		t.Fatal("FLEETING_E2E_CONFIG must name the E2E config written by tests/e2e/test_e2e.py")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var c e2eConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if os.Getenv("FLEETING_PLUGIN_BIN") == "" {
		t.Fatal("FLEETING_PLUGIN_BIN must name the installed fleeting-plugin-openstack executable")
	}
	return &c
}

// -- the plugin process ----------------------------------------------------------

type pluginProc struct {
	client *plugin.Client
	group  pb.InstanceGroupClient
	logs   *pluginclient.LogSink
	pid    int
}

func startPlugin(t *testing.T) *pluginProc {
	t.Helper()
	cmd := exec.Command(os.Getenv("FLEETING_PLUGIN_BIN"))
	cmd.Env = append(os.Environ(), "FLEETING_OPENSTACK_LOG_LEVEL=debug")
	sink := &pluginclient.LogSink{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "runner", Level: hclog.Debug, Output: sink, JSONFormat: true})
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginclient.Handshake,
		VersionedPlugins: pluginclient.Plugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           logger,
		StartTimeout:     time.Minute,
	})
	rpc, err := c.Client()
	if err != nil {
		c.Kill()
		t.Fatalf("start plugin: %v", err)
	}
	raw, err := rpc.Dispense("instancegroup")
	if err != nil {
		c.Kill()
		t.Fatalf("dispense: %v", err)
	}
	p := &pluginProc{client: c, group: raw.(pb.InstanceGroupClient), logs: sink, pid: c.ReattachConfig().Pid}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("plugin %d log (last 8000 bytes):\n%s", p.pid, tail(p.logs.String(), 8000))
		}
	})
	return p
}

func (p *pluginProc) kill(t *testing.T) {
	t.Helper()
	p.client.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for !errors.Is(syscall.Kill(p.pid, 0), syscall.ESRCH) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d still running after Kill", p.pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func rpcCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// -- cases ------------------------------------------------------------------------

type provisioningCase struct {
	name         string
	strategy     string
	image        string // key of e2eConfig.Images
	wantUser     string
	instances    int32
	static       bool // Nova keypair + connector key (use_static_credentials)
	external     bool // pre-made port with a floating IP; connect to ExternalAddr too
	options      map[string]any
	check        string // extra command whose output must contain checkWant
	checkWant    string
	restart      bool // stop the plugin with the instances up, log in through a new process
	expectNoBoot bool // never reaches running (fault images)
}

func (tc provisioningCase) pluginConfig(c *e2eConfig, group, stateDir string) []byte {
	network := map[string]any{"uuid": c.Network}
	if tc.external {
		network = map[string]any{"port": c.FIP.Port}
	}
	spec := map[string]any{
		"name":            group + "-%d",
		"imageRef":        c.Images[tc.image],
		"flavorRef":       c.Flavor,
		"networks":        []any{network},
		"security_groups": []any{map[string]any{"name": c.SecurityGroup}},
	}
	if tc.static {
		spec["key_name"] = c.Keypair.Name
	}
	cfg := map[string]any{
		"cloud":         c.Cloud,
		"clouds_config": c.CloudsYAML,
		"name":          group,
		"boot_time":     "3m",
		"strategy":      tc.strategy,
		"max_size":      5,
		"credentials":   map[string]any{"state_dir": stateDir},
		"server_spec":   spec,
	}
	if tc.options != nil {
		cfg["strategy_options"] = tc.options
	}
	if tc.expectNoBoot {
		cfg["boot_time"] = "25s"
		cfg["readiness"] = map[string]any{"on_boot_timeout": "delete"}
	}
	out, _ := json.Marshal(cfg)
	return out
}

func (tc provisioningCase) settings(t *testing.T, c *e2eConfig) *pb.Settings {
	cc := &pb.ConnectorConfig{Os: "linux", Protocol: "ssh", Keepalive: int64(30 * time.Second),
		Timeout: int64(10 * time.Minute)}
	if tc.static {
		key, err := os.ReadFile(c.Keypair.PrivateKey)
		if err != nil {
			t.Fatalf("read static key: %v", err)
		}
		cc.Key = key
		cc.UseStaticCredentials = true
		cc.Username = tc.wantUser // what a runner config names with key_path
	}
	return &pb.Settings{ConnectorConfig: cc}
}

var cases = []provisioningCase{
	{name: "cloud-init", strategy: "cloud-init", image: "ubuntu", wantUser: "ubuntu", instances: 2,
		check: "cat /etc/fleeting-e2e", checkWant: "written by cloud-init"},
	{name: "ignition", strategy: "ignition", image: "flatcar", wantUser: "core", instances: 1,
		check: "cat /etc/fleeting-e2e", checkWant: "written by ignition"},
	{name: "flatcar", strategy: "flatcar", image: "flatcar", wantUser: "core", instances: 1,
		check: "cat /etc/flatcar/update.conf", checkWant: "SERVER=disabled"},
	{name: "custom-static", strategy: "custom", image: "ubuntu", wantUser: "ubuntu", instances: 1, static: true,
		options: map[string]any{"readiness": "cloud-init"}},
	{name: "cloud-init-external", strategy: "cloud-init", image: "ubuntu", wantUser: "ubuntu", instances: 1,
		external: true},
	{name: "restart", strategy: "flatcar", image: "flatcar", wantUser: "core", instances: 2, restart: true},
	{name: "fault-never-ready", strategy: "cloud-init", image: "ubuntu-never-ready", instances: 1,
		expectNoBoot: true},
}

// user_data the operator gives, so the test sees the strategy merged it and
// the image applied it (write_files / storage.files).
func operatorUserData(tc provisioningCase) string {
	switch tc.name {
	case "cloud-init":
		return "#cloud-config\nwrite_files:\n- path: /etc/fleeting-e2e\n  content: |\n    written by cloud-init for {{fleeting.instance_name}}\n"
	case "ignition":
		return `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/fleeting-e2e","mode":420,` +
			`"contents":{"source":"data:,written%20by%20ignition%0A"}}]}}`
	}
	return ""
}

func TestProvisioning(t *testing.T) {
	c := loadConfig(t)
	t.Run("group", func(t *testing.T) {
		for _, tc := range cases {
			tc := tc
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				provision(t, c, tc)
			})
		}
	})
	// Each case checked that its servers left nothing behind (assertInstanceGone);
	// tests/e2e/test_e2e.py checks the whole host afterwards.
}

func provision(t *testing.T, c *e2eConfig, tc provisioningCase) {
	group := fmt.Sprintf("e2e-%s-%s", tc.name, c.RunID)
	stateDir := filepath.Join(c.TmpDir, group)
	cfg := tc.pluginConfig(c, group, stateDir)
	if ud := operatorUserData(tc); ud != "" {
		var m map[string]any
		_ = json.Unmarshal(cfg, &m)
		m["server_spec"].(map[string]any)["user_data"] = ud
		cfg, _ = json.Marshal(m)
	}
	settings := tc.settings(t, c)

	t0 := time.Now()
	p := startPlugin(t)
	killed := false
	var ids []string
	defer func() {
		if !killed {
			if len(ids) > 0 { // leave nothing behind even when failing
				_, _ = p.group.Decrease(context.Background(), &pb.DecreaseRequest{Instances: ids})
			}
			p.client.Kill()
		}
	}()
	initResp, err := p.group.Init(rpcCtx(t), &pb.InitRequest{Config: cfg, Settings: settings})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if got := initResp.GetInfo().GetMaxSize(); got != 5 {
		t.Fatalf("Init max_size = %d", got)
	}
	t.Logf("plugin started and initialised in %.1fs", time.Since(t0).Seconds())

	inc, err := p.group.Increase(rpcCtx(t), &pb.IncreaseRequest{Delta: tc.instances})
	if err != nil || inc.GetSucceeded() != tc.instances {
		t.Fatalf("Increase(%d) = %v, %v", tc.instances, inc, err)
	}
	start := time.Now()

	if tc.expectNoBoot {
		// The image never prints cloud-init's finished line: the instance must
		// never be handed out as running, and on_boot_timeout=delete removes it.
		ids = waitInstances(t, p, int(tc.instances), nil, 20*time.Second)
		deadline := time.Now().Add(150 * time.Second)
		for {
			up, err := p.group.Update(rpcCtx(t), &pb.UpdateRequest{})
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if len(up.GetInstances()) == 0 {
				break
			}
			for _, i := range up.GetInstances() {
				if i.GetState() == "running" {
					t.Fatalf("instance %s of a never-ready image reported running", i.GetId())
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("never-ready instance not deleted after boot_time: %v", up.GetInstances())
			}
			time.Sleep(2 * time.Second)
		}
		for _, id := range ids {
			assertInstanceGone(t, c, id)
		}
		p.kill(t)
		killed = true
		return
	}

	ids = waitInstances(t, p, int(tc.instances), map[string]bool{"running": true}, 3*time.Minute)
	t.Logf("%d instance(s) running after %.1fs", len(ids), time.Since(start).Seconds())
	t1 := time.Now()
	for _, id := range ids {
		loginAndCheck(t, c, p, tc, id)
	}
	t.Logf("ConnectInfo + SSH checks in %.1fs", time.Since(t1).Seconds())

	if tc.restart {
		// The runner goes away with the instances up; a new plugin process with
		// the same config and state dir must hand out working credentials.
		if _, err := p.group.Shutdown(rpcCtx(t), &pb.ShutdownRequest{}); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		p.kill(t)
		p = startPlugin(t)
		if _, err := p.group.Init(rpcCtx(t), &pb.InitRequest{Config: cfg, Settings: settings}); err != nil {
			t.Fatalf("Init after restart: %v", err)
		}
		again := waitInstances(t, p, int(tc.instances), map[string]bool{"running": true}, time.Minute)
		if strings.Join(again, ",") != strings.Join(ids, ",") {
			t.Fatalf("after restart the group has %v, want %v", again, ids)
		}
		for _, id := range ids {
			loginAndCheck(t, c, p, tc, id)
		}
	}

	t2 := time.Now()
	dec, err := p.group.Decrease(rpcCtx(t), &pb.DecreaseRequest{Instances: ids})
	if err != nil || len(dec.GetSucceeded()) != len(ids) {
		t.Fatalf("Decrease(%v) = %v, %v", ids, dec, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		up, err := p.group.Update(rpcCtx(t), &pb.UpdateRequest{})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		left := 0
		for _, i := range up.GetInstances() {
			if i.GetState() != "deleted" {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances not gone 2 minutes after Decrease: %v", up.GetInstances())
		}
		time.Sleep(time.Second)
	}
	for _, id := range ids {
		assertInstanceGone(t, c, id)
	}
	t.Logf("Decrease -> gone and cleaned up in %.1fs", time.Since(t2).Seconds())
	p.kill(t)
	killed = true
}

// waitInstances polls Update until n instances are in one of the wanted
// states (nil: any state) and returns their ids, sorted.
func waitInstances(t *testing.T, p *pluginProc, n int, want map[string]bool, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		up, err := p.group.Update(rpcCtx(t), &pb.UpdateRequest{})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		var ids []string
		for _, i := range up.GetInstances() {
			if want == nil || want[i.GetState()] {
				ids = append(ids, i.GetId())
			}
			if i.GetState() == "timeout" || i.GetState() == "deleted" {
				t.Fatalf("instance %s is %s while waiting for %v", i.GetId(), i.GetState(), want)
			}
		}
		if len(ids) == n && len(up.GetInstances()) == n {
			sort.Strings(ids)
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v, want %d in %v", timeout, up.GetInstances(), n, want)
		}
		time.Sleep(time.Second)
	}
}

func loginAndCheck(t *testing.T, c *e2eConfig, p *pluginProc, tc provisioningCase, id string) {
	t.Helper()
	resp, err := p.group.ConnectInfo(rpcCtx(t), &pb.ConnectInfoRequest{Id: id})
	if err != nil {
		t.Fatalf("ConnectInfo(%s): %v", id, err)
	}
	if _, err := p.group.Heartbeat(rpcCtx(t), &pb.HeartbeatRequest{Id: id}); err != nil {
		t.Fatalf("Heartbeat(%s) of a running instance: %v", id, err)
	}
	info := resp.GetInfo()
	cc := info.GetConnectorConfig()
	if cc.GetUsername() != tc.wantUser || cc.GetProtocol() != "ssh" || cc.GetOs() != "linux" {
		t.Fatalf("ConnectInfo(%s) username=%q protocol=%q os=%q, want %q/ssh/linux",
			id, cc.GetUsername(), cc.GetProtocol(), cc.GetOs(), tc.wantUser)
	}
	if len(cc.GetKey()) == 0 {
		t.Fatalf("ConnectInfo(%s) carries no key", id)
	}
	if tc.static && !cc.GetUseStaticCredentials() {
		t.Fatalf("ConnectInfo(%s) lost use_static_credentials", id)
	}
	addrs := []string{info.GetInternalAddr()}
	if tc.external {
		if info.GetExternalAddr() != c.FIP.Address {
			t.Fatalf("ConnectInfo(%s) external address %q, want the floating IP %s", id, info.GetExternalAddr(), c.FIP.Address)
		}
		addrs = append(addrs, info.GetExternalAddr())
	} else if info.GetExternalAddr() != "" && info.GetExternalAddr() != info.GetInternalAddr() {
		t.Fatalf("ConnectInfo(%s) external address %q without a floating IP", id, info.GetExternalAddr())
	}
	for _, addr := range addrs {
		out := runSSH(t, c, id, addr, cc, "id -un")
		if strings.TrimSpace(out) != tc.wantUser {
			t.Fatalf("ssh %s@%s id -un = %q", tc.wantUser, addr, out)
		}
		if tc.check != "" {
			out := runSSH(t, c, id, addr, cc, tc.check)
			if !strings.Contains(out, tc.checkWant) {
				t.Fatalf("ssh %s %q = %q, want %q in it", addr, tc.check, out, tc.checkWant)
			}
		}
	}
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

// assertOurs refuses to go on unless addr belongs to server id as the test
// driver created it and the host routes it to that driver's bridge.
func assertOurs(t *testing.T, c *e2eConfig, id, addr string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(c.StateDir, id, "state.json"))
	if err != nil {
		t.Fatalf("REFUSING to connect to %s: server %s has no test-driver state: %v", addr, id, err)
	}
	var st driverState
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("parse driver state of %s: %v", id, err)
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
		t.Fatalf("REFUSING to connect to %s: not an address the test driver created for %s", addr, id)
	}
	var routes []struct {
		Dev string `json:"dev"`
	}
	out, err := exec.Command("ip", "-j", "route", "get", addr).Output()
	if err != nil || json.Unmarshal(out, &routes) != nil || len(routes) != 1 {
		t.Fatalf("REFUSING to connect to %s: ip route get: %s %v", addr, out, err)
	}
	if routes[0].Dev != bridge {
		t.Fatalf("REFUSING to connect to %s: routed via %q, not the driver's bridge %s", addr, routes[0].Dev, bridge)
	}
	// the helper checks the same plus: the bridge has only the driver's ports, forwarding off
	chk, err := exec.Command("/usr/bin/python3", "-P", c.Helper, "route-check", addr).CombinedOutput()
	if err != nil || strings.TrimSpace(string(chk)) != bridge {
		t.Fatalf("REFUSING to connect to %s: route-check: %s %v", addr, chk, err)
	}
}

func runSSH(t *testing.T, c *e2eConfig, id, addr string, cc *pb.ConnectorConfig, command string) string {
	t.Helper()
	assertOurs(t, c, id, addr)
	signer, err := ssh.ParsePrivateKey(cc.GetKey())
	if err != nil {
		t.Fatalf("ConnectInfo key of %s does not parse: %v", id, err)
	}
	console := filepath.Join(c.StateDir, id, "console.log")
	cfg := &ssh.ClientConfig{
		User: cc.GetUsername(),
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		// The host key must be one the instance printed on its console.
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
			t.Fatalf("ssh %s@%s (server %s): %v", cc.GetUsername(), addr, id, err)
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

// assertInstanceGone: the driver removed everything of server id.
func assertInstanceGone(t *testing.T, c *e2eConfig, id string) {
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
