//go:build provisioner

package provisioner

import (
	"context"
	"encoding/json"
	"fmt"
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
	ID, CloudsYAML, Cloud string
}

func newQuotaProject(t *testing.T, e *Env, a *Admin, quota map[string]int) *quotaProject {
	t.Helper()
	name := "prov-quota-" + e.RunID
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
	q := &quotaProject{ID: proj.Project.ID, Cloud: name}
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
	userID := a.keystoneID(t, "/users?name="+e.Admin.Username, "users")
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
	q := newQuotaProject(t, e, admin, map[string]int{"instances": 2})
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
