//go:build provisioner

package provisioner

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// novaRequests counts the requests in the devcloud's nova-api request log
// (from byte offset on) whose line contains every one of words.
func novaRequests(t *testing.T, e *Env, offset int64, words ...string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(e.CloudsYAML), "log", "nova-api-wsgi.log"))
	if err != nil {
		t.Fatalf("nova-api log: %v", err)
	}
	if offset > int64(len(raw)) {
		t.Fatalf("the nova-api log shrank during the test (rotated?)")
	}
	n := 0
	for _, line := range strings.Split(string(raw[offset:]), "\n") {
		ok := strings.Contains(line, "nova.api.openstack.requestlog")
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			n++
		}
	}
	return n
}

func novaLogSize(t *testing.T, e *Env) int64 {
	st, err := os.Stat(filepath.Join(filepath.Dir(e.CloudsYAML), "log", "nova-api-wsgi.log"))
	if err != nil {
		t.Fatalf("nova-api log: %v", err)
	}
	return st.Size()
}

// 30 consecutive Updates at 2 s with resync_interval 10s (at least two full
// resyncs among the deltas, seen in Nova's own request log): every Update
// succeeds and lists every instance running, and the Provisioner never prunes
// (times out) an instance nor sees any state change.
func TestThirtyUpdatesAcrossFullResyncs(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	group := e.Group(t, "resync")
	p := StartPlugin(t, e, e.GroupConfig(group, Config{"resync_interval": "10s"}))
	prov, rec, tap := p.Init(t, fleeting.WithUpdateInterval(2*time.Second))
	prov.Request(3)
	WaitFor(t, "3 instances running", 2*time.Minute, func() bool { return len(InState(prov, provider.StateRunning)) == 3 })
	ids := IDs(prov)
	before := len(rec.Events())
	n0 := len(tap.Updates())
	offset := novaLogSize(t, e)
	WaitFor(t, "30 more Updates", 3*time.Minute, func() bool { return len(tap.Updates()) >= n0+30 })
	updates := tap.Updates()[n0 : n0+30]

	fulls := novaRequests(t, e, offset, "GET /v2.1/servers/detail?", "tags="+url.QueryEscape("fleeting:"+group))
	deltas := novaRequests(t, e, offset, "GET /v2.1/servers/detail?", "changes-since=", "resync", e.RunID)
	t.Logf("30 Updates in %.1fs: %d full resyncs and %d delta listings in Nova's log",
		updates[29].End.Sub(updates[0].Start).Seconds(), fulls, deltas)
	if fulls < 2 || deltas < 10 {
		t.Errorf("%d full resyncs and %d deltas during 30 Updates with resync_interval 10s, want both kinds", fulls, deltas)
	}
	for i, u := range updates {
		if u.Err != nil {
			t.Errorf("Update %d failed: %v", i, u.Err)
			continue
		}
		if len(u.States) != len(ids) {
			t.Errorf("Update %d listed %v, want %v", i, u.States, ids)
		}
		for _, id := range ids {
			if u.States[id] != provider.StateRunning {
				t.Errorf("Update %d: %s is %q, want running", i, id, u.States[id])
			}
		}
		if i > 0 {
			// consecutive cycles of the Provisioner at 2 s: the next Update starts 2 s after the
			// previous one started, or at once when that one took longer (a loaded cloud)
			gap := u.Start.Sub(updates[i-1].Start)
			took := updates[i-1].End.Sub(updates[i-1].Start)
			if gap > 2*time.Second+took+time.Second {
				t.Errorf("Update %d came %.1fs after the previous one, which took %.1fs", i, gap.Seconds(), took.Seconds())
			}
		}
	}
	var slowest time.Duration
	for _, u := range updates {
		if d := u.End.Sub(u.Start); d > slowest {
			slowest = d
		}
	}
	t.Logf("slowest Update %.2fs", slowest.Seconds())
	if evs := rec.Events()[before:]; len(evs) > 0 {
		t.Errorf("the Provisioner saw changes during the Updates: %s", fmtEvents(evs))
	}
	if to := rec.Timeouts(); len(to) > 0 {
		t.Errorf("instances pruned as timed out: %v", to)
	}
	for _, inst := range prov.Instances() {
		inst.Delete()
	}
	WaitFor(t, "group empty", time.Minute, func() bool { return len(prov.Instances()) == 0 })
	NewAdmin(t, e).WaitGroupGone(t, group, time.Minute)
}
