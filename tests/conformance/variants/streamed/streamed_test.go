//go:build variants

// Host of the variant contract "streamed" (streamed.proto): Update is a
// server stream with one instance per message (instance_id and an enum
// State); ConnectInfo's response is flat; keepalive is a Go duration string,
// timeout milliseconds, the expiry unix seconds; there is no Heartbeat,
// Suspend or Resume. go-plugin's real client starts the installed plugin as
// this test binary's own child, so the plugin reads the contract from
// /proc/<ppid>/exe — this binary (../../hostkit, never ../../fleetingpb).
//
//	FLEETING_PLUGIN_BIN=... FLEETING_VARIANT_CONFIG=plugin_config.json \
//	  go test -tags variants -count=1 -v ./variants/streamed
package streamed

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"fleeting-openstack/conformance/hostkit"
	pb "fleeting-openstack/conformance/variants/streamed/pb"
)

type group struct{ c pb.InstanceGroupClient }

func (g group) Init(ctx context.Context, config []byte) (string, int, error) {
	r, err := g.c.Init(ctx, &pb.InitRequest{Config: config, ConnectorConfig: &pb.ConnectorConfig{
		Os: "linux", Protocol: "ssh", Keepalive: hostkit.Keepalive.String(), TimeoutMs: hostkit.Timeout.Milliseconds()}})
	return r.GetId(), int(r.GetMaxSize()), err
}

func (g group) Increase(ctx context.Context, n int) (int, string, error) {
	r, err := g.c.Increase(ctx, &pb.IncreaseRequest{Delta: int32(n)})
	return int(r.GetSucceeded()), r.GetError(), err
}

// Update reads the whole stream: one message per instance.
func (g group) Update(ctx context.Context) (map[string]string, error) {
	stream, err := g.c.Update(ctx, &pb.UpdateRequest{})
	if err != nil {
		return nil, err
	}
	states := map[string]string{}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return states, nil
		}
		if err != nil {
			return states, err
		}
		if _, twice := states[m.GetInstanceId()]; twice || m.GetInstanceId() == "" {
			return states, errors.New("stream repeats an instance or sends an empty id: " + m.String())
		}
		states[m.GetInstanceId()] = strings.ToLower(strings.TrimPrefix(m.GetState().String(), "STATE_"))
	}
}

func (g group) ConnectInfo(ctx context.Context, id string) (hostkit.ConnInfo, error) {
	r, err := g.c.ConnectInfo(ctx, &pb.ConnectInfoRequest{Id: id})
	out := hostkit.ConnInfo{ID: r.GetId(), InternalAddr: r.GetInternalAddr(), ExternalAddr: r.GetExternalAddr(),
		OS: r.GetOs(), Protocol: r.GetProtocol(), Username: r.GetUsername(), Key: r.GetKey(),
		Timeout: time.Duration(r.GetTimeoutMs()) * time.Millisecond}
	if err == nil {
		keepalive, perr := time.ParseDuration(r.GetKeepalive())
		if perr != nil {
			return out, errors.New("keepalive is not a Go duration: " + perr.Error())
		}
		out.Keepalive = keepalive
	}
	if r.GetExpiresUnix() != 0 {
		e := time.Unix(r.GetExpiresUnix(), 0)
		out.Expires = &e
	}
	return out, err
}

// Heartbeat is not part of this contract.
func (g group) Heartbeat(context.Context, string) (bool, error) { return false, nil }

func (g group) Decrease(ctx context.Context, ids []string) ([]string, string, error) {
	r, err := g.c.Decrease(ctx, &pb.DecreaseRequest{Instances: ids})
	return r.GetSucceeded(), r.GetError(), err
}

func (g group) Shutdown(ctx context.Context) error {
	_, err := g.c.Shutdown(ctx, &pb.ShutdownRequest{})
	return err
}

func TestStreamedContract(t *testing.T) {
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
	hostkit.AssertContractFromThisBinary(t, h.Logs, "fleeting.stream.v2.InstanceGroup",
		[]string{"Init", "Update", "Increase", "Decrease", "ConnectInfo", "Shutdown"})
}
