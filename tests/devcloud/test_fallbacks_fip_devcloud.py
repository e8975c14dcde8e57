"""Flavor and availability-zone fallback lists, and per-instance floating IPs,
against the real devcloud (its ``public`` pool), through the fault proxy so
request counts can be asserted."""

from __future__ import annotations


import pytest

from fleeting_openstack.contract.instancegroup import State

from devcloud.lifecycle import start  # noqa: E402
from faultkit import faulty, fcfg  # noqa: E402,F401 - fixtures
from faultkit import (FAST, assert_no_duplicates, assert_no_leaks, empty, log_messages, running,  # noqa: E402
                      updates_until)


pytestmark = pytest.mark.usefixtures("cleanup_group")



@pytest.fixture()
def odd_flavors(admin, group_name):
    """A flavor over the cores quota (Nova refuses it: 403) and one no host can take (VGPU: No valid host)."""
    cores = admin.compute.create_flavor(name=f"{group_name}-cores", ram=64, vcpus=500, disk=1)
    vgpu = admin.compute.create_flavor(name=f"{group_name}-vgpu", ram=64, vcpus=1, disk=1)
    admin.compute.create_flavor_extra_specs(vgpu, {"resources:VGPU": "1"})
    yield cores, vgpu
    admin.compute.delete_flavor(cores)
    admin.compute.delete_flavor(vgpu)


def test_flavor_fallbacks_on_quota_and_no_valid_host(fcfg, faulty, admin, group_name, odd_flavors, devcloud,
                                                    plugin_logs):
    cores, vgpu = odd_flavors
    provider = start(fcfg(server_spec={"flavorRef": cores.id}, flavor_fallbacks=[vgpu.name, "m1.tiny"]))
    # 1st choice: Nova refuses (quota, nothing made) -> the 2nd choice, in the same Increase.
    assert provider.increase(1) == 1
    posts = faulty.nova.requests("POST", r"/servers$")
    assert [p.status for p in posts] == [403, 202]
    # 2nd choice: the server goes to ERROR (No valid host); the plugin deletes it and moves on.
    n, _ = updates_until(provider, lambda st: set(st.values()) <= {State.DELETING, State.DELETED} and st, 60)
    updates_until(provider, empty, 60)
    assert provider.increase(1) == 1  # 3rd choice, m1.tiny
    _, states = updates_until(provider, running(1), 60)
    (sid,) = states
    assert admin.compute.get_server(sid).flavor["original_name"] == "m1.tiny"
    fell_back = [m for m in log_messages(plugin_logs, "warn") if m.startswith("create fell back")]
    assert len(fell_back) == 2 and "Quota exceeded" in fell_back[0] and "valid host" in fell_back[1].lower()
    assert len(assert_no_duplicates(admin, group_name)) == 1
    provider.decrease([sid])
    updates_until(provider, empty, 60)
    assert_no_leaks(admin, group_name, {sid})


def test_availability_zone_fallback(fcfg, faulty, admin, group_name, plugin_logs):
    provider = start(fcfg(server_spec={"availability_zone": "no-such-zone"}, availability_zone_fallbacks=["nova"]))
    assert provider.increase(1) == 1
    assert [p.status for p in faulty.nova.requests("POST", r"/servers$")] == [400, 202]
    _, states = updates_until(provider, running(1), 60)
    (sid,) = states
    assert admin.compute.get_server(sid).availability_zone == "nova"
    assert any(m.startswith("create fell back") for m in log_messages(plugin_logs, "warn"))
    provider.decrease([sid])
    updates_until(provider, empty, 60)
    assert_no_leaks(admin, group_name, {sid})


def test_floating_ip_per_instance_released_with_the_server_and_after_a_crash(fcfg, faulty, admin, demo,
                                                                            group_name, devcloud):
    provider = start(fcfg(floating_ip_pool="public"))
    assert provider.increase(2) == 2
    _, states = updates_until(provider, running(2), 60)
    dict(provider.update())  # ACTIVE members get their floating IP
    fips = {f.floating_ip_address: f for f in admin.network.ips()
            if (f.description or "").startswith(f"fleeting:{group_name} ")}
    assert len(fips) == 2 and all(f.port_id for f in fips.values())
    externals = {provider.connect_info(i).external_addr for i in states}
    assert externals == set(fips)
    # A server deleted behind the plugin's back, and a floating IP a crashed plugin left for a
    # server that never joined the group: both released at the next start's first Update.
    victim = sorted(states)[0]
    demo.compute.delete_server(victim)
    demo.compute.wait_for_delete(demo.compute.get_server(victim), wait=60)
    public = devcloud["networks"]["public"]
    orphan = demo.network.create_ip(floating_network_id=public,
                                    description=f"fleeting:{group_name} server=00000000-0000-4000-8000-00000000dead")
    restarted = start(fcfg(floating_ip_pool="public"))
    _, states = updates_until(restarted, running(1), 10)
    left = [f for f in admin.network.ips() if (f.description or "").startswith(f"fleeting:{group_name} ")]
    assert [f.port_id is not None for f in left] == [True] and orphan.id not in {f.id for f in left}
    restarted.decrease(sorted(states))
    updates_until(restarted, empty, 60)
    assert_no_leaks(admin, group_name, set(states) | {victim})
