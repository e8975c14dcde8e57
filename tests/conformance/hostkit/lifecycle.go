package hostkit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Connector settings every variant host sends at Init; ConnectInfo must give
// the same durations back, whatever their encoding in the variant (int64
// nanoseconds, google.protobuf.Duration, a Go duration string, milliseconds).
const (
	Keepalive = 30 * time.Second
	Timeout   = 10 * time.Second
)

// ConnInfo is a ConnectInfo answer, whatever the variant's messages.
type ConnInfo struct {
	ID, InternalAddr, ExternalAddr, OS, Protocol, Username string
	Key                                                    []byte
	Keepalive, Timeout                                     time.Duration
	Expires                                                *time.Time
}

// Group is a variant's stub seen through the fleeting model: each variant
// host adapts its generated client to it, so that the lifecycle below is the
// same for all of them.
type Group interface {
	// Init sends plugin_config and connector settings (os linux, protocol
	// ssh, Keepalive, Timeout) and returns the provider id and max size.
	Init(ctx context.Context, config []byte) (id string, maxSize int, err error)
	Increase(ctx context.Context, n int) (succeeded int, reason string, err error)
	// Update is instance id -> state word (creating, running, ...).
	Update(ctx context.Context) (map[string]string, error)
	ConnectInfo(ctx context.Context, id string) (ConnInfo, error)
	// Heartbeat reports false when the variant declares no Heartbeat.
	Heartbeat(ctx context.Context, id string) (declared bool, err error)
	Decrease(ctx context.Context, ids []string) (succeeded []string, reason string, err error)
	Shutdown(ctx context.Context) error
}

// Lifecycle runs Init, Increase(1), Update until running, ConnectInfo,
// Heartbeat (where declared), Decrease, Update until gone, Shutdown and Kill
// against the devcloud plugin_config of FLEETING_VARIANT_CONFIG, then checks
// that the plugin process is gone.
func Lifecycle(t *testing.T, h *Host, g Group) {
	t.Helper()
	config := VariantConfig(t)
	id, maxSize, err := g.Init(Ctx(t), config)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if !strings.HasPrefix(id, "openstack/") || maxSize <= 0 {
		t.Fatalf("Init = id %q, max_size %d; want an openstack/... id and a positive max_size", id, maxSize)
	}
	t.Logf("Init: id=%s max_size=%d", id, maxSize)

	n, reason, err := g.Increase(Ctx(t), 1)
	if err != nil || n != 1 || reason != "" {
		t.Fatalf("Increase(1) = %d, %q, %v", n, reason, err)
	}
	var instance string
	started := time.Now()
	Eventually(t, 5*time.Minute, "instance running", func() (bool, string) {
		states, err := g.Update(Ctx(t))
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		if len(states) > 1 {
			t.Fatalf("Update = %v, want one instance", states)
		}
		for i, s := range states {
			instance = i
			if s != "creating" && s != "running" {
				t.Fatalf("Update: instance %s is %q while starting", i, s)
			}
			return s == "running", fmt.Sprint(states)
		}
		return false, "no instance yet"
	})
	t.Logf("instance %s running after %v", instance, time.Since(started).Round(time.Second))

	ci, err := g.ConnectInfo(Ctx(t), instance)
	if err != nil {
		t.Fatalf("ConnectInfo(%s): %v", instance, err)
	}
	var problems []string
	if ci.ID != "" && ci.ID != instance {
		problems = append(problems, fmt.Sprintf("id %q, want %q", ci.ID, instance))
	}
	if ci.InternalAddr == "" {
		problems = append(problems, "no internal address")
	}
	if ci.Username == "" || len(ci.Key) == 0 {
		problems = append(problems, fmt.Sprintf("username %q, key of %d bytes: want both", ci.Username, len(ci.Key)))
	}
	if ci.OS != "linux" || ci.Protocol != "ssh" {
		problems = append(problems, fmt.Sprintf("os %q protocol %q, want linux ssh", ci.OS, ci.Protocol))
	}
	if ci.Keepalive != Keepalive || ci.Timeout != Timeout {
		problems = append(problems, fmt.Sprintf("keepalive %v timeout %v, want %v %v (sent at Init)",
			ci.Keepalive, ci.Timeout, Keepalive, Timeout))
	}
	if ci.Expires != nil && !ci.Expires.After(time.Now()) {
		problems = append(problems, fmt.Sprintf("expires %v is in the past", ci.Expires))
	}
	if len(problems) > 0 {
		t.Fatalf("ConnectInfo(%s): %s", instance, strings.Join(problems, "; "))
	}
	t.Logf("ConnectInfo: internal %s external %q user %s key %d bytes expires %v",
		ci.InternalAddr, ci.ExternalAddr, ci.Username, len(ci.Key), ci.Expires)

	declared, err := g.Heartbeat(Ctx(t), instance)
	if declared && err != nil {
		t.Fatalf("Heartbeat(%s) of a running instance: %v", instance, err)
	}
	t.Logf("Heartbeat declared: %v", declared)

	done, reason, err := g.Decrease(Ctx(t), []string{instance})
	if err != nil || len(done) != 1 || done[0] != instance || reason != "" {
		t.Fatalf("Decrease(%s) = %v, %q, %v", instance, done, reason, err)
	}
	Eventually(t, 5*time.Minute, "instance gone", func() (bool, string) {
		states, err := g.Update(Ctx(t))
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		s, present := states[instance]
		if present && s != "deleting" && s != "deleted" {
			t.Fatalf("Update: instance %s is %q after Decrease", instance, s)
		}
		return !present || s == "deleted", fmt.Sprint(states)
	})
	if err := g.Shutdown(Ctx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	h.KillAndCheck(t)
}
