//go:build provisioner

package provisioner

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// The plugin killed (SIGKILL) while an Increase is in flight, then started
// again (a new fleeting.RunPlugin on the same config and credentials
// state_dir) under a new Provisioner, as a restarted runner would: every
// server Nova holds comes back, as pre-existing, once; nothing more is
// created; SSH with each instance's key (derived again from the state dir)
// logs in.
func TestKilledMidIncreaseAndStartedAgain(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	admin := NewAdmin(t, e)
	group := e.Group(t, "restart")
	// one create at a time, so that the kill lands between the creates of one Increase
	cfg := e.E2EGroupConfig(group, "flatcar", Config{"create_concurrency": 1})
	p1 := StartPlugin(t, e, cfg)
	prov1, _, tap1 := p1.Init(t)

	prov1.Request(4)
	// the plugin logs each server Nova accepted: kill right after the second one
	deadline := time.Now().Add(time.Minute)
	for p1.Logs.Count("server requested") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not 2 servers requested a minute after Request(4)")
		}
		time.Sleep(5 * time.Millisecond)
	}
	answered := tap1.Increases()
	p1.SigKill(t)
	if len(answered) != 0 {
		t.Fatalf("the Increase had already been answered when the plugin was killed: %+v", answered)
	}
	WaitFor(t, "the Increase in flight to fail", 10*time.Second, func() bool { return len(tap1.Increases()) == 1 })
	if c := tap1.Increases()[0]; c.Err == nil || c.Succeeded != 0 {
		t.Fatalf("the Increase in flight when the plugin died answered %+v, want an error", c)
	}
	time.Sleep(3 * time.Second) // a create already sent completes in Nova all the same
	before := admin.GroupServers(t, group)
	t.Logf("killed mid-Increase with %d of 4 servers in Nova", len(before))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	prov1.Shutdown(ctx) // the dead plugin's Provisioner goes away (as the runner's would)
	cancel()

	p2 := StartPlugin(t, e, cfg)
	prov2, rec2, tap2 := p2.Init(t)
	var want []string
	names := map[string]bool{}
	for _, s := range before {
		want = append(want, s.ID)
		if names[s.Name] {
			t.Errorf("two servers named %s", s.Name)
		}
		names[s.Name] = true
	}
	if got := IDs(prov2); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the restarted plugin's group is %v, Nova holds %v", got, want)
	}
	for _, id := range want {
		if evs := rec2.Of(id); len(evs) == 0 || evs[0].Cause != fleeting.CausePreexisted {
			t.Errorf("instance %s: %s, want discovered as preexisted", id, fmtEvents(evs))
		}
	}
	start := time.Now()
	WaitFor(t, "the instances running", 3*time.Minute, func() bool {
		return len(InState(prov2, provider.StateRunning)) == len(want)
	})
	t.Logf("%d instance(s) running %.1fs after the restart", len(want), time.Since(start).Seconds())
	for _, inst := range prov2.Instances() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		info, err := inst.ConnectInfo(ctx)
		cancel()
		if err != nil {
			t.Fatalf("ConnectInfo(%s): %v", inst.ID(), err)
		}
		if out := RunSSH(t, e, inst.ID(), info.InternalAddr, info, "id -un"); strings.TrimSpace(out) != "core" {
			t.Fatalf("ssh %s: id -un = %q", inst.ID(), out)
		}
	}
	if got := admin.GroupIDs(t, group); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Nova holds %v after the restart, want %v (duplicates?)", got, want)
	}
	if inc := tap2.Increases(); len(inc) != 0 {
		t.Fatalf("the restarted plugin was asked to Increase: %+v", inc)
	}
	for _, inst := range prov2.Instances() {
		inst.Delete()
	}
	WaitFor(t, "group empty", 2*time.Minute, func() bool { return len(prov2.Instances()) == 0 })
	admin.WaitGroupGone(t, group, time.Minute)
}
