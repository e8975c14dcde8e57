//go:build provisioner

package provisioner

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// createForeign makes a server of another group in the same project (through
// a plugin of its own): a server the plugin under test can see but must not
// delete. The other group's cleanup removes it.
func createForeign(t *testing.T, e *Env, a *Admin, suffix string) string {
	t.Helper()
	other := e.Group(t, suffix)
	p := StartPlugin(t, e, e.GroupConfig(other, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := p.Group.Init(ctx, nil, DefaultSettings()); err != nil {
		t.Fatalf("Init of the other group: %v", err)
	}
	if n, err := p.Group.Increase(ctx, 1); n != 1 || err != nil {
		t.Fatalf("Increase of the other group: %d, %v", n, err)
	}
	p.Runner.Kill()
	var ids []string
	WaitFor(t, "the other group's server", time.Minute, func() bool { ids = a.GroupIDs(t, other); return len(ids) == 1 })
	a.WaitStatus(t, ids[0], "ACTIVE", time.Minute)
	return ids[0]
}

// Decrease of ids this plugin process never created: members a previous
// process made (through the restarted runner's Provisioner, which sees them
// as pre-existing, and through the client directly), an id Nova never had,
// and a server of nobody's group. Members are deleted; the unknown id counts
// as gone; the foreign server is refused and untouched; the answer is an OK
// status (an error would lose the ids that were deleted).
func TestDecreaseOfIdsThisProcessNeverCreated(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	admin := NewAdmin(t, e)
	group := e.Group(t, "decrease")
	cfg := e.GroupConfig(group, nil)
	foreign := createForeign(t, e, admin, "decrease-other")

	p1 := StartPlugin(t, e, cfg)
	prov1, _, _ := p1.Init(t)
	prov1.Request(3)
	WaitFor(t, "3 instances running", 2*time.Minute, func() bool { return len(InState(prov1, provider.StateRunning)) == 3 })
	made := IDs(prov1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	prov1.Shutdown(ctx)
	cancel()
	p1.Runner.Kill()

	p2 := StartPlugin(t, e, cfg)
	prov2, rec2, tap2 := p2.Init(t, fleeting.WithUpdateInterval(2*time.Second))
	if got := IDs(prov2); fmt.Sprint(got) != fmt.Sprint(made) {
		t.Fatalf("the new process's group is %v, want %v", got, made)
	}
	// 1. the Provisioner deletes a pre-existing instance (Decrease under the hood)
	Instance(prov2, made[0]).Delete()
	WaitFor(t, "the pre-existing instance deleted", time.Minute, func() bool { return Instance(prov2, made[0]) == nil })
	if evs := rec2.Of(made[0]); evs[len(evs)-1].State != provider.StateDeleted {
		t.Errorf("pre-existing instance %s ended %s", made[0], fmtEvents(evs))
	}
	for _, c := range tap2.Decreases() {
		if c.Err != nil {
			t.Errorf("Decrease(%v) failed: %v", c.IDs, c.Err)
		}
	}
	// 2. straight through fleeting's client: a member, an id Nova never had, a foreign server
	never := "00000000-0000-4000-8000-00000000dead"
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := p2.Group.Decrease(ctx, []string{made[1], never, foreign})
	sort.Strings(got)
	want := []string{made[1], never}
	sort.Strings(want)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Decrease(member, never-existed, foreign) = %v, %v; want %v, nil", got, err, want)
	}
	WaitFor(t, "the member deleted in Nova", time.Minute, func() bool { return admin.Server(t, made[1]) == nil })
	if s := admin.Server(t, foreign); s == nil || s.Status != "ACTIVE" || s.TaskState != "" {
		t.Errorf("the foreign server was touched: %+v", s)
	}
	if p2.Logs.Count(foreign, "not a server of group") == 0 {
		t.Errorf("the plugin did not log why it refused to delete %s", foreign)
	}
	WaitFor(t, "the deleted member gone from the Provisioner", 30*time.Second, func() bool { return Instance(prov2, made[1]) == nil })
	if to := rec2.Timeouts(); len(to) > 0 {
		t.Errorf("instances pruned as timed out: %v", to)
	}
	Instance(prov2, made[2]).Delete()
	WaitFor(t, "group empty", time.Minute, func() bool { return len(prov2.Instances()) == 0 })
	admin.Delete(t, foreign)
	WaitFor(t, "the foreign server gone", time.Minute, func() bool { return admin.Server(t, foreign) == nil })
	admin.WaitGroupGone(t, group, time.Minute)
}
