//go:build provisioner

package provisioner

import (
	"fmt"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// With nova-compute paused, Nova lists a new server in no changes-since answer (no
// compute host touched it). Under fleeting's Provisioner (Update every 2 s while it
// expects changes): Increase(3), and every Update from then on lists all 3 as
// creating, so the Provisioner holds all 3 and prunes none; the instances deleted
// while compute is still paused go through Decrease, and once compute runs again
// nothing is left in Nova and each instance ended deleted, none timed out.
func TestUnseenCreatesAreListedNotPruned(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	admin := NewAdmin(t, e)
	group := e.Group(t, "unseen")
	p := StartPlugin(t, e, e.GroupConfig(group, nil))
	prov, rec, tap := p.Init(t)
	if got := admin.GroupIDs(t, group); len(got) != 0 {
		t.Fatalf("a new group holds %v", got)
	}

	resume := PauseCompute(t, e, 18)
	paused := time.Now()
	prov.Request(3)
	WaitFor(t, "Increase answered 3", 10*time.Second, func() bool { return tap.Increased() == 3 })
	increased := time.Now()
	made := admin.GroupIDs(t, group)
	if len(made) != 3 {
		t.Fatalf("Nova holds %v after Increase(3)", made)
	}
	// Updates at 2 s until 13 s into the pause (then Delete, Decrease, resume: ≤ 20 s).
	time.Sleep(13*time.Second - time.Since(paused))
	var after []UpdateCall
	for _, u := range tap.Updates() {
		if u.Start.After(increased) {
			after = append(after, u)
		}
	}
	for _, u := range after {
		for _, id := range made {
			if state, ok := u.States[id]; !ok || state != provider.StateCreating || u.Err != nil {
				t.Errorf("Update at %s: %s is %q (listed %v, err %v), want creating",
					u.Start.Format("15:04:05.0"), id, state, ok, u.Err)
			}
		}
	}
	if len(after) < 4 {
		t.Errorf("only %d Updates while nova-compute was paused", len(after))
	}
	if got := InState(prov, provider.StateCreating); fmt.Sprint(got) != fmt.Sprint(made) {
		t.Errorf("the Provisioner holds %v as creating, Nova %v", got, made)
	}
	// Delete them while compute is still paused: Decrease through the Provisioner.
	for _, inst := range prov.Instances() {
		inst.Delete()
	}
	WaitFor(t, "Decrease of the 3", 5*time.Second, func() bool {
		n := 0
		for _, d := range tap.Decreases() {
			n += len(d.Succeeded)
		}
		return n == 3
	})
	took := resume()
	t.Logf("UNSEEN nova-compute paused %.1fs; Increase(3) answered %.1fs into the pause, took %s; %d Updates after it "+
		"listed 3 of 3 as creating; Decrease %.1fs after the pause began", took.Seconds(),
		increased.Sub(paused).Seconds(), tap.Increases()[0].Took.Round(time.Millisecond), len(after),
		time.Since(paused).Seconds())
	if took > 20*time.Second {
		t.Errorf("nova-compute was paused %s (> 20 s)", took)
	}

	WaitFor(t, "every instance deleted", 2*time.Minute, func() bool { return len(prov.Instances()) == 0 })
	admin.WaitGroupGone(t, group, 2*time.Minute)
	for _, id := range made {
		evs := rec.Of(id)
		if len(evs) == 0 || evs[len(evs)-1].State != provider.StateDeleted {
			t.Errorf("instance %s ended %v, want deleted", id, evs)
		}
	}
	if to := rec.Timeouts(); len(to) > 0 {
		t.Errorf("instances pruned as timed out: %v", to)
	}
	_ = fleeting.CauseRequested
}
