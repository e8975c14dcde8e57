// Package pluginclient is the runner's side of the plugin handshake for the
// hosts that speak the built-in contract (conformance, smoke and e2e tests):
// hostkit's handshake and log sink plus the stubs generated from
// fleeting_openstack/proto/fleeting.proto (../fleetingpb).
//
// The variant hosts (../variants) use hostkit directly, so that their test
// binaries embed no descriptor but their own contract.
package pluginclient

import (
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "fleeting-openstack/conformance/fleetingpb"
	"fleeting-openstack/conformance/hostkit"
)

// Handshake is fleeting's go-plugin handshake (cookie and app version 0).
var Handshake = hostkit.Handshake

// LogSink collects what go-plugin's client re-logs from the plugin's stderr.
type LogSink = hostkit.LogSink

// NewInstanceGroup is the built-in InstanceGroup stub over a plugin connection.
func NewInstanceGroup(c *grpc.ClientConn) interface{} { return pb.NewInstanceGroupClient(c) }

// Plugins is the versioned plugin set a client offers ("instancegroup" at
// each of versions; none given: fleeting's 0).
func Plugins(versions ...int) map[int]plugin.PluginSet {
	return hostkit.Plugins(NewInstanceGroup, versions...)
}
