"""The fault suite: a fault-injecting proxy (tests/support/faultproxy.py) in
front of the real devcloud's Keystone, Nova, Neutron and Glance. Every
scenario ends with 0 duplicates and 0 leaks, and states a recovery bound
(in Update calls) after the fault clears. Issue 11's "before" figures are
in docs/troubleshooting.md#fault-suite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fleeting_openstack.contract.instancegroup import PartialError, Settings, State
from fleeting_openstack.config.identity import group_tag
from fleeting_openstack.provider.group import OpenStackProvider

from devcloud.lifecycle import start  # noqa: E402
from faultkit import faulty, fcfg  # noqa: E402,F401 - fixtures
from faultkit import (FAST, assert_no_duplicates, assert_no_leaks, empty, group_servers, log_messages,  # noqa: E402
                      running, settled, updates_until)

from faultproxy import FaultyCloud, when  # noqa: E402

pytestmark = pytest.mark.usefixtures("cleanup_group")
SERVERS = r"/servers/detail"



def test_reads_and_deletes_survive_5xx_429_resets_and_latency(fcfg, faulty, admin, group_name):
    provider = start(fcfg())
    assert provider.increase(3) == 3
    updates_until(provider, running(3), 60)
    nova = faulty.nova
    failures = 0
    faults = [dict(action="status", code=503, headers={"Retry-After": "1"}, times=2),
              dict(action="status", code=429, headers={"Retry-After": "1"}, times=2),
              dict(action="reset", times=2), dict(action="status", code=500, times=1),
              dict(action="status", code=502, times=1), dict(action="delay", seconds=1.0, times=1)]
    for fault in faults:
        settled(provider)
        provider.view.in_doubt()  # a full listing each time: the call the issue saw fail
        rule = nova.add(method="GET", path=SERVERS, **fault)
        try:
            states = dict(provider.update())
        except Exception:  # noqa: BLE001 - counted: must stay 0
            failures += 1
            continue
        assert rule.hits >= 1, "the fault was not injected"
        assert len(states) == 3 and set(states.values()) == {State.RUNNING}
        assert provider.view.last_kind == "full"
    assert failures == 0
    # Retry-After honoured: the retry after a 429/503 came no sooner than it said.
    records = nova.requests("GET", SERVERS)
    for before, after in zip(records, records[1:]):
        if before.fault == "status" and before.status in (429, 503):
            assert after.at - before.at >= 0.9
    # Deletes retried too: 503, reset and 502 on the first three DELETEs.
    ids = sorted(dict(provider.update()))
    nova.add("status", method="DELETE", code=503, headers={"Retry-After": "1"}, times=1)
    nova.add("reset", method="DELETE", times=1)
    nova.add("status", method="DELETE", code=502, times=1)
    assert sorted(provider.decrease(ids)) == ids
    assert len([r for r in nova.requests("DELETE") if r.fault]) == 3
    updates_until(provider, empty, 60)
    assert_no_leaks(admin, group_name, set(ids))


def test_update_reports_last_known_states_while_nova_is_down(fcfg, faulty, admin, group_name, plugin_logs):
    provider = start(fcfg(stale_states_limit="20s", retry_budget="2s"))
    assert provider.increase(2) == 2
    _, known = updates_until(provider, running(2), 60)
    down = faulty.nova.add("status", method="GET", code=503)  # every read fails, retries included
    for _ in range(2):
        assert dict(provider.update()) == known  # never an error while within stale_states_limit
    assert provider.view.last_kind == "stale"
    assert any(m.startswith("could not refresh the group") for m in log_messages(plugin_logs, "warn"))
    down.cleared.set()
    n, states = updates_until(provider, running(2), 3)  # recovery bound: the first Update after the fault
    assert n == 1 and provider.view.last_kind == "full"
    # Beyond stale_states_limit Update says so instead of reporting ever older states.
    faulty.nova.add("reset", method="GET")
    provider.view._last_good -= 30
    with pytest.raises(RuntimeError, match="could not be listed .*stale_states_limit"):
        provider.update()
    faulty.clear()
    updates_until(provider, running(2), 3)
    provider.decrease(sorted(states))
    updates_until(provider, empty, 60)
    assert_no_leaks(admin, group_name, set(states))


@pytest.mark.parametrize("fault", ["status_after", "reset_after", "timeout_after"])
def test_lost_create_answers_are_reconciled_not_counted_as_failures(fcfg, faulty, admin, group_name, fault):
    provider = start(fcfg(create_concurrency=1, api_timeout="4s"))
    if fault == "timeout_after":  # the create reaches Nova, the answer comes after api_timeout
        _install_slow_answer(faulty.nova, seconds=6.0, times=2)
    else:
        faulty.nova.add(fault, method="POST", path=r"/servers$", code=500, times=2)
    assert provider.increase(3) == 3  # all made, all counted as made
    when(lambda: len([p for p in faulty.nova.requests("POST", r"/servers$") if p.fault != "slow"]) >= 3, 10)
    posts = faulty.nova.requests("POST", r"/servers$")
    assert len([p for p in posts if p.fault != "slow"]) == 3  # never re-sent
    assert len([p for p in posts if p.fault in (fault, "slow")]) == 2
    servers = assert_no_duplicates(admin, group_name)
    assert len(servers) == 3
    _, states = updates_until(provider, running(3), 60)
    provider.decrease(sorted(states))
    updates_until(provider, empty, 60)
    assert_no_leaks(admin, group_name, set(states))


def _install_slow_answer(proxy, seconds: float, times: int) -> None:
    """Forward the create, then hold the answer past api_timeout (the client gives up)."""
    original = proxy._forward
    count = {"n": 0}

    def slow(method, path, headers, body):
        answer = original(method, path, headers, body)
        if method == "POST" and path.endswith("/servers") and count["n"] < times:
            count["n"] += 1
            with proxy.lock:
                proxy.records.append(__import__("faultproxy").Record(method, path, None, 0, time.time(), "slow"))
            time.sleep(seconds)
        return answer

    proxy._forward = slow


def test_keystone_down_and_token_expiry(fcfg, faulty, admin, group_name):
    provider = start(fcfg(retry_budget="3s"))
    assert provider.increase(1) == 1
    _, known = updates_until(provider, running(1), 60)
    tokens_before = len(faulty.keystone.requests("POST", "/auth/tokens"))
    # The token "expires": Nova answers 401 once; Keystone is down meanwhile.
    faulty.nova.add("status", code=401, times=1)
    keystone_down = faulty.keystone.add("reset")
    settled(provider)
    provider.view.in_doubt()
    assert dict(provider.update()) == known  # last known states, not an error
    assert provider.view.last_kind == "stale"
    keystone_down.cleared.set()
    n, _ = updates_until(provider, running(1), 3)  # recovery bound: 1 Update after Keystone is back
    assert n == 1
    assert len(faulty.keystone.requests("POST", "/auth/tokens")) > tokens_before  # re-authenticated
    assert provider.increase(1) == 1
    _, states = updates_until(provider, running(2), 60)
    provider.decrease(sorted(states))
    updates_until(provider, empty, 60)
    assert_no_leaks(admin, group_name, set(states))


def test_creates_back_off_and_increase_is_capped(fcfg, faulty, admin, group_name, plugin_logs):
    provider = start(fcfg(max_size=3, create_concurrency=1))
    faulty.nova.add("status", method="POST", path=r"/servers$", code=500)  # Nova refuses every create
    with pytest.raises(PartialError) as err:
        provider.increase(3)
    assert err.value.done == 0 and "HTTP 500" in str(err.value)
    with pytest.raises(PartialError, match="creates paused") as err:
        provider.increase(3)  # refused at once: no request reaches Nova
    assert len(faulty.nova.requests("POST", r"/servers$")) == 3
    assert log_messages(plugin_logs).count(
        next(m for m in log_messages(plugin_logs) if m.startswith("creates paused"))) == 1  # once per episode
    faulty.clear()
    time.sleep(2.2)  # create_backoff 2s
    with pytest.raises(PartialError, match="max_size 3 reached") as err:
        provider.increase(5)  # capped by max_size: 3 made, 2 refused readably
    assert err.value.done == 3
    assert any(m.startswith("creates succeed again") for m in log_messages(plugin_logs))
    assert len(assert_no_duplicates(admin, group_name)) == 3
    _, states = updates_until(provider, running(3), 60)
    provider.decrease(sorted(states))
    updates_until(provider, empty, 60)
    assert_no_leaks(admin, group_name, set(states))


def test_lost_state_dir_servers_are_replaced_not_handed_wrong_keys(fcfg, faulty, admin, group_name,
                                                                  tmp_path, plugin_logs):
    provider = start(fcfg())
    assert provider.increase(1) == 1
    _, states = updates_until(provider, running(1), 60)
    (sid,) = states
    assert provider.connect_info(sid).connector.key
    lost = start(fcfg(credentials={"state_dir": str(tmp_path / "new-empty-state")}))
    with pytest.raises(RuntimeError, match="another master secret"):
        lost.connect_info(sid)
    assert dict(lost.update()) == {sid: State.DELETING}
    errors = [m for m in log_messages(plugin_logs, "error") if "another master secret" in m]
    assert errors and "Restore the original credentials.state_dir" in errors[0]
    updates_until(lost, empty, 60)
    assert_no_leaks(admin, group_name, {sid})


def test_image_gone_then_restart_keeps_the_group_manageable(fcfg, faulty, admin, group_name, devcloud):
    provider = start(fcfg())
    assert provider.increase(1) == 1
    _, states = updates_until(provider, running(1), 60)
    faulty.glance.add("status", code=404, path=devcloud["images"]["tiny-raw"])  # the image is deleted
    restarted = start(fcfg())  # Init succeeds: the group has servers
    assert dict(restarted.update()) == states
    with pytest.raises(PartialError, match="creates are disabled: server_spec.imageRef"):
        restarted.increase(1)
    assert restarted.decrease(sorted(states)) == sorted(states)
    updates_until(restarted, empty, 60)
    # A new group with a missing image is still refused at Init (a typo, not a rotation).
    with pytest.raises(ValueError, match="server_spec.imageRef"):
        start(fcfg())
    assert_no_leaks(admin, group_name, set(states))


def test_failed_init_keeps_the_previous_configuration(fcfg, faulty, group_name):
    provider = OpenStackProvider()
    provider.init(json.dumps(fcfg()).encode(), Settings())
    with pytest.raises(ValueError):
        provider.init(json.dumps(fcfg(name=group_name + "-other",
                                      server_spec={"flavorRef": "no-such-flavor"})).encode(), Settings())
    assert provider.cfg.name == group_name and provider.view.tag == group_tag(group_name)
    assert provider.increase(1) == 1
    updates_until(provider, running(1), 60)
    provider.decrease(sorted(dict(provider.update())))
    updates_until(provider, empty, 60)


def test_ids_are_checked_before_they_reach_a_url(fcfg, faulty):
    provider = start(fcfg())
    with pytest.raises(PartialError, match="not a valid OpenStack id"):
        provider.decrease(["../flavors/1"])
    assert not [r for r in faulty.nova.requests() if ".." in r.path or "flavors/1" in r.path and "servers" in r.path]
    with pytest.raises(ValueError, match="not a valid flavor id"):
        start(fcfg(server_spec={"flavorRef": "../flavors/1"}))
    assert not [r for r in faulty.nova.requests() if ".." in r.path]


def test_member_whose_tag_was_removed_is_still_found(fcfg, demo, admin, group_name):
    provider = start(fcfg())
    assert provider.increase(1) == 1
    _, states = updates_until(provider, running(1), 60)
    (sid,) = states
    demo.compute.remove_tag_from_server(demo.compute.get_server(sid), group_tag(group_name)) \
        if hasattr(demo.compute, "remove_tag_from_server") else \
        demo.compute.delete(f"/servers/{sid}/tags/{group_tag(group_name)}", microversion="2.26")
    settled(provider)
    provider.view.in_doubt()
    assert dict(provider.update()) == states  # found by its metadata, and tagged again
    restarted = start(fcfg())
    assert dict(restarted.update()) == states
    restarted.decrease([sid])
    updates_until(restarted, empty, 60)
    assert_no_leaks(admin, group_name, {sid})


def _spawn(cfg: dict, tmp_path: Path, name: str, n: int) -> subprocess.Popen:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return subprocess.Popen([sys.executable, str(Path(__file__).parents[1] / "support" / "run_provider.py"),
                             str(path), "increase", str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)


def test_two_processes_on_one_state_dir_make_no_duplicate_names(fcfg, admin, group_name, tmp_path):
    cfg = fcfg()
    procs = [_spawn(cfg, tmp_path, f"p{i}", 3) for i in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.splitlines()[-1]))
    assert sum(r["made"] for r in results) == 6, results
    servers = assert_no_duplicates(admin, group_name)
    assert len(servers) == 6
    provider = start(cfg)
    _, states = updates_until(provider, running(6), 90)
    provider.decrease(sorted(states))
    updates_until(provider, empty, 90)
    assert_no_leaks(admin, group_name, set(states))


def test_sigkill_mid_increase_then_restart(fcfg, faulty, admin, group_name, tmp_path):
    cfg = fcfg(create_concurrency=1)
    faulty.nova.add("delay", method="POST", path=r"/servers$", seconds=1.5)
    proc = _spawn(cfg, tmp_path, "killed", 6)
    assert proc.stdout.readline()  # Init done
    deadline = time.time() + 60
    while time.time() < deadline and len(faulty.nova.requests("POST", r"/servers$")) < 2:
        time.sleep(0.1)
    time.sleep(0.7)  # in the middle of the next create
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    # A create the proxy still holds reaches Nova anyway (as behind a load balancer): wait for it.
    assert when(lambda: faulty.nova.in_flight == 0, 60)
    faulty.clear()
    made = assert_no_duplicates(admin, group_name)
    assert 1 <= len(made) < 6
    restarted = start(cfg)  # the same state dir
    n = len(made)
    _, states = updates_until(restarted, running(n), 60)
    assert set(states) == {s.id for s in made}  # every server of the killed process is in the group
    assert restarted.increase(1) == 1  # the name index continues past the killed process's
    assert len(assert_no_duplicates(admin, group_name)) == n + 1
    _, states = updates_until(restarted, running(n + 1), 60)
    restarted.decrease(sorted(states))
    updates_until(restarted, empty, 60)
    assert_no_leaks(admin, group_name, set(states))


from devcloud.test_provider_devcloud import tiny_quota_cloud  # noqa: E402,F401 - the fixture


def test_increase_of_10000_against_the_quota_sends_what_fits(tiny_quota_cloud, devcloud, plugin_config, admin,
                                                            group_name, tmp_path):
    faulty = FaultyCloud({**devcloud, "clouds_yaml": tiny_quota_cloud}, tmp_path, cloud="quota")
    try:
        cfg = plugin_config(cloud=faulty.cloud, clouds_config=str(faulty.clouds_yaml),
                            server_spec={"networks": [{"uuid": devcloud["networks"]["private"]}],
                                         "security_groups": ["default"], "scheduler_hints": {}}, **FAST)
        provider = start(cfg)
        with pytest.raises(PartialError, match=r"1 of 10000 servers requested; 9999 not: quota exceeded "
                                               r"\(checked before creating\): Nova quota instances") as err:
            provider.increase(10000)
        assert err.value.done == 1
        assert len(faulty.nova.requests("POST", r"/servers$")) == 1  # before: 10,000 creates in 98 s
        with pytest.raises(PartialError, match="0 of 5 servers requested.*[Qq]uota exceeded"):
            provider.increase(5)
        # Nova's usage figures may lag behind the create just made: then one create probes and gets 403.
        assert len(faulty.nova.requests("POST", r"/servers$")) <= 2
        _, states = updates_until(provider, running(1), 60)
        provider.decrease(sorted(states))
        updates_until(provider, empty, 60)
    finally:
        faulty.close()
