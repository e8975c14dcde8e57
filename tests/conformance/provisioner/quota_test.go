//go:build provisioner

package provisioner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.com/gitlab-org/fleeting/fleeting"
	"gitlab.com/gitlab-org/fleeting/fleeting/provider"
)

// quotaProject is a project of its own for this test (the demo project is
// shared with every other test on the devcloud: its quota stays as it is),
// with the admin user as member, a clouds.yaml for the plugin, and the
// project's compute quota. Everything is deleted at the end of the test.
type quotaProject struct {
	ID, CloudsYAML, Cloud, UserID string
}

// Token is a token of the admin user scoped to the project (what the plugin gets).
func (q *quotaProject) Token(t *testing.T, e *Env) string {
	t.Helper()
	au := e.Admin
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"id": q.UserID, "password": au.Password}}},
		"scope": map[string]any{"project": map[string]any{"id": q.ID}},
	}}
	raw, _ := json.Marshal(body)
	resp, err := http.Post(strings.TrimRight(au.AuthURL, "/")+"/auth/tokens", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		data, _ := io.ReadAll(resp.Body)
		t.Fatalf("project token: %d %s", resp.StatusCode, data)
	}
	return resp.Header.Get("X-Subject-Token")
}

func newQuotaProject(t *testing.T, e *Env, a *Admin, suffix string, quota map[string]int) *quotaProject {
	t.Helper()
	name := "prov-" + suffix + "-" + e.RunID
	code, data := a.Do(t, "POST", a.ident, "/projects",
		map[string]any{"project": map[string]any{"name": name, "domain_id": "default", "description": "fleeting provisioner suite (quota); deleted by the test"}})
	if code != 201 {
		t.Fatalf("create project: %d %s", code, data)
	}
	var proj struct {
		Project struct {
			ID string `json:"id"`
		} `json:"project"`
	}
	_ = json.Unmarshal(data, &proj)
	q := &quotaProject{ID: proj.Project.ID, Cloud: name, UserID: a.keystoneID(t, "/users?name="+e.Admin.Username, "users")}
	t.Cleanup(func() {
		// servers first (the group's own cleanup has run: t.Cleanup is last-in first-out)
		a.Do(t, "DELETE", a.compute, "/os-quota-sets/"+q.ID, nil)
		if a.network != "" {
			_, sgs := a.Do(t, "GET", a.network, "/v2.0/security-groups?project_id="+q.ID, nil)
			var out struct {
				SecurityGroups []struct {
					ID string `json:"id"`
				} `json:"security_groups"`
			}
			_ = json.Unmarshal(sgs, &out)
			for _, sg := range out.SecurityGroups {
				a.Do(t, "DELETE", a.network, "/v2.0/security-groups/"+sg.ID, nil)
			}
		}
		if code, data := a.Do(t, "DELETE", a.ident, "/projects/"+q.ID, nil); code != 204 {
			t.Errorf("delete project %s: %d %s", q.ID, code, data)
		}
	})
	userID := q.UserID
	roleID := a.keystoneID(t, "/roles?name=member", "roles")
	if code, data := a.Do(t, "PUT", a.ident, fmt.Sprintf("/projects/%s/users/%s/roles/%s", q.ID, userID, roleID), nil); code != 204 {
		t.Fatalf("role assignment: %d %s", code, data)
	}
	a.SetComputeQuota(t, q.ID, quota)
	au := e.Admin
	clouds := fmt.Sprintf(`clouds:
  %s:
    auth:
      auth_url: %s
      username: %s
      password: %s
      project_id: %s
      user_domain_name: %s
    region_name: RegionOne
    identity_api_version: 3
    interface: public
`, name, au.AuthURL, au.Username, au.Password, q.ID, au.UserDomainName)
	q.CloudsYAML = filepath.Join(e.TmpDir, name+".yaml")
	if err := os.WriteFile(q.CloudsYAML, []byte(clouds), 0o600); err != nil {
		t.Fatal(err)
	}
	return q
}

func (a *Admin) keystoneID(t *testing.T, path, kind string) string {
	t.Helper()
	code, data := a.Do(t, "GET", a.ident, path, nil)
	var out map[string]json.RawMessage
	var items []struct {
		ID string `json:"id"`
	}
	if code != 200 || json.Unmarshal(data, &out) != nil || json.Unmarshal(out[kind], &items) != nil || len(items) != 1 {
		t.Fatalf("keystone GET %s: %d %s", path, code, data)
	}
	return items[0].ID
}

// Increase beyond a project quota (instances 2): the plugin creates what fits
// and answers the count it made with an OK status (fleeting's Go client
// drops the body of an error answer, so an error status would make the
// runner count 0 while servers exist); what the Provisioner counts is what
// Nova holds, in every cycle; raising the quota lets the waiting requests
// through, and the count still matches.
func TestIncreaseBeyondQuota(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	admin := NewAdmin(t, e)
	q := newQuotaProject(t, e, admin, "quota", map[string]int{"instances": 2})
	group := e.Group(t, "quota")
	cfg := e.GroupConfig(group, Config{
		"cloud": q.Cloud, "clouds_config": q.CloudsYAML, "max_size": 5,
		"server_spec": map[string]any{
			"networks":        []any{map[string]any{"uuid": e.SharedNetwork}},
			"security_groups": []any{"default"},
		},
	})
	p := StartPlugin(t, e, cfg)
	prov, rec, tap := p.Init(t, fleeting.WithMaxSize(5), fleeting.WithUpdateInterval(2*time.Second))

	prov.Request(4)
	WaitFor(t, "2 instances running", 2*time.Minute, func() bool { return len(InState(prov, provider.StateRunning)) == 2 })
	n := len(tap.Increases())
	WaitFor(t, "3 more Increases", time.Minute, func() bool { return len(tap.Increases()) >= n+3 })
	check := func(want int) {
		t.Helper()
		partial := 0
		for _, c := range tap.Increases() {
			// an error status loses the body: only an Increase that made nothing may answer one
			if c.Err != nil && c.Succeeded == 0 && strings.Contains(c.Err.Error(), "quota") {
				continue
			}
			if c.Err != nil {
				t.Errorf("Increase(%d) answered %d with an error status (the runner counts 0): %v", c.N, c.Succeeded, c.Err)
			}
			if c.Succeeded > 0 && c.Succeeded < c.N {
				partial++
			}
		}
		if partial == 0 {
			t.Errorf("no partial Increase (some made, some over the quota) among %+v", tap.Increases())
		}
		nova := admin.GroupIDs(t, group)
		counted := IDs(prov)
		if tap.Increased() != len(nova) || fmt.Sprint(counted) != fmt.Sprint(nova) || len(nova) != want {
			t.Fatalf("Increase answered %d in total (%+v), the Provisioner counts %v, Nova holds %v; want %d",
				tap.Increased(), tap.Increases(), counted, nova, want)
		}
	}
	check(2)
	if c := prov.Capacity(); c.Requested != 2 {
		t.Errorf("capacity %+v: want the 2 requests over the quota waiting", c)
	}
	if p.Logs.Count("quota") == 0 {
		t.Errorf("the plugin never said the quota held the Increase back")
	}
	// a direct Increase through fleeting's client at the quota: 0 made, the reason as the error
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if got, err := p.Group.Increase(ctx, 1); got != 0 || err == nil || !strings.Contains(err.Error(), "quota") {
		t.Errorf("Increase(1) at the quota = %d, %v; want 0 and an error naming the quota", got, err)
	}

	admin.SetComputeQuota(t, q.ID, map[string]int{"instances": 4})
	WaitFor(t, "4 instances running after the quota was raised", 2*time.Minute, func() bool {
		return len(InState(prov, provider.StateRunning)) == 4
	})
	check(4)
	if to := rec.Timeouts(); len(to) > 0 {
		t.Errorf("instances pruned as timed out: %v", to)
	}
	for _, inst := range prov.Instances() {
		inst.Delete()
	}
	WaitFor(t, "group empty", 2*time.Minute, func() bool { return len(prov.Instances()) == 0 })
	admin.WaitGroupGone(t, group, time.Minute)
}

// Increase beyond a quota the plugin's pre-check cannot see (server group
// members 2, in a project of its own; instances unlimited): Nova refuses the
// creates past the quota (403) — the plugin answers the count Nova accepted
// with an OK status, and what the Provisioner counts is what Nova holds.
func TestIncreaseRefusedByNova(t *testing.T) {
	t.Parallel()
	e := LoadEnv(t)
	admin := NewAdmin(t, e)
	q := newQuotaProject(t, e, admin, "sgquota", map[string]int{"server_group_members": 2})
	// the server group, made in the project (as its user)
	req, _ := http.NewRequest("POST", admin.compute+"/os-server-groups",
		strings.NewReader(`{"server_group": {"name": "prov-sg-`+e.RunID+`", "policies": ["affinity"]}}`))
	req.Header.Set("X-Auth-Token", q.Token(t, e))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var sg struct {
		ServerGroup struct {
			ID string `json:"id"`
		} `json:"server_group"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(data, &sg) != nil || sg.ServerGroup.ID == "" {
		t.Fatalf("create server group: %d %s", resp.StatusCode, data)
	}
	t.Cleanup(func() { admin.Do(t, "DELETE", admin.compute, "/os-server-groups/"+sg.ServerGroup.ID, nil) })

	group := e.Group(t, "sgquota")
	cfg := e.GroupConfig(group, Config{
		"cloud": q.Cloud, "clouds_config": q.CloudsYAML, "max_size": 5,
		"server_spec": map[string]any{
			"networks":        []any{map[string]any{"uuid": e.SharedNetwork}},
			"security_groups": []any{"default"},
			"scheduler_hints": map[string]any{"group": sg.ServerGroup.ID},
		},
	})
	p := StartPlugin(t, e, cfg)
	prov, rec, tap := p.Init(t, fleeting.WithMaxSize(5), fleeting.WithUpdateInterval(2*time.Second))
	prov.Request(4)
	WaitFor(t, "2 instances running", 2*time.Minute, func() bool { return len(InState(prov, provider.StateRunning)) == 2 })
	n := len(tap.Increases())
	WaitFor(t, "2 more Increases", time.Minute, func() bool { return len(tap.Increases()) >= n+2 })
	first := tap.Increases()[0]
	if first.N != 4 || first.Succeeded != 2 || first.Err != nil {
		t.Errorf("the first Increase answered %+v, want 2 of 4 with an OK status", first)
	}
	for _, c := range tap.Increases() {
		if c.Err != nil && c.Succeeded > 0 {
			t.Errorf("Increase(%d) answered %d with an error status (the runner counts 0): %v", c.N, c.Succeeded, c.Err)
		}
	}
	nova := admin.GroupIDs(t, group)
	if counted := IDs(prov); tap.Increased() != 2 || fmt.Sprint(counted) != fmt.Sprint(nova) {
		t.Fatalf("Increase answered %d in total (%+v), the Provisioner counts %v, Nova holds %v",
			tap.Increased(), tap.Increases(), counted, nova)
	}
	if p.Logs.Count("Increase partly done", "2 of 4") == 0 {
		t.Errorf("the plugin did not log why 2 of 4 were not made")
	}
	if to := rec.Timeouts(); len(to) > 0 {
		t.Errorf("instances pruned as timed out: %v", to)
	}
	// The 2 requests over the quota would take the place of deleted instances, and an
	// Increase the Provisioner sent just before its Shutdown may still create servers (its
	// POSTs are in Nova's hands): stop the Provisioner and the plugin, then clean up as admin.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	prov.Shutdown(ctx)
	cancel()
	p.Runner.Kill()
	time.Sleep(2 * time.Second)
	WaitFor(t, "group "+group+" gone from Nova", 2*time.Minute, func() bool {
		left := admin.GroupServers(t, group)
		for _, s := range left {
			if s.TaskState != "deleting" {
				admin.Delete(t, s.ID)
			}
		}
		return len(left) == 0
	})
}
