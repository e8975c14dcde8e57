//go:build provisioner

package provisioner

import (
	"testing"

	"gitlab.com/gitlab-org/fleeting/fleeting/provider"

	"fleeting-openstack/conformance/e2ekit"
)

// The SSH safety checks of tests/conformance/e2e (docs/e2e.md, "Traffic never
// leaves the machine"): before any connection, the address must be one the
// test driver created for that server and routed to the driver's bridge.
// They are e2ekit's (AssertOurs, RunSSH), on the test driver's helper and
// state of this package's Env.

// kit is the part of e2ekit.Config its SSH checks read: the test driver's
// route-check helper and state directory.
func (e *Env) kit() *e2ekit.Config {
	return &e2ekit.Config{Helper: e.Helper, StateDir: e.DriverState}
}

// AssertOurs refuses (fails the test) unless addr belongs to server id as the
// test driver created it and the host routes it to that driver's bridge.
func AssertOurs(t *testing.T, e *Env, id, addr string) {
	t.Helper()
	e2ekit.AssertOurs(t, e.kit(), id, addr)
}

// RunSSH runs command on server id at addr as ConnectInfo says (user, key),
// after AssertOurs; the host key must be one the instance printed on its console.
func RunSSH(t *testing.T, e *Env, id, addr string, info provider.ConnectInfo, command string) string {
	t.Helper()
	return e2ekit.RunSSH(t, e.kit(), id, addr, info.Username, info.Key, command)
}
