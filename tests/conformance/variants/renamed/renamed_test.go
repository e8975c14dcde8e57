//go:build variants

// Host of the variant contract "renamed" (renamed.proto: package
// acme.autoscale.v7, service Fleet, other message names) with another magic
// cookie than fleeting's. go-plugin's real client starts the
// installed plugin as this test binary's own child, so the plugin reads the
// contract from /proc/<ppid>/exe — this binary, which embeds no other
// fleeting-like descriptor (it imports ../../hostkit, never ../../fleetingpb).
//
//	FLEETING_PLUGIN_BIN=... FLEETING_VARIANT_CONFIG=plugin_config.json \
//	  go test -tags variants -count=1 -v ./variants/renamed
//
// Run by tests/conformance/test_contract_variants.py (devcloud plugin_config).
package renamed

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"fleeting-openstack/conformance/hostkit"
	pb "fleeting-openstack/conformance/variants/renamed/pb"
)

// handshake differs from fleeting's (FLEETING_INSTANCE_GROUP_PLUGIN=4c6410b1-...):
// the plugin must serve a go-plugin host anyway.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "ACME_AUTOSCALE_PLUGIN",
	MagicCookieValue: "acme",
}

type fleet struct{ c pb.FleetClient }

func (f fleet) Init(ctx context.Context, config []byte) (string, int, error) {
	r, err := f.c.Init(ctx, &pb.ConfigureFleet{Config: config, Settings: &pb.RuntimeSettings{
		Connector: &pb.ConnectorSettings{Os: "linux", Protocol: "ssh",
			Keepalive: int64(hostkit.Keepalive), Timeout: int64(hostkit.Timeout)}}})
	return r.GetInfo().GetId(), int(r.GetInfo().GetMaxSize()), err
}

func (f fleet) Increase(ctx context.Context, n int) (int, string, error) {
	r, err := f.c.Increase(ctx, &pb.Grow{Delta: int32(n)})
	return int(r.GetSucceeded()), r.GetError(), err
}

func (f fleet) Update(ctx context.Context) (map[string]string, error) {
	r, err := f.c.Update(ctx, &pb.PollFleet{})
	states := map[string]string{}
	for _, m := range r.GetInstances() {
		states[m.GetId()] = m.GetState()
	}
	return states, err
}

func (f fleet) ConnectInfo(ctx context.Context, id string) (hostkit.ConnInfo, error) {
	r, err := f.c.ConnectInfo(ctx, &pb.Reach{Id: id})
	i, cc := r.GetInfo(), r.GetInfo().GetConnectorConfig()
	out := hostkit.ConnInfo{ID: i.GetId(), InternalAddr: i.GetInternalAddr(), ExternalAddr: i.GetExternalAddr(),
		OS: cc.GetOs(), Protocol: cc.GetProtocol(), Username: cc.GetUsername(), Key: cc.GetKey(),
		Keepalive: time.Duration(cc.GetKeepalive()), Timeout: time.Duration(cc.GetTimeout())}
	if i.GetExpires() != 0 {
		e := time.Unix(i.GetExpires(), 0)
		out.Expires = &e
	}
	return out, err
}

func (f fleet) Heartbeat(ctx context.Context, id string) (bool, error) {
	_, err := f.c.Heartbeat(ctx, &pb.Pulse{Id: id})
	return true, err
}

func (f fleet) Decrease(ctx context.Context, ids []string) ([]string, string, error) {
	r, err := f.c.Decrease(ctx, &pb.Shrink{Instances: ids})
	return r.GetSucceeded(), r.GetError(), err
}

func (f fleet) Shutdown(ctx context.Context) error {
	_, err := f.c.Shutdown(ctx, &pb.Stop{})
	return err
}

func TestRenamedContract(t *testing.T) {
	h := hostkit.Start(t, hostkit.MustEnv(t, "FLEETING_PLUGIN_BIN"), hostkit.Options{
		Handshake: handshake,
		NewClient: func(c *grpc.ClientConn) interface{} { return pb.NewFleetClient(c) },
		AutoMTLS:  true,
		Env:       hostkit.VariantEnv(t),
	})
	defer func() {
		h.Client.Kill()
		if t.Failed() {
			t.Logf("plugin log:\n%s", h.Logs.String())
		}
	}()
	hostkit.Lifecycle(t, h, fleet{h.Stub.(pb.FleetClient)})
	hostkit.AssertContractFromThisBinary(t, h.Logs, "acme.autoscale.v7.Fleet",
		[]string{"Init", "Update", "Increase", "Decrease", "ConnectInfo", "Heartbeat", "Shutdown"})
	// Served because go-plugin's environment is there, not because any cookie would do.
	l := h.Logs.FindPrefix("magic cookie differs from fleeting's")
	if l == nil || !strings.Contains(fmt.Sprint(l["seen"]), handshake.MagicCookieKey) {
		t.Fatalf("no debug line about the differing cookie %s: %v", handshake.MagicCookieKey, l)
	}
}
