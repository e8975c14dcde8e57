//go:build provisioner

// Package provisioner drives the installed plugin executable through
// fleeting's own client and Provisioner (fleeting.RunPlugin + fleeting.Init:
// what gitlab-runner's taskscaler drives) against the devcloud.
//
// Build tag provisioner (so that `go test ./...` of the conformance module,
// run with older go-plugin modfiles, does not build it). Run by
// tests/conformance/test_provisioner.py, which writes the devcloud resources
// to $FLEETING_PROVISIONER_CONFIG (see Env):
//
//	FLEETING_PROVISIONER_CONFIG=env.json go test -tags provisioner ./provisioner/...
//
// This file is the harness shared by every test of the package (the other
// engineers' hang_test.go and unseen_test.go use it too; keep the names):
//
//	LoadEnv(t) *Env                         the devcloud resources (fails without them)
//	env.Group(t, suffix) string             a group name of this run; its servers are deleted at the end
//	env.GroupConfig(name, overrides) Config plugin_config for tiny-raw FakeDriver servers
//	env.E2EGroupConfig(name, strategy)      plugin_config for SSH-reachable servers (test driver)
//	StartPlugin(t, env, cfg) *Plugin        fleeting.RunPlugin on the installed executable
//	plugin.Init(t, opts...) (*fleeting.Provisioner, *Recorder)  fleeting.Init through a Tap
//	Recorder                                 every subscriber event, Wait helpers
//	Tap                                      the provider.InstanceGroup the Provisioner uses, recording calls
//	NewAdmin(t, env) *Admin                  Nova/Keystone as the devcloud admin (REST)
//	RunSSH(t, env, id, addr, info, cmd)      SSH with the safety checks of tests/e2e
package provisioner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// Env is $FLEETING_PROVISIONER_CONFIG, written by test_provisioner.py.
type Env struct {
	PluginBin     string            `json:"plugin_bin"`
	CloudsYAML    string            `json:"clouds_yaml"`
	Cloud         string            `json:"cloud"`   // the plugin's cloud (devcloud-demo)
	Project       string            `json:"project"` // its project id
	Admin         AdminAuth         `json:"admin"`
	Images        map[string]string `json:"images"` // tiny-raw, flatcar, ubuntu
	Flavor        string            `json:"flavor"`
	Network       string            `json:"network"`        // workers (demo)
	SharedNetwork string            `json:"shared_network"` // private (shared)
	SecurityGroup string            `json:"security_group"`
	ServerGroup   string            `json:"server_group"`
	Helper        string            `json:"helper"`       // tests/devcloud/testdriver/e2e_instance.py
	DriverState   string            `json:"driver_state"` // the test driver's state ($FLEETING_E2E_STATE)
	TmpDir        string            `json:"tmp_dir"`
	RunID         string            `json:"run_id"`
}

// AdminAuth is the devcloud admin's password credential (clouds.yaml "devcloud").
type AdminAuth struct {
	AuthURL           string `json:"auth_url"`
	Username          string `json:"username"`
	Password          string `json:"password"`
	ProjectName       string `json:"project_name"`
	UserDomainName    string `json:"user_domain_name"`
	ProjectDomainName string `json:"project_domain_name"`
}

var (
	envOnce sync.Once
	envVal  *Env
	envErr  error
)

// LoadEnv reads $FLEETING_PROVISIONER_CONFIG; the test fails (never skips) without it.
func LoadEnv(t *testing.T) *Env {
	t.Helper()
	envOnce.Do(func() {
		path := os.Getenv("FLEETING_PROVISIONER_CONFIG")
		if path == "" {
			envErr = errors.New("FLEETING_PROVISIONER_CONFIG must name the config written by tests/conformance/test_provisioner.py")
			return
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			envErr = err
			return
		}
		var e Env
		if err := json.Unmarshal(raw, &e); err != nil {
			envErr = fmt.Errorf("parse %s: %w", path, err)
			return
		}
		if e.PluginBin == "" {
			e.PluginBin = os.Getenv("FLEETING_PLUGIN_BIN")
		}
		if e.PluginBin == "" {
			envErr = errors.New("plugin_bin / FLEETING_PLUGIN_BIN must name the installed fleeting-plugin-openstack")
			return
		}
		// the plugin inherits this process's environment (fleeting.RunPlugin: exec.Command)
		_ = os.Setenv("FLEETING_OPENSTACK_LOG_LEVEL", "debug")
		envVal = &e
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return envVal
}

// Group is a fresh group name of this run ("prov-<suffix>-<run id>"). At the
// end of the test every server of the group still in Nova is deleted (and
// waited for); a test that left any fails.
func (e *Env) Group(t *testing.T, suffix string) string {
	t.Helper()
	name := fmt.Sprintf("prov-%s-%s", suffix, e.RunID)
	admin := NewAdmin(t, e)
	t.Cleanup(func() {
		left := admin.GroupServers(t, name)
		if len(left) == 0 {
			return
		}
		for _, s := range left {
			admin.Delete(t, s.ID)
		}
		admin.WaitGroupGone(t, name, 2*time.Minute)
		if !t.Failed() {
			var names []string
			for _, s := range left {
				names = append(names, s.Name+" "+s.Status)
			}
			t.Errorf("group %s left servers behind (deleted now): %v", name, names)
		}
	})
	return name
}

// StateDir is a credentials.state_dir for group (kept across plugin restarts).
func (e *Env) StateDir(group string) string { return filepath.Join(e.TmpDir, "state-"+group) }

// Config is a plugin_config.
type Config map[string]any

// GroupConfig is the plugin_config of group with tiny-raw FakeDriver servers
// (ACTIVE within seconds, no boot_time: running once ACTIVE). overrides
// replace top-level keys ("server_spec" is merged).
func (e *Env) GroupConfig(group string, overrides Config) Config {
	cfg := Config{
		"cloud":         e.Cloud,
		"clouds_config": e.CloudsYAML,
		"name":          group,
		"max_size":      10,
		"credentials":   map[string]any{"state_dir": e.StateDir(group)},
		"server_spec": map[string]any{
			"name":            group + "-%d",
			"imageRef":        e.Images["tiny-raw"],
			"flavorRef":       e.Flavor,
			"networks":        []any{map[string]any{"uuid": e.Network}},
			"security_groups": []any{e.SecurityGroup},
		},
	}
	for k, v := range overrides {
		if k == "server_spec" {
			for sk, sv := range v.(map[string]any) {
				cfg["server_spec"].(map[string]any)[sk] = sv
			}
			continue
		}
		cfg[k] = v
	}
	return cfg
}

// E2EGroupConfig is the plugin_config of group with servers the test driver
// boots (strategy flatcar: image "flatcar"; cloud-init: image "ubuntu"),
// reachable over SSH with the per-instance keys ConnectInfo hands out.
func (e *Env) E2EGroupConfig(group, strategy string, overrides Config) Config {
	image := e.Images["flatcar"]
	if strategy == "cloud-init" {
		image = e.Images["ubuntu"]
	}
	base := Config{
		"strategy":    strategy,
		"boot_time":   "3m",
		"server_spec": map[string]any{"imageRef": image},
	}
	for k, v := range overrides {
		base[k] = v
	}
	return e.GroupConfig(group, base)
}

// -- the plugin process -----------------------------------------------------------

// Plugin is one plugin process started by fleeting.RunPlugin.
type Plugin struct {
	Runner *fleeting.Runner
	Group  provider.InstanceGroup // the real client
	Logs   *LogSink
	Pid    int
	Config Config
}

// LogSink collects what go-plugin's client re-logs from the plugin's stderr.
type LogSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *LogSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Count is how many log lines contain every one of words.
func (s *LogSink) Count(words ...string) int {
	n := 0
	for _, line := range strings.Split(s.String(), "\n") {
		ok := true
		for _, w := range words {
			if !strings.Contains(line, w) {
				ok = false
				break
			}
		}
		if ok {
			n++
		}
	}
	return n
}

var startMu sync.Mutex // one start at a time, so that the new child's pid is unambiguous

// StartPlugin runs the installed plugin with fleeting.RunPlugin (fleeting's
// handshake, plugin set, client options). The process is killed at the end
// of the test if it still runs.
func StartPlugin(t *testing.T, e *Env, cfg Config) *Plugin {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := &LogSink{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "runner", Level: hclog.Debug, Output: sink, JSONFormat: true})
	startMu.Lock()
	before := childPids(e.PluginBin)
	runner, err := fleeting.RunPlugin(e.PluginBin, raw, fleeting.WithPluginLogger(logger))
	after := childPids(e.PluginBin)
	startMu.Unlock()
	if err != nil {
		t.Fatalf("fleeting.RunPlugin(%s): %v\n%s", e.PluginBin, err, tail(sink.String(), 4000))
	}
	pid := 0
	for p := range after {
		if !before[p] {
			pid = p
		}
	}
	if pid == 0 {
		runner.Kill()
		t.Fatalf("cannot find the plugin process among this test's children")
	}
	p := &Plugin{Runner: runner, Group: runner.InstanceGroup(), Logs: sink, Pid: pid, Config: cfg}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("plugin %d log (last 12000 bytes):\n%s", p.Pid, tail(sink.String(), 12000))
		}
		if Alive(p.Pid) {
			runner.Kill()
		}
	})
	return p
}

// childPids: processes whose parent is this test process and whose command line names bin.
func childPids(bin string) map[int]bool {
	out := map[int]bool{}
	me := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		rest := string(stat[bytes.LastIndexByte(stat, ')')+2:])
		fields := strings.Fields(rest)
		if len(fields) < 2 || fields[1] != strconv.Itoa(me) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte(bin)) {
			out[pid] = true
		}
	}
	return out
}

// Alive: the process exists and is not a zombie.
func Alive(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	rest := string(stat[bytes.LastIndexByte(stat, ')')+2:])
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// SigKill kills the plugin process outright (a crash), and waits until it is gone.
func (p *Plugin) SigKill(t *testing.T) {
	t.Helper()
	_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for Alive(p.Pid) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d survives SIGKILL", p.Pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// DefaultSettings is the connector_config a runner without one sends.
func DefaultSettings() provider.Settings {
	return provider.Settings{ConnectorConfig: provider.ConnectorConfig{OS: "linux", Protocol: provider.ProtocolSSH}}
}

// Init is fleeting.Init on this plugin (through a Tap), with a Recorder as
// subscriber, fleeting's defaults unless opts say otherwise (given after
// WithInstanceGroupSettings(DefaultSettings()) and the subscriber, so they win).
// The Provisioner is shut down at the end of the test.
func (p *Plugin) Init(t *testing.T, opts ...fleeting.Option) (*fleeting.Provisioner, *Recorder, *Tap) {
	t.Helper()
	rec := &Recorder{}
	tap := NewTap(p.Group)
	all := append([]fleeting.Option{
		fleeting.WithInstanceGroupSettings(DefaultSettings()),
		fleeting.WithSubscriber(rec.Add),
		fleeting.WithUpdateIntervalWhenExpecting(2 * time.Second),
		fleeting.WithDeletionRetryInterval(10 * time.Second),
		fleeting.WithShutdownDeletionRetries(0),
	}, opts...)
	logger := hclog.New(&hclog.LoggerOptions{Name: "provisioner", Level: hclog.Info, Output: p.Logs, JSONFormat: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prov, err := fleeting.Init(ctx, logger, tap, all...)
	if err != nil {
		t.Fatalf("fleeting.Init: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		prov.Shutdown(ctx)
	})
	return prov, rec, tap
}

// -- what the Provisioner saw -------------------------------------------------------

// Event is one instance handed to the subscriber.
type Event struct {
	At    time.Time
	ID    string
	State provider.State
	Cause fleeting.Cause
}

// Recorder keeps every subscriber event (fleeting.WithSubscriber).
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Add is the subscriber function.
func (r *Recorder) Add(instances []fleeting.Instance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, inst := range instances {
		r.events = append(r.events, Event{At: time.Now(), ID: inst.ID(), State: inst.State(), Cause: inst.Cause()})
	}
}

// Events is a copy of every event so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Of is the events of one instance.
func (r *Recorder) Of(id string) []Event {
	var out []Event
	for _, ev := range r.Events() {
		if ev.ID == id {
			out = append(out, ev)
		}
	}
	return out
}

// Timeouts is every instance the Provisioner pruned as timed out (missed Updates).
func (r *Recorder) Timeouts() []string {
	var out []string
	for _, ev := range r.Events() {
		if ev.State == provider.StateTimeout {
			out = append(out, ev.ID)
		}
	}
	return out
}

// WaitFor polls cond every 200 ms until it holds; fails the test after timeout.
func WaitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return time.Since(start)
}

// InState is the Provisioner's instances in state (sorted ids).
func InState(prov *fleeting.Provisioner, state provider.State) []string {
	var ids []string
	for _, inst := range prov.Instances() {
		if inst.State() == state {
			ids = append(ids, inst.ID())
		}
	}
	sort.Strings(ids)
	return ids
}

// IDs is every instance the Provisioner has (sorted).
func IDs(prov *fleeting.Provisioner) []string {
	var ids []string
	for _, inst := range prov.Instances() {
		ids = append(ids, inst.ID())
	}
	sort.Strings(ids)
	return ids
}

// Instance is the Provisioner's instance id, or nil.
func Instance(prov *fleeting.Provisioner, id string) fleeting.Instance {
	for _, inst := range prov.Instances() {
		if inst.ID() == id {
			return inst
		}
	}
	return nil
}

// -- the calls the Provisioner made ------------------------------------------------------

// UpdateCall is one Update: when, and what the plugin listed.
type UpdateCall struct {
	Start, End time.Time
	States     map[string]provider.State
	Order      []string
	Err        error
}

// Tap is the provider.InstanceGroup the Provisioner drives: the real client,
// with every Update, Increase and Decrease recorded.
type Tap struct {
	provider.InstanceGroup
	mu        sync.Mutex
	updates   []UpdateCall
	increases []IncreaseCall
	decreases []DecreaseCall
	// BeforeIncrease, when set, is called before each Increase is sent.
	BeforeIncrease func(n int)
}

// IncreaseCall is one Increase and its answer.
type IncreaseCall struct {
	N, Succeeded int
	Err          error
	Took         time.Duration
}

// DecreaseCall is one Decrease and its answer.
type DecreaseCall struct {
	IDs, Succeeded []string
	Err            error
}

func NewTap(g provider.InstanceGroup) *Tap { return &Tap{InstanceGroup: g} }

func (t *Tap) Update(ctx context.Context, fn func(string, provider.State)) error {
	call := UpdateCall{Start: time.Now(), States: map[string]provider.State{}}
	err := t.InstanceGroup.Update(ctx, func(id string, state provider.State) {
		call.States[id] = state
		call.Order = append(call.Order, id)
		fn(id, state)
	})
	call.End, call.Err = time.Now(), err
	t.mu.Lock()
	t.updates = append(t.updates, call)
	t.mu.Unlock()
	return err
}

func (t *Tap) Increase(ctx context.Context, n int) (int, error) {
	if t.BeforeIncrease != nil {
		t.BeforeIncrease(n)
	}
	start := time.Now()
	got, err := t.InstanceGroup.Increase(ctx, n)
	t.mu.Lock()
	t.increases = append(t.increases, IncreaseCall{N: n, Succeeded: got, Err: err, Took: time.Since(start)})
	t.mu.Unlock()
	return got, err
}

func (t *Tap) Decrease(ctx context.Context, ids []string) ([]string, error) {
	got, err := t.InstanceGroup.Decrease(ctx, ids)
	t.mu.Lock()
	t.decreases = append(t.decreases, DecreaseCall{IDs: ids, Succeeded: got, Err: err})
	t.mu.Unlock()
	return got, err
}

// Updates is every Update so far.
func (t *Tap) Updates() []UpdateCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]UpdateCall(nil), t.updates...)
}

// Increases is every Increase so far.
func (t *Tap) Increases() []IncreaseCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]IncreaseCall(nil), t.increases...)
}

// Decreases is every Decrease so far.
func (t *Tap) Decreases() []DecreaseCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]DecreaseCall(nil), t.decreases...)
}

// Increased is the sum of what every Increase answered.
func (t *Tap) Increased() int {
	n := 0
	for _, c := range t.Increases() {
		n += c.Succeeded
	}
	return n
}

// -- the devcloud as its admin (Keystone + Nova REST) --------------------------------------

// Admin talks to Keystone and Nova as the devcloud admin.
type Admin struct {
	env     *Env
	token   string
	compute string // Nova endpoint (public)
	ident   string // Keystone v3
	network string // Neutron
	expires time.Time
	mu      sync.Mutex
}

// Server is what the tests read of a Nova server.
type Server struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Status    string            `json:"status"`
	TaskState string            `json:"OS-EXT-STS:task_state"`
	VMState   string            `json:"OS-EXT-STS:vm_state"`
	Metadata  map[string]string `json:"metadata"`
	Tags      []string          `json:"tags"`
	Fault     *struct {
		Message string `json:"message"`
	} `json:"fault"`
}

var (
	adminOnce sync.Once
	adminVal  *Admin
)

// NewAdmin is the shared admin client (one token for the whole run).
func NewAdmin(t *testing.T, e *Env) *Admin {
	t.Helper()
	adminOnce.Do(func() { adminVal = &Admin{env: e} })
	if err := adminVal.auth(); err != nil {
		t.Fatalf("devcloud admin: %v", err)
	}
	return adminVal
}

func (a *Admin) auth() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && time.Now().Before(a.expires) {
		return nil
	}
	au := a.env.Admin
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": au.Username, "password": au.Password, "domain": map[string]any{"name": au.UserDomainName}}}},
		"scope": map[string]any{"project": map[string]any{"name": au.ProjectName,
			"domain": map[string]any{"name": au.ProjectDomainName}}},
	}}
	raw, _ := json.Marshal(body)
	resp, err := http.Post(strings.TrimRight(au.AuthURL, "/")+"/auth/tokens", "application/json", bytes.NewReader(raw))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		return fmt.Errorf("keystone %d: %s", resp.StatusCode, data)
	}
	var tok struct {
		Token struct {
			Catalog []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					Interface string `json:"interface"`
					URL       string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if err := json.Unmarshal(data, &tok); err != nil {
		return err
	}
	for _, svc := range tok.Token.Catalog {
		for _, ep := range svc.Endpoints {
			if ep.Interface != "public" {
				continue
			}
			switch svc.Type {
			case "compute":
				a.compute = strings.TrimRight(ep.URL, "/")
			case "identity":
				a.ident = strings.TrimRight(ep.URL, "/")
			case "network":
				a.network = strings.TrimRight(ep.URL, "/")
			}
		}
	}
	if a.compute == "" {
		return errors.New("no public compute endpoint in the catalog")
	}
	if a.ident == "" {
		a.ident = strings.TrimRight(au.AuthURL, "/")
	}
	a.token = resp.Header.Get("X-Subject-Token")
	a.expires = time.Now().Add(30 * time.Minute)
	return nil
}

// Do sends one request (JSON body) to base+path; returns status and body.
func (a *Admin) Do(t *testing.T, method, base, path string, body any) (int, []byte) {
	t.Helper()
	if err := a.auth(); err != nil {
		t.Fatalf("devcloud admin: %v", err)
	}
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("X-Auth-Token", a.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("OpenStack-API-Version", "compute 2.79")
	req.Header.Set("X-OpenStack-Nova-API-Version", "2.79")
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// Nova sends a request to Nova and fails the test on an unexpected status.
func (a *Admin) Nova(t *testing.T, method, path string, body any, ok ...int) []byte {
	t.Helper()
	code, data := a.Do(t, method, a.compute, path, body)
	for _, c := range ok {
		if code == c {
			return data
		}
	}
	t.Fatalf("nova %s %s: %d %s", method, path, code, data)
	return nil
}

// GroupServers is every server (any project) whose name starts with "<group>-"
// or whose fleeting-cluster metadata names group.
func (a *Admin) GroupServers(t *testing.T, group string) []Server {
	t.Helper()
	data := a.Nova(t, "GET", "/servers/detail?all_tenants=1&name=^"+group+"-", nil, 200)
	var out struct {
		Servers []Server `json:"servers"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	var servers []Server
	for _, s := range out.Servers {
		if strings.HasPrefix(s.Name, group+"-") || s.Metadata["fleeting-cluster"] == group {
			servers = append(servers, s)
		}
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	return servers
}

// GroupIDs is GroupServers' ids (sorted).
func (a *Admin) GroupIDs(t *testing.T, group string) []string {
	var ids []string
	for _, s := range a.GroupServers(t, group) {
		ids = append(ids, s.ID)
	}
	return ids
}

// Server is one server, or nil when Nova answers 404.
func (a *Admin) Server(t *testing.T, id string) *Server {
	t.Helper()
	code, data := a.Do(t, "GET", a.compute, "/servers/"+id, nil)
	if code == 404 {
		return nil
	}
	if code != 200 {
		t.Fatalf("GET server %s: %d %s", id, code, data)
	}
	var out struct {
		Server Server `json:"server"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return &out.Server
}

// Delete deletes a server behind the plugin's back (404 is fine).
func (a *Admin) Delete(t *testing.T, id string) {
	t.Helper()
	a.Nova(t, "DELETE", "/servers/"+id, nil, 204, 404)
}

// Stop stops a server (os-stop; SHUTOFF once nova-compute did it).
func (a *Admin) Stop(t *testing.T, id string) {
	t.Helper()
	a.Nova(t, "POST", "/servers/"+id+"/action", map[string]any{"os-stop": nil}, 202)
}

// ResetState is `nova reset-state` (state "error" or "active").
func (a *Admin) ResetState(t *testing.T, id, state string) {
	t.Helper()
	a.Nova(t, "POST", "/servers/"+id+"/action", map[string]any{"os-resetState": map[string]any{"state": state}}, 202)
}

// SetMetadata sets one metadata item of a server.
func (a *Admin) SetMetadata(t *testing.T, id, key, value string) {
	t.Helper()
	a.Nova(t, "PUT", "/servers/"+id+"/metadata/"+key, map[string]any{"meta": map[string]string{key: value}}, 200)
}

// WaitStatus waits until server id has Nova status (and no task state).
func (a *Admin) WaitStatus(t *testing.T, id, status string, timeout time.Duration) {
	t.Helper()
	WaitFor(t, fmt.Sprintf("server %s %s", id, status), timeout, func() bool {
		s := a.Server(t, id)
		return s != nil && s.Status == status && s.TaskState == ""
	})
}

// WaitGroupGone waits until Nova has no server of group.
func (a *Admin) WaitGroupGone(t *testing.T, group string, timeout time.Duration) {
	t.Helper()
	WaitFor(t, "group "+group+" gone from Nova", timeout, func() bool { return len(a.GroupServers(t, group)) == 0 })
}

// ComputeQuota is the project's compute quota set.
func (a *Admin) ComputeQuota(t *testing.T, project string) map[string]any {
	t.Helper()
	data := a.Nova(t, "GET", "/os-quota-sets/"+project, nil, 200)
	var out struct {
		QuotaSet map[string]any `json:"quota_set"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out.QuotaSet
}

// SetComputeQuota sets compute quota items of project.
func (a *Admin) SetComputeQuota(t *testing.T, project string, values map[string]int) {
	t.Helper()
	a.Nova(t, "PUT", "/os-quota-sets/"+project, map[string]any{"quota_set": values}, 200)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
