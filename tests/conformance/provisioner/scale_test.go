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

// Scale to max_size and back to 0 through fleeting's Provisioner: it never
// asks beyond max_size, what it counts is what Nova holds, and every instance
// ends deleted (not timed out).
func TestScaleToMaxAndBack(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	admin := NewAdmin(t, e)
	group := e.Group(t, "scale")
	const max = 4
	p := StartPlugin(t, e, e.GroupConfig(group, Config{"max_size": max}))
	prov, rec, tap := p.Init(t, fleeting.WithMaxSize(max))

	start := time.Now()
	prov.Request(max)
	WaitFor(t, fmt.Sprintf("%d instances running", max), 2*time.Minute, func() bool {
		return len(InState(prov, provider.StateRunning)) == max
	})
	t.Logf("%d running in %.1fs", max, time.Since(start).Seconds())
	ids := IDs(prov)
	if got := admin.GroupIDs(t, group); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("Nova holds %v, the Provisioner counts %v", got, ids)
	}
	if n := tap.Increased(); n != max {
		t.Fatalf("Increase answered %d in total, want %d (%+v)", n, max, tap.Increases())
	}
	for _, c := range tap.Increases() {
		if c.Err != nil {
			t.Fatalf("Increase(%d) failed: %v", c.N, c.Err)
		}
	}
	for _, id := range ids {
		if ev := rec.Of(id); len(ev) == 0 || ev[0].Cause != fleeting.CauseRequested {
			t.Fatalf("instance %s: events %+v, want discovered as requested", id, ev)
		}
	}
	// At max_size the plugin itself creates nothing more: an Increase through the
	// real client answers 0 (nothing made: an error naming why).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if n, err := p.Group.Increase(ctx, 1); n != 0 || err == nil || !strings.Contains(err.Error(), "max_size") {
		t.Fatalf("Increase(1) at max_size = %d, %v; want 0 and an error naming max_size", n, err)
	}
	if got := admin.GroupIDs(t, group); len(got) != max {
		t.Fatalf("Nova holds %d servers after an Increase at max_size, want %d", len(got), max)
	}

	down := time.Now()
	for _, inst := range prov.Instances() {
		inst.Delete()
	}
	WaitFor(t, "every instance deleted", 2*time.Minute, func() bool { return len(prov.Instances()) == 0 })
	for _, id := range ids {
		evs := rec.Of(id)
		if last := evs[len(evs)-1]; last.State != provider.StateDeleted {
			t.Fatalf("instance %s ended %s, want deleted (events %+v)", id, last.State, evs)
		}
	}
	admin.WaitGroupGone(t, group, time.Minute)
	if c := prov.Capacity(); c.Running+c.Creating+c.Deleting+c.Requested != 0 {
		t.Fatalf("capacity after scaling to 0: %+v", c)
	}
	t.Logf("deleted in %.1fs", time.Since(down).Seconds())
	if to := rec.Timeouts(); len(to) > 0 {
		t.Fatalf("instances pruned as timed out: %v", to)
	}
}
