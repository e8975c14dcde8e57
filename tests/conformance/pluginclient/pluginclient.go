// Package pluginclient is the runner's side of the plugin handshake, shared
// by the conformance, smoke and e2e tests: the one Go copy of the values
// fleeting_openstack/cli.py serves (MAGIC_COOKIE_*; unverified against
// upstream fleeting, see docs/protocol.md).
package pluginclient

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "fleeting-openstack/conformance/fleetingpb"
)

// Handshake is the go-plugin handshake the plugin expects.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "FLEETING_PLUGIN",
	MagicCookieValue: "fleeting",
}

// InstanceGroupPlugin dispenses a fleeting InstanceGroup client.
type InstanceGroupPlugin struct{ plugin.NetRPCUnsupportedPlugin }

// GRPCServer is never used: the tests are clients only.
func (InstanceGroupPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("client only")
}

// GRPCClient returns the generated InstanceGroup stub over the plugin's connection.
func (InstanceGroupPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return pb.NewInstanceGroupClient(c), nil
}

// Plugins is the versioned plugin set a client offers ("instancegroup", app version 1).
func Plugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{1: {"instancegroup": InstanceGroupPlugin{}}}
}

// LogSink collects what go-plugin's client re-logs from the plugin's stderr
// (use it as the client hclog.Logger's Output); safe for concurrent use.
type LogSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String is everything written so far.
func (s *LogSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
