//go:build variants

// Host of the variant contract "unmappable" (unmappable.proto): the built-in
// contract in another package, except that IncreaseRequest has two int32
// fields alpha and beta and nothing the plugin can take for the delta. The
// plugin must refuse Init with a readable error naming Increase and delta
// (not fail later, mid-lifecycle, with a wrong count). go-plugin's real
// client starts the installed plugin as this test binary's own child, so the
// plugin reads the contract from /proc/<ppid>/exe — this binary.
//
//	FLEETING_PLUGIN_BIN=... FLEETING_VARIANT_CONFIG=plugin_config.json \
//	  go test -tags variants -count=1 -v ./variants/unmappable
package unmappable

import (
	"strings"
	"testing"

	"google.golang.org/grpc"

	"fleeting-openstack/conformance/hostkit"
	pb "fleeting-openstack/conformance/variants/unmappable/pb"
)

func TestUnmappableContractFailsInit(t *testing.T) {
	config := hostkit.VariantConfig(t)
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
	group := h.Stub.(pb.InstanceGroupClient)
	_, err := group.Init(hostkit.Ctx(t), &pb.InitRequest{Config: config, Settings: &pb.Settings{
		ConnectorConfig: &pb.ConnectorConfig{Os: "linux", Protocol: "ssh"}}})
	if err == nil {
		t.Fatal("Init succeeded although IncreaseRequest has no field for the delta")
	}
	for _, want := range []string{"Increase", "delta"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Init error %q does not name %q", err.Error(), want)
		}
	}
	t.Logf("Init error: %v", err)
	// Nothing else runs on a contract that could not be mapped.
	if _, err := group.Increase(hostkit.Ctx(t), &pb.IncreaseRequest{Alpha: 1, Beta: 2}); err == nil {
		t.Fatal("Increase succeeded after a failed Init")
	}
	h.KillAndCheck(t)
	hostkit.AssertContractFromThisBinary(t, h.Logs, "fleeting.unmappable.v1.InstanceGroup",
		[]string{"Init", "Update", "Increase", "Decrease", "ConnectInfo", "Heartbeat", "Shutdown", "Suspend", "Resume"})
}
