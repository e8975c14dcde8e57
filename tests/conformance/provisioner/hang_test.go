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

// hangFor is how long Nova's server reads hang (issue 17: a 2-minute hang).
const hangFor = 2 * time.Minute

// recoveryBound: the first good Update at most this long after Nova answers again
// (the Provisioner here polls every 2 s, so this includes up to one poll interval).
const recoveryBound = 5 * time.Second

// Nova's server reads (the list and each server by id) hang for 2 minutes behind the
// project's fault proxy, under
// fleeting's Provisioner polling Update every 2 s and a health check (Heartbeat
// through the real client, 5 s deadline) on every instance every 2 s: no Update
// fails, no instance is pruned, replaced or deleted, no Heartbeat of a healthy
// instance fails, one listing of the group hangs at a time (not one per Update), and the first
// good Update (one that shows a server made during the hang by another process
// of the group) comes within recoveryBound of Nova answering again.
func TestNovaListHangsTwoMinutes(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	admin := NewAdmin(t, e)
	group := e.Group(t, "hang")
	faults := StartFaultProxy(t, e)
	cfg := e.GroupConfig(group, Config{"cloud": faults.Cloud, "clouds_config": faults.CloudsYAML})
	p := StartPlugin(t, e, cfg)
	prov, rec, tap := p.Init(t, fleeting.WithUpdateInterval(2*time.Second))

	prov.Request(3)
	WaitFor(t, "3 instances running", 2*time.Minute, func() bool {
		return len(InState(prov, provider.StateRunning)) == 3
	})
	healthy := IDs(prov)
	stop := make(chan struct{})
	calls, hbErrs, hbDone := HeartbeatLoop(p.Group, healthy, 2*time.Second, 5*time.Second, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()
	before := len(tap.Updates())
	_ = faults.Stats(t, "nova")

	faults.Add(t, "nova", "hang", "GET", "/servers") // the server list and every server by id
	hung := time.Now()
	// Another process of the same group (on the cloud directly) makes a server during
	// the hang: only a good refresh can show it, which marks the first good Update.
	other := StartPlugin(t, e, e.GroupConfig(group, nil))
	if _, err := other.Group.Init(context.Background(), nil, DefaultSettings()); err != nil {
		t.Fatalf("second plugin Init: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	n, err := other.Group.Increase(ctx, 1)
	cancel()
	if n != 1 || err != nil {
		t.Fatalf("second plugin Increase(1) = %d, %v", n, err)
	}
	var marker string
	for _, id := range admin.GroupIDs(t, group) {
		if !contains(healthy, id) {
			marker = id
		}
	}
	if marker == "" {
		t.Fatal("the marker server is not in Nova")
	}
	// Built by a compute host before Nova answers again (only then can changes-since list it).
	admin.WaitStatus(t, marker, "ACTIVE", hangFor-time.Since(hung)-5*time.Second)
	time.Sleep(hangFor - time.Since(hung))
	during := tap.Updates()[before:]
	stats := faults.Stats(t, "nova")
	answered := faults.Clear(t)

	good := WaitFor(t, "an Update that lists the server made during the hang", time.Minute, func() bool {
		for _, u := range tap.Updates() {
			if u.Start.After(answered) || u.End.After(answered) {
				if _, ok := u.States[marker]; ok && u.Err == nil {
					return true
				}
			}
		}
		return false
	})
	var firstGood time.Duration
	for _, u := range tap.Updates() {
		if _, ok := u.States[marker]; ok && u.Err == nil && u.End.After(answered) {
			firstGood = u.End.Sub(answered)
			break
		}
	}
	time.Sleep(6 * time.Second) // a few more health checks after the hang
	close(stop)
	<-hbDone

	// What the runner saw during the hang.
	var slowest time.Duration
	var failed []string
	var waited []time.Duration
	for _, u := range during {
		if u.Err != nil {
			failed = append(failed, u.Err.Error())
		}
		took := u.End.Sub(u.Start)
		if took > time.Second {
			waited = append(waited, took.Round(time.Millisecond))
		} else if took > slowest {
			slowest = took
		}
		for _, id := range healthy {
			if u.Err == nil && u.States[id] != provider.StateRunning {
				t.Errorf("Update at %s listed %s as %q, want running", u.Start.Format("15:04:05"), id, u.States[id])
			}
		}
	}
	var replaced []string
	for _, id := range healthy {
		for _, ev := range rec.Of(id) {
			if ev.State != provider.StateRunning && ev.State != provider.StateCreating {
				replaced = append(replaced, fmt.Sprintf("%s %s", id, ev.State))
			}
		}
		if Instance(prov, id) == nil {
			replaced = append(replaced, id+" gone from the Provisioner")
		}
	}
	for _, d := range tap.Decreases() {
		replaced = append(replaced, fmt.Sprintf("Decrease(%v)", d.IDs))
	}
	if tap.Increased() != 3 {
		replaced = append(replaced, fmt.Sprintf("Increase answered %d in total, want 3", tap.Increased()))
	}
	inNova := admin.GroupIDs(t, group)
	for _, id := range healthy {
		if !contains(inNova, id) {
			replaced = append(replaced, id+" gone from Nova")
		}
	}
	hbErrors := 0
	for _, list := range hbErrs {
		hbErrors += len(list)
	}
	t.Logf("RECOVERY hang=%.0fs updates_during=%d update_errors=%d slowest_update=%dms "+
		"updates_over_1s=%v nova_list_requests=%d hung_requests=%d max_nova_in_flight=%d heartbeats=%d "+
		"heartbeat_errors=%d instances_replaced_or_deleted=%d timeouts=%d first_good_update_after_answer=%.2fs (seen %.1fs)",
		answered.Sub(hung).Seconds(), len(during), len(failed), slowest.Milliseconds(),
		waited, stats.Paths["GET /v2.1/servers/detail"], stats.Faults["hang"], stats.MaxInFlight,
		*calls, hbErrors, len(replaced), len(rec.Timeouts()), firstGood.Seconds(), good.Seconds())

	if len(during) < int(hangFor/(3*time.Second)) {
		t.Errorf("only %d Updates during a %s hang: the Provisioner's loop was held up", len(during), hangFor)
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d Updates failed during the hang: %v", len(failed), len(during), failed)
	}
	// Only the Update that started the refresh which met the hang waits for it (3 s,
	// groupview.UPDATE_WAIT); every other answers at once with the last known states.
	if len(waited) > 1 || (len(waited) == 1 && waited[0] > 4*time.Second) {
		t.Errorf("Updates during the hang that did not answer at once: %v", waited)
	}
	if hbErrors > 0 {
		t.Errorf("%d Heartbeat errors for healthy instances: %v", hbErrors, hbErrs)
	}
	if len(replaced) > 0 {
		t.Errorf("instances replaced or deleted: %v", replaced)
	}
	if to := rec.Timeouts(); len(to) > 0 {
		t.Errorf("instances pruned as timed out: %v", to)
	}
	// One listing of the group in flight: a new one only after the last one gave up (the
	// plugin's 60 s read timeout, api_timeout's default), not one per Update. The proxy keeps
	// holding a request the plugin abandoned, so it may see that one beside the live one.
	if most := 1 + int(hangFor/(60*time.Second)); stats.Faults["hang"] > most || stats.MaxInFlight > 2 {
		t.Errorf("%d listings hung (at most %d) and %d requests held at once (at most 2) for %d Updates: they piled up",
			stats.Faults["hang"], most, stats.MaxInFlight, len(during))
	}
	if stats.Faults["hang"] == 0 {
		t.Errorf("the hang was never injected: %+v", stats)
	}
	if firstGood == 0 || firstGood > recoveryBound {
		t.Errorf("first good Update %.2fs after Nova answered again, want ≤ %s", firstGood.Seconds(), recoveryBound)
	}

	// Scale to 0: the marker too (the Provisioner took it as an unexpected instance).
	for _, inst := range prov.Instances() {
		inst.Delete()
	}
	WaitFor(t, "every instance deleted", 2*time.Minute, func() bool { return len(prov.Instances()) == 0 })
	admin.WaitGroupGone(t, group, 2*time.Minute)
}

func contains(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	if i < len(list) && list[i] == s {
		return true
	}
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
