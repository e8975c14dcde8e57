//go:build artifact

// The fleeting artifact as gitlab-runner installs it (issue 20 item 1), run by
// tests/packaging/test_artifact.py after packaging/release-artifact pushed it to a registry
// on this machine:
//
//   - the pushed index is in fleeting-artifact's format: one manifest per platform, each with
//     entrypoint /plugin/plugin, env FLEETING_PLUGIN_PKG_VERSION=<version>, one layer annotated
//     com.gitlab.fleeting.layer holding only plugin/plugin; the tags <version>, latest, <major>,
//     <major>.<minor>;
//   - fleeting-artifact's installer (installer.Install: what `gitlab-runner fleeting install`
//     runs) installs it into FLEETING_PLUGIN_PATH;
//   - its lookup (installer.LookPath: what the runner does with `plugin = "..."`) resolves the
//     references a runner config would hold (the version, the minor and major constraints,
//     latest) to the installed file, which it prints for the Python side to run.
package artifact

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"gitlab.com/gitlab-org/fleeting/fleeting-artifact/pkg/installer"
)

func env(t *testing.T, key string) string {
	v := os.Getenv(key)
	if v == "" {
		t.Fatalf("%s is not set (tests/packaging/test_artifact.py sets it)", key)
	}
	return v
}

func TestArtifactFormat(t *testing.T) {
	repo, version := env(t, "ARTIFACT_REPOSITORY"), env(t, "ARTIFACT_VERSION")
	ref, err := name.ParseReference(repo + ":" + version)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("fetching the index: %v", err)
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, desc := range manifest.Manifests {
		platforms = append(platforms, desc.Platform.OS+"/"+desc.Platform.Architecture)
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/plugin/plugin" {
			t.Errorf("%s: entrypoint %q", desc.Platform, got)
		}
		if !contains(cfg.Config.Env, "FLEETING_PLUGIN_PKG_VERSION="+version) {
			t.Errorf("%s: env %v has no FLEETING_PLUGIN_PKG_VERSION=%s", desc.Platform, cfg.Config.Env, version)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Layers) != 1 || m.Layers[0].Annotations["com.gitlab.fleeting.layer"] != version {
			t.Errorf("%s: layers %+v: want one, annotated com.gitlab.fleeting.layer=%s", desc.Platform, m.Layers, version)
		}
		layers, _ := img.Layers()
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg {
				files = append(files, fmt.Sprintf("%s %o", h.Name, h.Mode&0o777))
			}
		}
		rc.Close()
		if strings.Join(files, ",") != "plugin/plugin 755" {
			t.Errorf("%s: layer files %v, want plugin/plugin 755", desc.Platform, files)
		}
	}
	sort.Strings(platforms)
	if want := env(t, "ARTIFACT_PLATFORMS"); strings.Join(platforms, ",") != want {
		t.Errorf("platforms %v, want %s", platforms, want)
	}
	tags, err := remote.List(ref.Context())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(version, ".", 3)
	for _, want := range []string{version, "latest", parts[0], parts[0] + "." + parts[1]} {
		if !contains(tags, want) {
			t.Errorf("tags %v lack %s", tags, want)
		}
	}
	t.Logf("index %s: platforms %v, tags %v", ref, platforms, tags)
}

func TestInstallAndLookPath(t *testing.T) {
	repo, version := env(t, "ARTIFACT_REPOSITORY"), env(t, "ARTIFACT_VERSION")
	dir := env(t, "FLEETING_PLUGIN_PATH")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	parts := strings.SplitN(version, ".", 3)
	minor := repo + ":" + parts[0] + "." + parts[1]
	// what `gitlab-runner fleeting install` does for plugin = "<repo>:<major>.<minor>"
	if err := installer.Install(ctx, minor); err != nil {
		t.Fatalf("installer.Install(%s): %v", minor, err)
	}
	want := filepath.Join(dir, repo, version, "plugin")
	if runtime.GOOS == "windows" {
		want += ".exe"
	}
	for _, ref := range []string{minor, repo + ":" + version, repo + ":" + parts[0], repo + ":latest", repo} {
		got, err := installer.LookPath(ref, "")
		if err != nil {
			t.Fatalf("installer.LookPath(%s): %v", ref, err)
		}
		if got != want {
			t.Errorf("installer.LookPath(%s) = %s, want %s", ref, got, want)
		}
	}
	// the registry name with a port is what the runner cannot resolve (docs/install.md)
	if _, err := installer.LookPath("127.0.0.1:5000/group/plugin:1.0.0", ""); err == nil ||
		!strings.Contains(err.Error(), "escaping plugin path") {
		t.Errorf("a registry with a port resolved: %v", err)
	}
	info, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s is not executable: %v", want, info.Mode())
	}
	fmt.Printf("INSTALLED %s\n", want)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
