//go:build variants

// Host of the variant contract "renumbered" (renumbered.proto: the built-in
// names, but every field renumbered; google.protobuf.Timestamp/Duration;
// camelCase and synonym field names; fields the plugin does not know, which
// this host fills in to prove they are ignored). go-plugin's real client
// starts the installed plugin as this test binary's own child, so the plugin
// reads the contract from /proc/<ppid>/exe — this binary, which links no
// descriptor of the built-in contract (../../hostkit, never ../../fleetingpb).
//
//	FLEETING_PLUGIN_BIN=... FLEETING_VARIANT_CONFIG=plugin_config.json \
//	  go test -tags variants -count=1 -v ./variants/renumbered
package renumbered

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"fleeting-openstack/conformance/hostkit"
	pb "fleeting-openstack/conformance/variants/renumbered/pb"
)

type group struct{ c pb.InstanceGroupClient }

func (g group) Init(ctx context.Context, config []byte) (string, int, error) {
	r, err := g.c.Init(ctx, &pb.InitRequest{PluginConfig: config, Region: "RegionOne",
		Settings: &pb.Settings{ConnectorConfig: &pb.ConnectorConfig{Os: "linux", Protocol: "ssh",
			Keepalive: durationpb.New(hostkit.Keepalive), Timeout: durationpb.New(hostkit.Timeout)}}})
	return r.GetInfo().GetId(), int(r.GetInfo().GetMaxSize()), err
}

func (g group) Increase(ctx context.Context, n int) (int, string, error) {
	r, err := g.c.Increase(ctx, &pb.IncreaseRequest{Count: int32(n), TraceId: 424242})
	return int(r.GetSucceeded()), r.GetError(), err
}

func (g group) Update(ctx context.Context) (map[string]string, error) {
	r, err := g.c.Update(ctx, &pb.UpdateRequest{TraceId: 7})
	states := map[string]string{}
	for _, i := range r.GetInstances() {
		states[i.GetId()] = i.GetState()
	}
	return states, err
}

func (g group) ConnectInfo(ctx context.Context, id string) (hostkit.ConnInfo, error) {
	r, err := g.c.ConnectInfo(ctx, &pb.ConnectInfoRequest{InstanceId: id})
	i, cc := r.GetInfo(), r.GetInfo().GetConnectorConfig()
	out := hostkit.ConnInfo{ID: i.GetId(), InternalAddr: i.GetInternalAddr(), ExternalAddr: i.GetExternalAddr(),
		OS: cc.GetOs(), Protocol: cc.GetProtocol(), Username: cc.GetUsername(), Key: cc.GetKey(),
		Keepalive: cc.GetKeepalive().AsDuration(), Timeout: cc.GetTimeout().AsDuration()}
	if i.GetExpires() != nil {
		e := i.GetExpires().AsTime()
		out.Expires = &e
	}
	return out, err
}

func (g group) Heartbeat(ctx context.Context, id string) (bool, error) {
	_, err := g.c.Heartbeat(ctx, &pb.HeartbeatRequest{InstanceId: id})
	return true, err
}

func (g group) Decrease(ctx context.Context, ids []string) ([]string, string, error) {
	r, err := g.c.Decrease(ctx, &pb.DecreaseRequest{InstanceIds: ids})
	return r.GetSucceeded(), r.GetError(), err
}

func (g group) Shutdown(ctx context.Context) error {
	_, err := g.c.Shutdown(ctx, &pb.ShutdownRequest{})
	return err
}

func TestRenumberedContract(t *testing.T) {
	h := hostkit.Start(t, hostkit.MustEnv(t, "FLEETING_PLUGIN_BIN"), hostkit.Options{
		Handshake: hostkit.Handshake,
		NewClient: func(c *grpc.ClientConn) interface{} { return pb.NewInstanceGroupClient(c) },
		AutoMTLS:  true,
		Env:       hostkit.VariantEnv(t),
	})
	defer func() {
		h.Client.Kill()
		if t.Failed() {
			t.Logf("plugin log:\n%s", h.Logs.String())
		}
	}()
	hostkit.Lifecycle(t, h, group{h.Stub.(pb.InstanceGroupClient)})
	hostkit.AssertContractFromThisBinary(t, h.Logs, "fleeting.plugin.v1.InstanceGroup",
		[]string{"Init", "Update", "Increase", "Decrease", "ConnectInfo", "Heartbeat", "Shutdown"})
	// The fields the plugin does not know were ignored, and said so at debug level.
	var unused []string
	for _, l := range h.Logs.Lines() {
		if l["@message"] == "fields the plugin does not use" {
			unused = append(unused, fmt.Sprint(l))
		}
	}
	for _, field := range []string{"region", "trace_id", "note"} {
		if !strings.Contains(strings.Join(unused, "\n"), field) {
			t.Fatalf("unknown field %s not in the plugin's debug lines about unused fields: %v", field, unused)
		}
	}
}
