//go:build provisioner

package provisioner

import (
	"context"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// Heartbeat through fleeting's client (fleeting.Instance.Heartbeat): nil for a
// healthy instance; an error for an instance whose key check (server metadata
// fleeting-key-check) proves another master secret made its key (a lost or
// replaced credentials.state_dir: the runner could never log in), with the key
// named as the reason, and an error for one deleted in Nova. The changes are
// made as the devcloud admin and asked about after the next Update has seen
// them (Heartbeat may answer from the group view of the last Update).
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	admin := NewAdmin(t, e)
	group := e.Group(t, "heartbeat")
	p := StartPlugin(t, e, e.GroupConfig(group, nil))
	prov, _, tap := p.Init(t, fleeting.WithUpdateInterval(2*time.Second))
	prov.Request(3)
	WaitFor(t, "3 instances running", 2*time.Minute, func() bool { return len(InState(prov, provider.StateRunning)) == 3 })
	ids := IDs(prov)
	healthy, mismatched, gone := ids[0], ids[1], ids[2]
	// the runner keeps its Instance values (the Provisioner drops what it prunes)
	insts := map[string]fleeting.Instance{}
	for _, id := range ids {
		insts[id] = Instance(prov, id)
	}
	beat := func(id string) (error, time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		err := insts[id].Heartbeat(ctx)
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
	changed := time.Now()
	WaitFor(t, "an Update after the changes", time.Minute, func() bool {
		for _, u := range tap.Updates() {
			if u.Start.After(changed) && u.Err == nil {
				return true
			}
		}
		return false
	})

	// the plugin deletes such a server (the runner replaces it): the answer is an error
	// about its key, or, once the delete completed, about the server being gone; the
	// plugin's log names the key as the reason either way
	if err, _ := beat(mismatched); err == nil {
		t.Errorf("Heartbeat of a key-mismatched instance = nil, want an error")
	} else {
		t.Logf("key mismatch: %v", err)
	}
	if p.Logs.Count("SSH key cannot work", mismatched) == 0 {
		t.Errorf("the plugin's log does not say %s's key cannot work", mismatched)
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
