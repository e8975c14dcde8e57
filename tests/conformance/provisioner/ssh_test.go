//go:build provisioner

package provisioner

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

	"golang.org/x/crypto/ssh"

	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// The SSH safety checks of tests/conformance/e2e (docs/e2e.md, "Traffic never
// leaves the machine"): before any connection, the address must be one the
// test driver created for that server and routed to the driver's bridge.

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

// AssertOurs refuses (fails the test) unless addr belongs to server id as the
// test driver created it and the host routes it to that driver's bridge.
func AssertOurs(t *testing.T, e *Env, id, addr string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.DriverState, id, "state.json"))
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
	chk, err := exec.Command("/usr/bin/python3", "-P", e.Helper, "route-check", addr).CombinedOutput()
	if err != nil || strings.TrimSpace(string(chk)) != bridge {
		t.Fatalf("REFUSING to connect to %s: route-check: %s %v", addr, chk, err)
	}
}

// RunSSH runs command on server id at addr as ConnectInfo says (user, key),
// after AssertOurs; the host key must be one the instance printed on its console.
func RunSSH(t *testing.T, e *Env, id, addr string, info provider.ConnectInfo, command string) string {
	t.Helper()
	AssertOurs(t, e, id, addr)
	signer, err := ssh.ParsePrivateKey(info.Key)
	if err != nil {
		t.Fatalf("ConnectInfo key of %s does not parse: %v", id, err)
	}
	console := filepath.Join(e.DriverState, id, "console.log")
	cfg := &ssh.ClientConfig{
		User: info.Username,
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
	deadline := time.Now().Add(90 * time.Second)
	for {
		client, err = ssh.Dial("tcp", net.JoinHostPort(addr, "22"), cfg)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh %s@%s (server %s): %v", info.Username, addr, id, err)
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
