package fleetingclient

// fleeting's plugin.Main conventions (issue 17, item 3c), checked against
// fleeting's own plugin.Main built from the pinned module (./refplugin):
// `--version`, `-version` and `version` print the version block and exit 0;
// `bootstrap` does what fleeting's does, case by case (same exit status,
// stdout, stderr and resulting directory tree). Init's version and
// build_info through fleeting's client: ../e2e (TestInitInfo, the OpenStack
// provider on the devcloud).

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// cliEnv is this process's environment without fleeting's cookie (the plugin
// would serve) and without what the cases set.
func cliEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "FLEETING_INSTANCE_GROUP_PLUGIN", "FLEETING_PLUGIN_PATH", "FLEETING_PLUGIN_PKG_VERSION":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s %v: %v", bin, args, err)
	}
	return result{code, out.String(), errb.String()}
}

// versionRows parses a version block: key -> value, and the keys in order.
func versionRows(t *testing.T, text string) (map[string]string, []string) {
	t.Helper()
	rows := map[string]string{}
	var keys []string
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("version line %q is not KEY: VALUE", line)
		}
		rows[k] = strings.TrimSpace(v)
		keys = append(keys, k)
	}
	return rows, keys
}

// buildRef builds ./refplugin into dir/plugin.
func buildRef(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "plugin")
	cmd := exec.Command("go", "build", "-o", out, "./refplugin")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./refplugin: %v\n%s", err, b)
	}
	return out
}

func TestVersionConventions(t *testing.T) {
	bin := pluginBin(t)
	var version string
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		r := run(t, bin, cliEnv(), args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%v: exit %d, stderr %q; want 0 and nothing", args, r.code, r.stderr)
		}
		rows, keys := versionRows(t, r.stdout)
		want := []string{"Name", "Version", "Git revision", "Git ref", "<runtime> version", "Built", "OS/Arch"}
		if len(keys) != len(want) {
			t.Fatalf("%v: lines %v, want %v (fleeting's VersionInfo.Full)", args, keys, want)
		}
		for i, k := range keys {
			if want[i] == "<runtime> version" {
				if !strings.HasSuffix(k, " version") {
					t.Fatalf("%v: line %d is %q, want the runtime's version (fleeting: GO version)", args, i+1, k)
				}
			} else if k != want[i] {
				t.Fatalf("%v: line %d is %q, want %q", args, i+1, k, want[i])
			}
			if rows[k] == "" {
				t.Fatalf("%v: %s is empty", args, k)
			}
		}
		if rows["Name"] != "fleeting-plugin-openstack" {
			t.Fatalf("%v: Name %q", args, rows["Name"])
		}
		if version != "" && rows["Version"] != version {
			t.Fatalf("%v: Version %q, another spelling said %q", args, rows["Version"], version)
		}
		version = rows["Version"]
	}
	// fleeting's own block has the same lines (its runtime line says GO version).
	ref := buildRef(t, t.TempDir())
	r := run(t, ref, cliEnv("REF_NAME=ref", "REF_VERSION="+version), "version")
	_, refKeys := versionRows(t, r.stdout)
	if r.code != 0 || len(refKeys) != 7 || refKeys[4] != "GO version" {
		t.Fatalf("fleeting's plugin.Main version: exit %d, lines %v", r.code, refKeys)
	}
}

// tree is every file under root: relative path -> sha256 and mode.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if _, err := os.Stat(root); err != nil {
		return out
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel+"/"] = info.Mode().String()
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		out[rel] = info.Mode().String() + " " + hex.EncodeToString(h.Sum(nil))[:16]
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestBootstrapLikeFleeting(t *testing.T) {
	version := strings.TrimSpace(strings.SplitN(strings.SplitN(run(t, pluginBin(t), cliEnv(), "version").stdout,
		"Version:", 2)[1], "\n", 2)[0])
	majorMinor := version[:strings.LastIndex(version, ".")]

	// Each side is alone in its directory, as in a fleeting-artifact image
	// (/plugin/plugin): ours is the installed console script, copied.
	oursDir, refDir := t.TempDir(), t.TempDir()
	script, err := os.ReadFile(pluginBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(oursDir, "plugin"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	sides := map[string]string{"ours": filepath.Join(oursDir, "plugin"), "fleeting": buildRef(t, refDir)}
	refEnv := []string{"REF_NAME=fleeting-plugin-openstack", "REF_VERSION=" + version}

	for _, tc := range []struct {
		name  string
		args  []string
		env   []string
		setup func(root string) // in the plugin directory, before
		noDir bool              // FLEETING_PLUGIN_PATH names a missing directory
	}{
		{name: "no-repository", args: []string{"bootstrap"}},
		{name: "missing-plugin-dir", args: []string{"bootstrap", "aws"}, noDir: true},
		{name: "bare-name", args: []string{"bootstrap", "aws"}},
		{name: "namespace-tag-capitals", args: []string{"bootstrap", "myorg/MyPlugin:1.2.3"}},
		{name: "own-registry", args: []string{"bootstrap", "Registry.Example.com/group/sub/plugin:tag"}},
		{name: "leading-slash", args: []string{"bootstrap", "/abs/path"}},
		{name: "exists-already", args: []string{"bootstrap", "aws"}, setup: func(root string) {
			dir := filepath.Join(root, "registry.gitlab.com/gitlab-org/fleeting/plugins/aws", version)
			_ = os.MkdirAll(dir, 0o755)
			_ = os.WriteFile(filepath.Join(dir, "marker"), []byte("kept"), 0o644)
		}},
		{name: "pkg-version-differs", args: []string{"bootstrap", "aws"}, env: []string{"FLEETING_PLUGIN_PKG_VERSION=9.9.9"}},
		{name: "pkg-version-prefix", args: []string{"bootstrap", "aws"}, env: []string{"FLEETING_PLUGIN_PKG_VERSION=" + majorMinor}},
		{name: "registry-port", args: []string{"bootstrap", "localhost:5000/group/plugin"}},
		{name: "dot-dot", args: []string{"bootstrap", "../../etc"}},
		{name: "double-slash", args: []string{"bootstrap", "registry.example.com/a//b"}},
		{name: "space", args: []string{"bootstrap", "registry.example.com/a b"}},
		{name: "trailing-dot", args: []string{"bootstrap", "registry.example.com/a./b"}},
	} {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]result{}
			trees := map[string]map[string]string{}
			for side, bin := range sides {
				root := filepath.Join(t.TempDir(), "plugins")
				if !tc.noDir {
					if err := os.Mkdir(root, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if tc.setup != nil {
					tc.setup(root)
				}
				env := cliEnv(append([]string{"FLEETING_PLUGIN_PATH=" + root}, tc.env...)...)
				if side == "fleeting" {
					env = append(env, refEnv...)
				}
				r := run(t, bin, env, tc.args...)
				r.stdout = strings.ReplaceAll(r.stdout, root, "<plugins>")
				got[side] = r
				trees[side] = tree(t, root)
				// each side copies its own executable: compare by name and mode only
				for k, v := range trees[side] {
					if strings.HasSuffix(k, "/plugin") {
						trees[side][k] = strings.SplitN(v, " ", 2)[0] + " <its executable>"
						if sum := tree(t, filepath.Dir(bin))["plugin"]; !strings.HasSuffix(sum, strings.SplitN(v, " ", 2)[1]) {
							t.Errorf("%s: %s is not a copy of its executable", side, k)
						}
					}
				}
			}
			ours, ref := got["ours"], got["fleeting"]
			t.Logf("fleeting: exit %d stdout %q stderr %q", ref.code, ref.stdout, ref.stderr)
			if ours.code != ref.code || ours.stdout != ref.stdout || ours.stderr != ref.stderr {
				t.Errorf("ours: exit %d stdout %q stderr %q\nfleeting's: exit %d stdout %q stderr %q",
					ours.code, ours.stdout, ours.stderr, ref.code, ref.stdout, ref.stderr)
			}
			if a, b := strings.Join(sortedKeys(trees["ours"]), "\n"), strings.Join(sortedKeys(trees["fleeting"]), "\n"); a != b {
				t.Errorf("plugin directory, ours:\n%s\nfleeting's:\n%s", a, b)
			}
			for k, v := range trees["fleeting"] {
				if trees["ours"][k] != v {
					t.Errorf("%s: ours %q, fleeting's %q", k, trees["ours"][k], v)
				}
			}
		})
	}
}
