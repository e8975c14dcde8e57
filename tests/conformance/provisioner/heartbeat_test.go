//go:build provisioner

package provisioner

import (
	"context"
	"strings"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// Heartbeat through fleeting's client (fleeting.Instance.Heartbeat): nil for a
// healthy instance; an error naming the key for an instance whose key check
// (server metadata fleeting-key-check) proves another master secret made its
// key (a lost or replaced credentials.state_dir), and for one deleted in Nova.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	admin := NewAdmin(t, e)
	group := e.Group(t, "heartbeat")
	p := StartPlugin(t, e, e.GroupConfig(group, nil))
	// fleeting's idle update interval (1 min): no Update acts on the changes below first
	prov, _, _ := p.Init(t, fleeting.WithUpdateInterval(time.Minute))
	prov.Request(3)
	WaitFor(t, "3 instances running", 2*time.Minute, func() bool { return len(InState(prov, provider.StateRunning)) == 3 })
	ids := IDs(prov)
	healthy, mismatched, gone := ids[0], ids[1], ids[2]
	beat := func(id string) (error, time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		err := Instance(prov, id).Heartbeat(ctx)
		return err, time.Since(start)
	}
	for _, id := range ids {
		if err, took := beat(id); err != nil {
			t.Fatalf("Heartbeat(%s) of a healthy instance: %v", id, err)
		} else {
			t.Logf("Heartbeat(%s) ok in %dms", id, took.Milliseconds())
		}
	}
	admin.SetMetadata(t, mismatched, "fleeting-key-check", "000000000000000000000000")
	admin.Delete(t, gone)
	WaitFor(t, "server "+gone+" gone", time.Minute, func() bool { return admin.Server(t, gone) == nil })

	if err, _ := beat(mismatched); err == nil || !strings.Contains(err.Error(), "key") {
		t.Errorf("Heartbeat of a key-mismatched instance = %v, want an error about its key", err)
	} else {
		t.Logf("key mismatch: %v", err)
	}
	if err, _ := beat(gone); err == nil {
		t.Errorf("Heartbeat of an instance deleted in Nova = nil, want an error")
	} else {
		t.Logf("deleted: %v", err)
	}
	if err, _ := beat(healthy); err != nil {
		t.Errorf("Heartbeat of the healthy instance after the others failed: %v", err)
	}
	for _, inst := range prov.Instances() {
		inst.Delete()
	}
	WaitFor(t, "group empty", 2*time.Minute, func() bool { return len(prov.Instances()) == 0 })
	admin.WaitGroupGone(t, group, time.Minute)
}
