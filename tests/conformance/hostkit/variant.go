package hostkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ContractLogMessage is the plugin's info line naming the contract it serves
// (fleeting_openstack/contract/service.py, ContractHolder).
const ContractLogMessage = "serving the runner's contract"

// BuiltinLogMessage is how the plugin's warn line starts when it finds no
// contract in the runner and serves its built-in one (fleeting's).
const BuiltinLogMessage = "no fleeting contract found in the runner; serving the built-in"

// VariantEnv is the environment of a plugin started by a variant host: this
// process's, without anything that would let the plugin find its contract
// other than through /proc/<ppid>/exe (no FLEETING_OPENSTACK_PROTOCOL_FROM),
// without the built-in magic cookie and the in-memory test provider, with a
// fresh discovery cache (so every run scans the test binary) and debug logs.
func VariantEnv(t *testing.T) []string {
	t.Helper()
	drop := map[string]bool{"FLEETING_OPENSTACK_PROTOCOL_FROM": true, Handshake.MagicCookieKey: true,
		"FLEETING_OPENSTACK_PROVIDER": true, "XDG_CACHE_HOME": true, "FLEETING_OPENSTACK_LOG_LEVEL": true}
	var env []string
	for _, kv := range os.Environ() {
		if !drop[strings.SplitN(kv, "=", 2)[0]] {
			env = append(env, kv)
		}
	}
	return append(env, "XDG_CACHE_HOME="+t.TempDir(), "FLEETING_OPENSTACK_LOG_LEVEL=debug")
}

// VariantConfig is the plugin_config JSON of FLEETING_VARIANT_CONFIG (a file
// written by tests/conformance/test_contract_variants.py for a fresh devcloud group).
func VariantConfig(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(MustEnv(t, "FLEETING_VARIANT_CONFIG"))
	if err != nil {
		t.Fatalf("read FLEETING_VARIANT_CONFIG: %v", err)
	}
	return data
}

// Ctx is a context for one RPC against the devcloud.
func Ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// Eventually calls check every 2 s until it returns true, failing with its
// last description after timeout.
func Eventually(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v; last: %s", what, timeout, last)
		}
		time.Sleep(2 * time.Second)
	}
}

func fileSHA256(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AssertContractFromThisBinary fails unless the plugin logged, at info, that
// it serves service (with exactly methods) read from this test binary — its
// parent process's executable — and never fell back to the built-in contract.
func AssertContractFromThisBinary(t *testing.T, logs *LogSink, service string, methods []string) {
	t.Helper()
	if l := logs.FindPrefix(BuiltinLogMessage); l != nil {
		t.Fatalf("the plugin fell back to the built-in contract: %v", l)
	}
	l := logs.Find(ContractLogMessage)
	if l == nil {
		t.Fatalf("no %q line in the plugin log:\n%s", ContractLogMessage, logs.String())
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("os.Executable: %v", err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	sum := fileSHA256(t, self)
	var problems []string
	if l["@level"] != "info" {
		problems = append(problems, fmt.Sprintf("level %v, want info", l["@level"]))
	}
	if l["origin"] != "parent" {
		problems = append(problems, fmt.Sprintf("origin %v, want parent", l["origin"]))
	}
	if l["source"] != self {
		problems = append(problems, fmt.Sprintf("source %v, want this test binary %s", l["source"], self))
	}
	if prefix, _ := l["sha256"].(string); len(prefix) < 8 || !strings.HasPrefix(sum, prefix) {
		problems = append(problems, fmt.Sprintf("sha256 %v is not a prefix of this binary's %s", l["sha256"], sum))
	}
	if l["service"] != service {
		problems = append(problems, fmt.Sprintf("service %v, want %s", l["service"], service))
	}
	got := fmt.Sprint(l["methods"])
	if want := fmt.Sprint(methods); got != want {
		problems = append(problems, fmt.Sprintf("methods %s, want %s", got, want))
	}
	if len(problems) > 0 {
		t.Fatalf("contract log line %v: %s", l, strings.Join(problems, "; "))
	}
	t.Logf("plugin serves %s from %s (sha256 %s…), mapping %v", service, self, l["sha256"], l["mapping"])
}
