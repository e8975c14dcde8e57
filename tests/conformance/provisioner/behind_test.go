//go:build provisioner

package provisioner

import (
	"fmt"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// Servers deleted, stopped and put in ERROR behind the plugin's back (as the
// devcloud admin): the Provisioner sees each end as deleted (never pruned as
// timed out), the stopped and the ERROR one pass through deleting (the plugin
// deletes them: they can never serve the runner), their cause stays
// "requested", none is reported again afterwards (a re-report would come
// back as an "unexpected" instance), Nova ends without them, and the
// untouched instance is untouched.
func TestServersChangedBehindThePluginsBack(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	admin := NewAdmin(t, e)
	group := e.Group(t, "behind")
	p := StartPlugin(t, e, e.GroupConfig(group, nil))
	prov, rec, tap := p.Init(t, fleeting.WithUpdateInterval(2*time.Second))

	prov.Request(4)
	WaitFor(t, "4 instances running", 2*time.Minute, func() bool {
		return len(InState(prov, provider.StateRunning)) == 4
	})
	ids := IDs(prov)
	deleted, stopped, errored, kept := ids[0], ids[1], ids[2], ids[3]
	t.Logf("deleted=%s stopped=%s error=%s kept=%s", deleted, stopped, errored, kept)

	tampered := time.Now()
	admin.Delete(t, deleted)
	admin.Stop(t, stopped)
	admin.ResetState(t, errored, "error")
	// (the plugin sees SHUTOFF and ERROR at its next Update and deletes those servers at once:
	// its log below says it saw them)

	took := WaitFor(t, "the three changed servers gone from the Provisioner", 90*time.Second, func() bool {
		return Instance(prov, deleted) == nil && Instance(prov, stopped) == nil && Instance(prov, errored) == nil
	})
	t.Logf("all three gone from the Provisioner %.1fs after the changes", took.Seconds())

	// five more Update cycles: nothing of them may come back
	n := len(tap.Updates())
	WaitFor(t, "5 more Updates", time.Minute, func() bool { return len(tap.Updates()) >= n+5 })

	for _, id := range []string{deleted, stopped, errored} {
		evs := rec.Of(id)
		last := evs[len(evs)-1]
		if last.State != provider.StateDeleted {
			t.Errorf("instance %s ended %s, want deleted (events %s)", id, last.State, fmtEvents(evs))
		}
		for _, ev := range evs {
			if ev.Cause != fleeting.CauseRequested {
				t.Errorf("instance %s has cause %s, want requested (events %s)", id, ev.Cause, fmtEvents(evs))
				break
			}
		}
		// reported again after the plugin said deleted (or stopped listing it)?
		seenGone := false
		for _, u := range tap.Updates() {
			if u.Start.Before(tampered) {
				continue
			}
			state, listed := u.States[id]
			if seenGone && listed {
				t.Errorf("instance %s reported again (%s) after it was gone", id, state)
				break
			}
			if !listed || state == provider.StateDeleted {
				seenGone = true
			}
		}
		if admin.Server(t, id) != nil {
			WaitFor(t, "server "+id+" deleted from Nova", time.Minute, func() bool { return admin.Server(t, id) == nil })
		}
	}
	for _, id := range []string{stopped, errored} {
		if !hasState(rec.Of(id), provider.StateDeleting) {
			t.Errorf("instance %s (stopped or ERROR) was never reported deleting: %s", id, fmtEvents(rec.Of(id)))
		}
	}
	if p.Logs.Count(stopped, "SHUTOFF") == 0 || p.Logs.Count(errored, "ERROR") == 0 {
		t.Errorf("the plugin's log does not say why it deleted %s (SHUTOFF) and %s (ERROR)", stopped, errored)
	}
	if evs := rec.Of(kept); len(evs) != 2 || evs[1].State != provider.StateRunning {
		t.Errorf("the untouched instance changed: %s", fmtEvents(evs))
	}
	if to := rec.Timeouts(); len(to) > 0 {
		t.Errorf("instances pruned as timed out: %v", to)
	}
	if got := IDs(prov); fmt.Sprint(got) != fmt.Sprint([]string{kept}) {
		t.Errorf("the Provisioner has %v, want only %s", got, kept)
	}
	for _, inst := range prov.Instances() {
		inst.Delete()
	}
	WaitFor(t, "group empty", time.Minute, func() bool { return len(prov.Instances()) == 0 })
	admin.WaitGroupGone(t, group, time.Minute)
}

func hasState(evs []Event, state provider.State) bool {
	for _, ev := range evs {
		if ev.State == state {
			return true
		}
	}
	return false
}

func fmtEvents(evs []Event) string {
	out := ""
	for _, ev := range evs {
		out += fmt.Sprintf("[%s %s %s] ", ev.At.Format("15:04:05.000"), ev.State, ev.Cause)
	}
	return out
}
