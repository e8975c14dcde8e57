//go:build provisioner

package provisioner

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// Suspend/Resume (issue 19) through fleeting's own Provisioner, per suspend_mode, on servers the
// test driver boots (cloud-init image: sshd runs in the instance and stops/starts with it):
//
//   - Init declares the suspend_resume capability;
//   - Provisioner.Suspend of every instance: each reaches suspended, Nova shows the mode's status
//     and the instance's sshd answers no more;
//   - the plugin killed and started again under a new Provisioner while suspended: the instances
//     come back suspended, none is deleted, none reported running;
//   - a Resume that Nova refuses for one server (an admin locked it): Provisioner.Resume answers
//     the others as succeeded with an error naming the locked one (fleeting's client reads the
//     partial answer from the status details), the others reach running, the locked one stays
//     suspended;
//   - once unlocked, ResumeAndWait brings it to running; SSH with every instance's ConnectInfo
//     answer works again (the same key; unshelve may move a server: the address is read again);
//   - the Provisioner's times: suspend->suspended, resume->running, and SSH after it, logged
//     (bench/suspend_resume.py prints the comparison with create->ready).
func TestSuspendResume(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ mode, status string }{
		{"stop", "SHUTOFF"},
		{"suspend", "SUSPENDED"},
		{"shelve", "SHELVED_OFFLOADED"},
	} {
		tc := tc
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			suspendResume(t, tc.mode, tc.status)
		})
	}
}

func suspendResume(t *testing.T, mode, parked string) {
	e := LoadEnv(t)
	admin := NewAdmin(t, e)
	group := e.Group(t, "susp"+mode)
	cfg := e.E2EGroupConfig(group, "cloud-init", Config{"suspend_mode": mode})
	p1 := StartPlugin(t, e, cfg)
	prov1, _, _ := p1.Init(t)
	if !prov1.HasCapability(provider.CapabilitySuspendResume) {
		t.Fatalf("suspend_mode %s: the plugin did not declare %s", mode, provider.CapabilitySuspendResume)
	}

	const n = 3
	prov1.Request(n)
	created := WaitFor(t, "the instances running", 5*time.Minute, func() bool {
		return len(InState(prov1, provider.StateRunning)) == n
	})
	ids := IDs(prov1)
	sshAll(t, e, prov1, ids)
	t.Logf("%s: create -> running %.1fs", mode, created.Seconds())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	succeeded, err := prov1.Suspend(ctx, ids)
	cancel()
	if err != nil || fmt.Sprint(sorted(succeeded)) != fmt.Sprint(ids) {
		t.Fatalf("Suspend(%v) = %v, %v", ids, succeeded, err)
	}
	took := WaitFor(t, "every instance suspended", 5*time.Minute, func() bool {
		return len(InState(prov1, provider.StateSuspended)) == n
	})
	t.Logf("%s: suspend -> suspended %.1fs", mode, took.Seconds())
	for _, id := range ids {
		if s := admin.Server(t, id); s == nil || s.Status != parked || s.Metadata["fleeting-suspend"] == "" {
			t.Fatalf("server %s after Suspend: %+v, want %s with the plugin's mark", id, s, parked)
		}
	}
	for _, id := range ids { // the instance's sshd no longer answers (no banner within 3 s)
		if banner(t, e, id) {
			t.Fatalf("server %s is %s but its sshd still answers", id, parked)
		}
	}

	// -- the plugin restarted while suspended -------------------------------------------------
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	prov1.Shutdown(ctx)
	cancel()
	p1.Runner.Kill()
	p2 := StartPlugin(t, e, cfg)
	prov2, rec2, _ := p2.Init(t, fleeting.WithUpdateInterval(2*time.Second))
	if got := IDs(prov2); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("after the restart the group is %v, want %v", got, ids)
	}
	time.Sleep(8 * time.Second) // a few Updates (every 2 s)
	if got := InState(prov2, provider.StateSuspended); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("after the restart suspended = %v, want %v; events %+v", got, ids, rec2.Events())
	}
	for _, ev := range rec2.Events() {
		if ev.State == provider.StateRunning || ev.State == provider.StateDeleting || ev.State == provider.StateTimeout {
			t.Fatalf("after the restart a suspended instance was reported %s: %+v", ev.State, ev)
		}
	}
	if got := admin.GroupIDs(t, group); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("Nova holds %v after the restart, want %v", got, ids)
	}

	// -- a resume Nova refuses for one server: a partial answer -------------------------------
	locked := ids[1]
	admin.Nova(t, "POST", "/servers/"+locked+"/action", map[string]any{"lock": nil}, 202)
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	resumedAt := time.Now()
	succeeded, err = prov2.Resume(ctx, ids)
	cancel()
	want := []string{ids[0], ids[2]}
	if err == nil || !strings.Contains(err.Error(), locked) || fmt.Sprint(sorted(succeeded)) != fmt.Sprint(want) {
		t.Fatalf("Resume with %s locked = %v, %v; want %v and an error naming it", locked, succeeded, err, want)
	}
	t.Logf("%s: the partial Resume: succeeded %v, error %q", mode, succeeded, err)
	WaitFor(t, "the others running", 5*time.Minute, func() bool {
		return fmt.Sprint(InState(prov2, provider.StateRunning)) == fmt.Sprint(want)
	})
	resumed := time.Since(resumedAt)
	if s := Instance(prov2, locked); s == nil || s.State() != provider.StateSuspended {
		t.Fatalf("the locked server is %v, want still suspended", s)
	}
	sshAll(t, e, prov2, want)
	t.Logf("%s: resume -> running %.1fs, and SSH %.1fs", mode, resumed.Seconds(), time.Since(resumedAt).Seconds())

	// -- unlocked: ResumeAndWait ------------------------------------------------------------------
	admin.Nova(t, "POST", "/servers/"+locked+"/action", map[string]any{"unlock": nil}, 202)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Minute)
	err = prov2.ResumeAndWait(ctx, []string{locked})
	cancel()
	if err != nil {
		t.Fatalf("ResumeAndWait(%s): %v", locked, err)
	}
	if got := InState(prov2, provider.StateRunning); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("running after ResumeAndWait: %v, want %v", got, ids)
	}
	sshAll(t, e, prov2, ids)
	for _, id := range ids {
		if s := admin.Server(t, id); s == nil || s.Status != "ACTIVE" || s.Metadata["fleeting-suspend"] != "" {
			t.Fatalf("server %s after its resume: %+v, want ACTIVE without the mark", id, s)
		}
	}
	for _, inst := range prov2.Instances() {
		inst.Delete()
	}
	WaitFor(t, "group empty", 3*time.Minute, func() bool { return len(prov2.Instances()) == 0 })
	admin.WaitGroupGone(t, group, 2*time.Minute)
}

func sorted(ids []string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}

// sshAll logs in to each instance with its ConnectInfo answer (the address read now) and
// checks the login user.
func sshAll(t *testing.T, e *Env, prov *fleeting.Provisioner, ids []string) {
	t.Helper()
	for _, id := range ids {
		inst := Instance(prov, id)
		if inst == nil {
			t.Fatalf("instance %s not in the Provisioner", id)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		info, err := inst.ConnectInfo(ctx)
		cancel()
		if err != nil {
			t.Fatalf("ConnectInfo(%s): %v", id, err)
		}
		if out := RunSSH(t, e, id, info.InternalAddr, info, "id -un"); strings.TrimSpace(out) != info.Username {
			t.Fatalf("ssh %s: id -un = %q, want %q", id, out, info.Username)
		}
	}
}

// banner: whether server id's sshd (at the fixed address the test driver gave it) sends its
// banner within 3 s.
func banner(t *testing.T, e *Env, id string) bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.DriverState, id, "state.json"))
	if err != nil {
		return false // shelved and offloaded: the instance (and its address) is gone
	}
	var state struct {
		Nics []struct {
			IP string `json:"ip"`
		} `json:"nics"`
	}
	if err := json.Unmarshal(raw, &state); err != nil || len(state.Nics) == 0 {
		t.Fatalf("the test driver's state of %s: %v", id, err)
	}
	addr := state.Nics[0].IP
	AssertOurs(t, e, id, addr) // the SSH safety checks before any connection
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "22"), 3*time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4)
	got, _ := conn.Read(buf)
	return got == 4 && string(buf) == "SSH-"
}
