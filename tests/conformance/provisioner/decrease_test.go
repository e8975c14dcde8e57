//go:build provisioner

package provisioner

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// createForeign makes a server that is no member of any group of this suite's
// plugins (admin project, shared network), named "<group>-foreign" so that
// the group's cleanup removes it.
func createForeign(t *testing.T, e *Env, a *Admin, group string) string {
	t.Helper()
	data := a.Nova(t, "POST", "/servers", map[string]any{"server": map[string]any{
		"name": group + "-foreign", "imageRef": e.Images["tiny-raw"], "flavorRef": e.Flavor,
		"networks": []any{map[string]any{"uuid": e.SharedNetwork}},
	}}, 202)
	var out struct {
		Server struct {
			ID string `json:"id"`
		} `json:"server"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	a.WaitStatus(t, out.Server.ID, "ACTIVE", time.Minute)
	return out.Server.ID
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
	foreign := createForeign(t, e, admin, group)

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
	prov2, rec2, tap2 := p2.Init(t)
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
	admin.WaitGroupGone(t, group, time.Minute)
}
