//go:build e2e

// End to end against the devcloud, with the test virt driver making every
// server of an E2E image a small "VM" reachable over SSH (docs/e2e.md).
//
// TestFleetingProvisioning is fleeting's own conformance test,
// integration.TestProvisioning (the fleeting module go.mod pins), run against
// the installed plugin executable once per built-in strategy — cloud-init,
// ignition, flatcar, custom with a static key — and once with UseExternalAddr
// over floating IPs. It drives the plugin through fleeting's provisioner as
// the runner does: scale 1 -> 3, down to 1, SSH into the running instance
// with the ConnectInfo credentials and run a command, delete all. Beside it an
// observer watches the test driver's side of the group's servers (their sshd
// log, the files the strategy wrote), so that the run also shows that fleeting
// really logged in, as which user and with which key, and that the strategy
// and the operator's user_data took effect.
//
// What TestProvisioning does not cover stays hand-written, through fleeting's
// client (fleeting.RunPlugin): TestRestart (the plugin stopped with the
// instances up; a new process on the same state dir lists them and its keys
// log in) and TestNeverReady (an image that never finishes booting is never
// reported running and is deleted after boot_time). TestInitInfo: Init
// answers version and build_info through fleeting's client.
//
// Build tag e2e. Run by tests/e2e/test_e2e.py (which writes
// FLEETING_E2E_CONFIG, see e2ekit.Config, and confines this test process and
// its children to loopback and the test driver's bridges):
//
//	FLEETING_PLUGIN_BIN=... FLEETING_E2E_CONFIG=e2e.json go test -tags e2e ./e2e/...
//
// The hand-written SSH logins check every address first (e2ekit.AssertOurs).
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"gitlab.com/gitlab-org/fleeting/fleeting/integration"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
	"golang.org/x/crypto/ssh"

	"fleeting-openstack/conformance/e2ekit"
)

// -- fleeting's integration.TestProvisioning -----------------------------------------

type fleetingCase struct {
	name     string
	strategy string
	image    string // key of e2ekit.Config.Images
	user     string // the user the image / strategy logs in as
	static   bool   // Nova keypair + the runner's key (use_static_credentials)
	external bool   // floating IPs from FIP.Pool; UseExternalAddr
	userData string // the operator's user_data
	file     string // a file in the instance the strategy / user_data must have written...
	want     string // ...containing this
}

var fleetingCases = []fleetingCase{
	{name: "cloud-init", strategy: "cloud-init", image: "ubuntu", user: "ubuntu",
		userData: "#cloud-config\nwrite_files:\n- path: /etc/fleeting-e2e\n  content: |\n    written by cloud-init for {{fleeting.instance_name}}\n",
		file:     "/etc/fleeting-e2e", want: "written by cloud-init for "},
	{name: "ignition", strategy: "ignition", image: "flatcar", user: "core",
		userData: `{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"/etc/fleeting-e2e","mode":420,` +
			`"contents":{"source":"data:,written%20by%20ignition%0A"}}]}}`,
		file: "/etc/fleeting-e2e", want: "written by ignition"},
	{name: "flatcar", strategy: "flatcar", image: "flatcar", user: "core",
		file: "/etc/flatcar/update.conf", want: "SERVER=disabled"},
	{name: "custom-static", strategy: "custom", image: "ubuntu", user: "ubuntu", static: true},
	{name: "cloud-init-external", strategy: "cloud-init", image: "ubuntu", user: "ubuntu", external: true},
}

func TestFleetingProvisioning(t *testing.T) {
	c := e2ekit.LoadConfig(t)
	for _, tc := range fleetingCases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fleetingProvisioning(t, c, tc)
		})
	}
}

// attempts: fleeting's TestProvisioning connects only to instances that are
// running at the moment it gets there (integration.go executeCommand skips the
// others, and passes). On a loaded cloud none may have booted yet, and then
// the run proves nothing about SSH. Such a run is repeated with a new group, up
// to this many times; a failure of TestProvisioning itself is never repeated.
const attempts = 3

func fleetingProvisioning(t *testing.T, c *e2ekit.Config, tc fleetingCase) {
	for attempt := 1; attempt <= attempts; attempt++ {
		group := fmt.Sprintf("e2e-fp-%s-%s-%d", tc.name, c.RunID, attempt)
		logins, ok := fleetingAttempt(t, c, tc, group, attempt)
		if !ok || logins > 0 {
			return
		}
		if attempt < attempts {
			t.Logf("attempt %d: TestProvisioning passed but found no instance running when it connected "+
				"(it skips those), so no SSH login happened; again with a new group", attempt)
		}
	}
	t.Errorf("TestProvisioning passed %d times but no SSH login reached any server (no instance was "+
		"running when it connected)", attempts)
}

// fleetingAttempt runs TestProvisioning once as subtest attempt-N and checks what
// the driver saw; it returns the SSH logins seen and whether everything passed.
func fleetingAttempt(t *testing.T, c *e2ekit.Config, tc fleetingCase, group string, attempt int) (int, bool) {
	extra := map[string]any{}
	spec := map[string]any{}
	if tc.userData != "" {
		spec["user_data"] = tc.userData
	}
	if tc.static {
		spec["key_name"] = c.Keypair.Name
		extra["strategy_options"] = map[string]any{"readiness": "cloud-init"}
	}
	if tc.external {
		if c.FIP.Pool == "" {
			t.Fatal("FLEETING_E2E_CONFIG has no fip.pool (the external network for floating IPs)")
		}
		extra["floating_ip_pool"] = c.FIP.Pool
	}
	extra["server_spec"] = spec
	cfg := c.PluginConfig(group, tc.strategy, tc.image, false, extra)

	cc := provider.ConnectorConfig{OS: "linux", Protocol: provider.ProtocolSSH,
		Keepalive: 30 * time.Second, Timeout: 5 * time.Minute}
	var staticFP string
	if tc.static {
		key, err := os.ReadFile(c.Keypair.PrivateKey)
		if err != nil {
			t.Fatalf("read static key: %v", err)
		}
		signer, err := ssh.ParsePrivateKey(key)
		if err != nil {
			t.Fatalf("parse static key: %v", err)
		}
		staticFP = ssh.FingerprintSHA256(signer.PublicKey())
		cc.Key, cc.UseStaticCredentials, cc.Username = key, true, tc.user
	}

	obs := watch(c, group)
	started := time.Now()
	passed := t.Run(fmt.Sprintf("attempt-%d", attempt), func(t *testing.T) {
		integration.TestProvisioning(t, e2ekit.PluginBin(t), integration.Config{
			PluginConfig:    cfg,
			ConnectorConfig: cc,
			MaxInstances:    3,
			UseExternalAddr: tc.external,
		})
	})
	seen := obs.stop()
	t.Logf("integration.TestProvisioning(%s, attempt %d) took %.1fs; servers seen by the driver: %d",
		tc.name, attempt, time.Since(started).Seconds(), len(seen))
	if !passed {
		return 0, false
	}

	// What the driver saw of the run.
	if len(seen) != 3 {
		t.Errorf("the driver set up %d servers of group %s, want 3 (scale 1 -> 3)", len(seen), group)
	}
	logins := 0
	for _, s := range seen {
		for _, l := range s.logins {
			logins++
			if l.user != tc.user {
				t.Errorf("server %s: login as %q, want %q", s.id, l.user, tc.user)
			}
			if tc.static && l.fingerprint != staticFP {
				t.Errorf("server %s: login with key %s, want the static key %s", s.id, l.fingerprint, staticFP)
			}
		}
		if tc.file != "" && s.running && !strings.Contains(s.file, tc.want) {
			t.Errorf("server %s: %s = %q, want %q in it", s.id, tc.file, s.file, tc.want)
		}
		// (a server deleted right after it was created may go before its floating IP is attached)
		if tc.external && len(s.logins) > 0 && len(s.fips) == 0 {
			t.Errorf("server %s: logged into, but no floating IP reached the driver", s.id)
		}
	}
	for _, s := range seen {
		e2ekit.AssertInstanceGone(t, c, s.id)
	}
	return logins, !t.Failed()
}

// -- the observer -----------------------------------------------------------------------

type login struct{ user, fingerprint string }

type seenServer struct {
	id      string
	running bool     // sshd ran (the driver booted it)
	logins  []login  // accepted SSH logins (sshd.log)
	file    string   // the case's file, as last read
	fips    []string // floating IPs the driver applied
}

func (s *seenServer) String() string { return fmt.Sprintf("%s:%v", s.id, s.logins) }

type observer struct {
	stopc chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	seen  map[string]*seenServer
}

var accepted = regexp.MustCompile(`Accepted publickey for (\S+) from \S+ port \d+ ssh2: \S+ (SHA256:\S+)`)

// watch follows, every 200 ms until stop, the test driver's instances whose
// hostname belongs to group (c.StateDir/<id>: state.json, sshd.log, root/).
// It only reads files; it connects to nothing.
func watch(c *e2ekit.Config, group string) *observer {
	o := &observer{stopc: make(chan struct{}), done: make(chan struct{}), seen: map[string]*seenServer{}}
	file := ""
	for _, tc := range fleetingCases {
		if strings.HasPrefix(group, "e2e-fp-"+tc.name+"-") && len(tc.name) > len(file) {
			file = tc.file
		}
	}
	go func() {
		defer close(o.done)
		for {
			o.scan(c, group, file)
			select {
			case <-o.stopc:
				o.scan(c, group, file)
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return o
}

func (o *observer) scan(c *e2ekit.Config, group, file string) {
	entries, _ := os.ReadDir(c.StateDir)
	for _, e := range entries {
		dir := filepath.Join(c.StateDir, e.Name())
		raw, err := os.ReadFile(filepath.Join(dir, "state.json"))
		if err != nil {
			continue
		}
		var st struct {
			Hostname string `json:"hostname"`
			Fips     []struct {
				Fip string `json:"fip"`
			} `json:"fips"`
		}
		if json.Unmarshal(raw, &st) != nil || !strings.HasPrefix(st.Hostname, group+"-") {
			continue
		}
		o.mu.Lock()
		s := o.seen[e.Name()]
		if s == nil {
			s = &seenServer{id: e.Name()}
			o.seen[e.Name()] = s
		}
		for _, f := range st.Fips {
			if !contains(s.fips, f.Fip) {
				s.fips = append(s.fips, f.Fip)
			}
		}
		if log, err := os.ReadFile(filepath.Join(dir, "sshd.log")); err == nil && len(log) > 0 {
			s.running = true
			var logins []login
			for _, m := range accepted.FindAllStringSubmatch(string(log), -1) {
				logins = append(logins, login{user: m[1], fingerprint: m[2]})
			}
			if len(logins) >= len(s.logins) {
				s.logins = logins
			}
		}
		if file != "" {
			if text, err := os.ReadFile(filepath.Join(dir, "root", file)); err == nil {
				s.file = string(text)
			}
		}
		o.mu.Unlock()
	}
}

func (o *observer) stop() []*seenServer {
	close(o.stopc)
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*seenServer
	for _, s := range o.seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// -- hand-written: what TestProvisioning does not cover ---------------------------------

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func settings() provider.Settings {
	return provider.Settings{ConnectorConfig: provider.ConnectorConfig{OS: "linux", Protocol: provider.ProtocolSSH,
		Keepalive: 30 * time.Second, Timeout: 10 * time.Minute}}
}

func states(t *testing.T, g provider.InstanceGroup) map[string]provider.State {
	t.Helper()
	out := map[string]provider.State{}
	if err := g.Update(ctx(t), func(id string, s provider.State) { out[id] = s }); err != nil {
		t.Fatalf("Update: %v", err)
	}
	return out
}

// waitRunning polls Update until the group is exactly n running instances;
// returns their ids, sorted.
func waitRunning(t *testing.T, g provider.InstanceGroup, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		up := states(t, g)
		var ids []string
		for id, s := range up {
			if s == provider.StateTimeout || s == provider.StateDeleted {
				t.Fatalf("instance %s is %s while waiting for it to run", id, s)
			}
			if s == provider.StateRunning {
				ids = append(ids, id)
			}
		}
		if len(ids) == n && len(up) == n {
			sort.Strings(ids)
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v, want %d running", timeout, up, n)
		}
		time.Sleep(time.Second)
	}
}

func waitEmpty(t *testing.T, g provider.InstanceGroup, timeout time.Duration, never provider.State) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		up := states(t, g)
		left := 0
		for id, s := range up {
			if never != "" && s == never {
				t.Fatalf("instance %s reported %s", id, s)
			}
			if s != provider.StateDeleted {
				left++
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group not empty after %v: %v", timeout, up)
		}
		time.Sleep(2 * time.Second)
	}
}

// login checks ConnectInfo and Heartbeat of id, then logs in with its
// credentials and checks the user and the operator's file.
func loginAndCheck(t *testing.T, c *e2ekit.Config, g provider.InstanceGroup, id, user string) {
	t.Helper()
	info, err := g.ConnectInfo(ctx(t), id)
	if err != nil {
		t.Fatalf("ConnectInfo(%s): %v", id, err)
	}
	if err := g.Heartbeat(ctx(t), id); err != nil {
		t.Fatalf("Heartbeat(%s) of a running instance: %v", id, err)
	}
	if info.Username != user || info.Protocol != provider.ProtocolSSH || info.OS != "linux" || len(info.Key) == 0 {
		t.Fatalf("ConnectInfo(%s) username=%q protocol=%q os=%q key %d bytes, want %s/ssh/linux and a key",
			id, info.Username, info.Protocol, info.OS, len(info.Key), user)
	}
	out := e2ekit.RunSSH(t, c, id, info.InternalAddr, info.Username, info.Key,
		"id -un; cat /etc/fleeting-e2e /etc/flatcar/update.conf")
	if !strings.HasPrefix(out, user+"\n") || !strings.Contains(out, "written by ignition") ||
		!strings.Contains(out, "SERVER=disabled") {
		t.Fatalf("ssh %s@%s: %q, want the user, the operator's file and update.conf", user, info.InternalAddr, out)
	}
}

// TestRestart: the runner goes away with the instances up; a new plugin
// process with the same config and state dir lists them running and hands
// out keys that log in.
func TestRestart(t *testing.T) {
	t.Parallel()
	c := e2ekit.LoadConfig(t)
	group := "e2e-restart-" + c.RunID
	cfg, _ := json.Marshal(c.PluginConfig(group, "flatcar", "flatcar", false, map[string]any{
		"server_spec": map[string]any{"user_data": `{"ignition":{"version":"3.3.0"},"storage":{"files":[` +
			`{"path":"/etc/fleeting-e2e","mode":420,"contents":{"source":"data:,written%20by%20ignition%0A"}}]}}`}}))
	p := e2ekit.RunPlugin(t, cfg)
	g := p.Runner.InstanceGroup()
	var ids []string
	defer func() { // leave nothing behind, even when failing
		if len(ids) > 0 && t.Failed() {
			_, _ = g.Decrease(context.Background(), ids)
		}
	}()
	if _, err := g.Init(ctx(t), hclog.NewNullLogger(), settings()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if n, err := g.Increase(ctx(t), 2); err != nil || n != 2 {
		t.Fatalf("Increase(2) = %d, %v", n, err)
	}
	ids = waitRunning(t, g, 2, 4*time.Minute)
	for _, id := range ids {
		loginAndCheck(t, c, g, id, "core")
	}
	if err := g.Shutdown(ctx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	p.Runner.Kill()

	p = e2ekit.RunPlugin(t, cfg)
	g = p.Runner.InstanceGroup()
	if _, err := g.Init(ctx(t), hclog.NewNullLogger(), settings()); err != nil {
		t.Fatalf("Init after restart: %v", err)
	}
	again := waitRunning(t, g, 2, time.Minute)
	if strings.Join(again, ",") != strings.Join(ids, ",") {
		t.Fatalf("after restart the group has %v, want %v", again, ids)
	}
	for _, id := range ids {
		loginAndCheck(t, c, g, id, "core")
	}
	done, err := g.Decrease(ctx(t), ids)
	if err != nil || len(done) != len(ids) {
		t.Fatalf("Decrease(%v) = %v, %v", ids, done, err)
	}
	waitEmpty(t, g, 2*time.Minute, "")
	for _, id := range ids {
		e2ekit.AssertInstanceGone(t, c, id)
	}
	ids = nil
}

// TestNeverReady: an image that never prints cloud-init's finished line is
// never handed out as running; on_boot_timeout=delete removes it after
// boot_time.
func TestNeverReady(t *testing.T) {
	t.Parallel()
	c := e2ekit.LoadConfig(t)
	group := "e2e-never-ready-" + c.RunID
	cfg, _ := json.Marshal(c.PluginConfig(group, "cloud-init", "ubuntu-never-ready", false, map[string]any{
		"boot_time": "25s", "readiness": map[string]any{"on_boot_timeout": "delete"}}))
	p := e2ekit.RunPlugin(t, cfg)
	g := p.Runner.InstanceGroup()
	if _, err := g.Init(ctx(t), hclog.NewNullLogger(), settings()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if n, err := g.Increase(ctx(t), 1); err != nil || n != 1 {
		t.Fatalf("Increase(1) = %d, %v", n, err)
	}
	var ids []string
	deadline := time.Now().Add(30 * time.Second)
	for len(ids) == 0 {
		for id := range states(t, g) {
			ids = append(ids, id)
		}
		if time.Now().After(deadline) {
			t.Fatal("the instance never appeared in Update")
		}
		time.Sleep(time.Second)
	}
	waitEmpty(t, g, 150*time.Second, provider.StateRunning)
	for _, id := range ids {
		e2ekit.AssertInstanceGone(t, c, id)
	}
}

// TestInitInfo: through fleeting's client, Init answers the plugin's version
// and build_info (what the runner logs as "plugin initialized: version=...
// build info=...").
func TestInitInfo(t *testing.T) {
	t.Parallel()
	c := e2ekit.LoadConfig(t)
	cfg, _ := json.Marshal(c.PluginConfig("e2e-init-info-"+c.RunID, "cloud-init", "ubuntu", false, nil))
	p := e2ekit.RunPlugin(t, cfg)
	info, err := p.Runner.InstanceGroup().Init(ctx(t), hclog.NewNullLogger(), settings())
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	t.Logf("Init: id=%q max_size=%d version=%q build_info=%q", info.ID, info.MaxSize, info.Version, info.BuildInfo)
	if info.Version == "" || info.BuildInfo == "" {
		t.Fatalf("Init: version %q, build_info %q: want both", info.Version, info.BuildInfo)
	}
	// The same version as `plugin version`; build_info in fleeting's VersionInfo.BuildInfo
	// shape (sha=...; ref=...; <runtime>=...; built_at=...; os_arch=...) with a revision and a date.
	out, err := exec.Command(e2ekit.PluginBin(t), "version").Output()
	if err != nil {
		t.Fatalf("plugin version: %v", err)
	}
	if !regexp.MustCompile(`(?m)^Version:\s+` + regexp.QuoteMeta(info.Version) + `$`).Match(out) {
		t.Fatalf("Init version %q is not the one `version` prints:\n%s", info.Version, out)
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(info.BuildInfo, "; ") {
		k, v, _ := strings.Cut(kv, "=")
		fields[k] = v
	}
	for _, k := range []string{"sha", "built_at", "os_arch"} {
		if v := fields[k]; v == "" || v == "unknown" {
			t.Errorf("build_info %q: %s is %q", info.BuildInfo, k, v)
		}
	}
}
