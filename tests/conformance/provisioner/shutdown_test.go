//go:build provisioner

package provisioner

import (
	"context"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// killAndTime is fleeting's Runner.Kill (go-plugin: Controller.Shutdown, wait
// up to 2 s for the process to exit, then SIGKILL); it returns how long the
// process took to be gone and fails when go-plugin had to force it.
func killAndTime(t *testing.T, p *Plugin) time.Duration {
	t.Helper()
	start := time.Now()
	p.Runner.Kill()
	for Alive(p.Pid) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("plugin %d still running %s after Kill", p.Pid, time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	if p.Logs.Count("plugin failed to exit gracefully") > 0 {
		t.Errorf("go-plugin had to SIGKILL the plugin: it did not exit within 2 s of Controller.Shutdown")
	}
	if took > 2*time.Second {
		t.Errorf("the plugin process was gone %.2fs after Kill, want within 2 s", took.Seconds())
	}
	if p.Logs.Count("plugin exited") == 0 {
		t.Errorf("go-plugin did not log a graceful exit")
	}
	return took
}

// Shutdown through go-plugin's controller (what the runner does when it
// stops: Provisioner.Shutdown, then Kill): the process is gone within 2 s by
// itself, with instances up, and also with an Increase in flight.
func TestShutdownThroughTheController(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	admin := NewAdmin(t, e)

	t.Run("idle", func(t *testing.T) {
		group := e.Group(t, "shutdown")
		p := StartPlugin(t, e, e.GroupConfig(group, nil))
		prov, _, _ := p.Init(t)
		prov.Request(1)
		WaitFor(t, "1 instance running", 2*time.Minute, func() bool { return len(InState(prov, provider.StateRunning)) == 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		prov.Shutdown(ctx) // the Shutdown RPC
		cancel()
		took := killAndTime(t, p)
		t.Logf("gone %dms after Kill", took.Milliseconds())
		for _, id := range admin.GroupIDs(t, group) { // the servers stay for the next runner: remove them here
			admin.Delete(t, id)
		}
		admin.WaitGroupGone(t, group, time.Minute)
	})

	t.Run("increase-in-flight", func(t *testing.T) {
		group := e.Group(t, "shutdown-busy")
		p := StartPlugin(t, e, e.GroupConfig(group, Config{"create_concurrency": 1}))
		_, _, tap := p.Init(t)
		inflight := make(chan struct{})
		go func() {
			close(inflight)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, _ = tap.Increase(ctx, 5)
		}()
		<-inflight
		WaitFor(t, "the first server of the Increase requested", time.Minute, func() bool {
			return p.Logs.Count("server requested") >= 1
		})
		if len(tap.Increases()) != 0 {
			t.Fatalf("the Increase was answered before the Kill: %+v", tap.Increases())
		}
		took := killAndTime(t, p)
		t.Logf("gone %dms after Kill with an Increase in flight", took.Milliseconds())
		time.Sleep(2 * time.Second)
		for _, id := range admin.GroupIDs(t, group) {
			admin.Delete(t, id)
		}
		admin.WaitGroupGone(t, group, time.Minute)
	})
}
