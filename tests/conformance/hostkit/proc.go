package hostkit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MemoryEnv is what makes the plugin serve the in-memory test provider
// (tests/support/memory_provider.py), with debug logs. The test's working
// directory must be a package directory directly under tests/conformance
// or tests/conformance itself (depth 0 or 1).
func MemoryEnv(t testing.TB) []string {
	t.Helper()
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	support := ""
	for _, rel := range []string{"../support", "../../support"} {
		p := filepath.Join(here, rel)
		if _, err := os.Stat(filepath.Join(p, "memory_provider.py")); err == nil {
			support = p
			break
		}
	}
	if support == "" {
		t.Fatalf("tests/support/memory_provider.py not found from %s", here)
	}
	return []string{"PYTHONPATH=" + support,
		"FLEETING_OPENSTACK_PROVIDER=memory_provider:MemoryProvider", "FLEETING_OPENSTACK_LOG_LEVEL=debug"}
}

// Environ is the environment process pid was started with.
func Environ(t testing.TB, pid int) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatalf("read environment of process %d: %v", pid, err)
	}
	out := map[string]string{}
	for _, kv := range strings.Split(string(raw), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

// Children are the pids of this process's live children whose command line
// names bin (the plugin executable: a console script runs as its Python
// interpreter with the script as argument; a frozen build as itself).
func Children(bin string) []int {
	resolved, err := filepath.EvalSymlinks(bin)
	if err != nil {
		resolved = bin
	}
	entries, _ := os.ReadDir("/proc")
	var found []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) < 2 || fields[1] != fmt.Sprint(os.Getpid()) || fields[0] == "Z" {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		for _, arg := range strings.Split(string(cmdline), "\x00") {
			if arg == bin || arg == resolved {
				found = append(found, pid)
				break
			}
		}
	}
	return found
}

// OnlyChild is the pid of this process's one child running bin (fails t
// unless there is exactly one).
func OnlyChild(t testing.TB, bin string) int {
	t.Helper()
	found := Children(bin)
	if len(found) != 1 {
		t.Fatalf("children running %s: %v, want exactly one", bin, found)
	}
	return found[0]
}

// WaitGone fails t unless process pid is gone within the given time.
func WaitGone(t testing.TB, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still exists %v after Kill", pid, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
