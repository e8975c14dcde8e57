package conformance

// Handshake proof (issue 17, item 1), hosts with go-plugin's client: see also
// fleetingclient/handshake_test.go (version 0, fleeting's own client). The
// plugin answers the application protocol version of the host that starts
// it: go-plugin's real client with fleeting's magic cookie, offering only 1,
// only 3, and 3 and 0 (go-plugin puts the keys of VersionedPlugins,
// comma-separated, into the plugin's PLUGIN_PROTOCOL_VERSIONS), each runs a
// whole lifecycle (Init, Increase, Update, ConnectInfo, Heartbeat, Decrease,
// Update, Shutdown, Kill) against the in-memory test provider served by the
// installed executable. These hosts call the service through ../fleetingpb,
// so they cannot share a test binary with fleeting's client (both register
// the .proto package "proto"; and the plugin reads its contract from the
// host binary).

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	pb "fleeting-openstack/conformance/fleetingpb"
	"fleeting-openstack/conformance/hostkit"
	"fleeting-openstack/conformance/pluginclient"
)

// TestHandshakeOfferedVersions: go-plugin's client offering only 1, only 3,
// and 3 and 0 (fleeting's cookie each time): the plugin answers the highest
// version offered, go-plugin dispenses that version's plugin, and the whole
// lifecycle runs over it.
func TestHandshakeOfferedVersions(t *testing.T) {
	for _, tc := range []struct {
		offer []int
		want  int
	}{{[]int{1}, 1}, {[]int{3}, 3}, {[]int{3, 0}, 3}} {
		tc := tc
		t.Run(fmt.Sprint(tc.offer), func(t *testing.T) {
			h := hostkit.Start(t, pluginBin(t), hostkit.Options{
				Handshake: pluginclient.Handshake, NewClient: pluginclient.NewInstanceGroup, Versions: tc.offer,
				Env: append(os.Environ(), hostkit.MemoryEnv(t)...)})
			defer h.Client.Kill()
			offered := strings.Split(hostkit.Environ(t, h.Pid)["PLUGIN_PROTOCOL_VERSIONS"], ",")
			sort.Strings(offered)
			var want []string
			for _, v := range tc.offer {
				want = append(want, fmt.Sprint(v))
			}
			sort.Strings(want)
			if strings.Join(offered, ",") != strings.Join(want, ",") {
				t.Fatalf("PLUGIN_PROTOCOL_VERSIONS = %v, want %v", offered, want)
			}
			if got := h.Client.NegotiatedVersion(); got != tc.want {
				t.Fatalf("negotiated app protocol version %d, want %d (the highest offered)", got, tc.want)
			}
			g := h.Stub.(pb.InstanceGroupClient)
			name := fmt.Sprintf("hs%d", tc.want)
			init, err := g.Init(ctx(t), &pb.InitRequest{Config: []byte(`{"name":"` + name + `","max_size":3}`),
				Settings: &pb.Settings{ConnectorConfig: &pb.ConnectorConfig{Os: "linux", Protocol: "ssh", Username: "core"}}})
			if err != nil || init.GetId() != "memory/"+name || init.GetMaxSize() != 3 || init.GetVersion() == "" {
				t.Fatalf("Init = %v, %v", init, err)
			}
			if inc, err := g.Increase(ctx(t), &pb.IncreaseRequest{N: 1}); err != nil || inc.GetSucceeded() != 1 {
				t.Fatalf("Increase(1) = %v, %v", inc, err)
			}
			if s := update(t, g); len(s) != 1 || s["mem-1"] != pb.UpdateResponse_creating {
				t.Fatalf("Update = %v, want mem-1 creating", s)
			}
			if s := update(t, g); len(s) != 1 || s["mem-1"] != pb.UpdateResponse_running {
				t.Fatalf("Update = %v, want mem-1 running", s)
			}
			ci, err := g.ConnectInfo(ctx(t), &pb.ConnectInfoRequest{Instance: "mem-1"})
			if err != nil || ci.GetInternalAddr() != "192.0.2.10" || ci.GetConnector().GetUsername() != "core" {
				t.Fatalf("ConnectInfo = %v, %v", ci, err)
			}
			if _, err := g.Heartbeat(ctx(t), &pb.HeartbeatRequest{Instance: "mem-1"}); err != nil {
				t.Fatalf("Heartbeat: %v", err)
			}
			if dec, err := g.Decrease(ctx(t), &pb.DecreaseRequest{Instances: []string{"mem-1"}}); err != nil ||
				len(dec.GetSucceeded()) != 1 {
				t.Fatalf("Decrease = %v, %v", dec, err)
			}
			if s := update(t, g); s["mem-1"] != pb.UpdateResponse_deleting {
				t.Fatalf("Update after Decrease = %v, want mem-1 deleting", s)
			}
			if _, err := g.Shutdown(ctx(t), &pb.Empty{}); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			h.KillAndCheck(t)
		})
	}
}
