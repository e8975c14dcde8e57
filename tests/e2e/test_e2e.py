"""End to end against the devcloud with reachable instances (docs/e2e.md).

The Go tests in tests/conformance/e2e (build tag e2e) drive the installed
plugin executable with fleeting's own Go code (the module version
tests/conformance/go.mod pins):

* TestFleetingProvisioning: fleeting's integration.TestProvisioning (scale
  1 -> 3, down to 1, SSH into the instance with the ConnectInfo credentials,
  delete all) once per built-in strategy (cloud-init, ignition, flatcar,
  custom with the static Nova keypair) and once with UseExternalAddr over
  floating IPs (``floating_ip_pool``: an external network of this run);
* TestRestart and TestNeverReady (what TestProvisioning does not cover), and
  TestInitInfo (version and build_info at Init), through fleeting.RunPlugin.

The go test process and its children (the plugin) run in a cgroup of their
own whose outgoing traffic is rejected unless it leaves over loopback (the
devcloud's APIs) or a bridge of the test driver (its instances): fleeting's
TestProvisioning connects to whatever address the plugin answers, and this
confinement is what keeps that inside the devcloud.

Needs (fails, never skips, without them): root, Go, the devcloud with
nova-compute running the test driver

    DEVCLOUD_COMPUTE_DRIVER=fleeting_testdriver.TestDriver \\
    DEVCLOUD_EXTRA_PYTHONPATH=$PWD/tests/devcloud/testdriver tests/devcloud/start

and the Debian packages openssh-server, ignition, cloud-init, iptables.

Afterwards nothing may be left: no network namespace, link, sshd, mount, NAT
rule or state directory of the driver, and no server of the run.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from driver_suites import (
    DRIVER_STATE,
    HELPER,
    build_go_test,
    delete_run_servers,
    driver_problem,
    e2e_images,
    run_confined,
)
from driver_suites import IMAGES as E2E_IMAGES
from installed import plugin_executable
from project import CONFORMANCE

STATE = DRIVER_STATE
IGNITION = "/usr/lib/dracut/modules.d/30ignition/ignition"

# Images the E2E uses (public, created once by this test with the admin cloud).
IMAGES = {
    **E2E_IMAGES,
    "ubuntu-never-ready": ("e2e-ubuntu-never-ready", {"os_admin_user": "ubuntu", "os_distro": "ubuntu",
                                                      "fleeting_e2e_os": "ubuntu",
                                                      "fleeting_e2e_fault": "never-ready"}),
    "ubuntu-error": ("e2e-ubuntu-error", {"os_admin_user": "ubuntu", "os_distro": "ubuntu",
                                          "fleeting_e2e_os": "ubuntu", "fleeting_e2e_fault": "error"}),
}


def helper(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/python3", "-P", str(HELPER), *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def e2e_ready(devcloud) -> dict[str, Any]:
    """Every precondition, checked up front with a message saying what to do."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the E2E test must run as root (network namespaces, mounts, sshd)")
    if not shutil.which("go"):
        problems.append("Go is required")
    for path, pkg in (("/usr/sbin/sshd", "openssh-server"), (IGNITION, "ignition"),
                      ("/usr/bin/cloud-init", "cloud-init"), ("/usr/sbin/iptables", "iptables")):
        if not os.access(path, os.X_OK):
            problems.append(f"{path} is missing: apt-get install {pkg}")
    problem = driver_problem(devcloud, "the E2E")
    if problem:
        problems.append(problem)
    if problems:
        pytest.fail("E2E preconditions:\n  - " + "\n  - ".join(problems))
    return devcloud


@pytest.fixture(scope="module", autouse=True)
def no_orphans_before(e2e_ready, admin) -> None:
    """Start from nothing: remove instances an earlier, killed run left (their servers are gone)."""
    existing = [s.id for s in admin.compute.servers(all_projects=True)]
    gc = helper("gc", "--keep", *existing)
    assert gc.returncode == 0, gc.stderr


@pytest.fixture(scope="module")
def images(e2e_ready, admin) -> dict[str, str]:
    return e2e_images(admin, IMAGES)


def host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network this host has an address in or a route to (the default route aside)."""
    nets = []
    host = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True).stdout)
    for link in host:
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                nets.append(ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False))
    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"], capture_output=True,
                                       text=True, check=True).stdout)
    for r in routes:
        dst = r.get("dst", "default")
        if dst != "default" and not r.get("dev", "").startswith("fe2e-"):
            try:
                nets.append(ipaddress.IPv4Network(dst if "/" in dst else dst + "/32", strict=False))
            except ValueError:
                pass
    return nets


def pick_fip_cidr(admin) -> str:
    """A /28 of TEST-NET-2 that neither this host nor the devcloud uses."""
    used = host_networks()
    for s in admin.network.subnets():
        try:
            used.append(ipaddress.ip_network(s.cidr))
        except ValueError:
            pass
    for candidate in ipaddress.IPv4Network("198.51.100.0/24").subnets(new_prefix=28):
        if not any(candidate.overlaps(u) for u in used if u.version == 4):
            return str(candidate)
    raise AssertionError("no free /28 in 198.51.100.0/24 for the floating IPs")


@pytest.fixture(scope="module")
def fip_pool(e2e_ready, admin) -> Iterator[dict[str, str]]:
    """An external network of this run (a /28 nothing else uses) routed to `workers` by a router of the
    demo project, for ``floating_ip_pool``: the floating IPs Neutron hands out can only be addresses of
    that /28 (the devcloud's `public` subnet is this host's own LAN)."""
    fx = e2e_ready
    demo_project = fx["project"]["id"]
    tag = uuid.uuid4().hex[:8]
    network = subnet = router = port = None
    try:
        network = admin.network.create_network(name=f"e2e-fip-{tag}", is_router_external=True)
        cidr = pick_fip_cidr(admin)
        subnet = admin.network.create_subnet(network_id=network.id, name=f"e2e-fip-{tag}", ip_version=4,
                                             cidr=cidr, enable_dhcp=False)
        router = admin.network.create_router(name=f"e2e-fip-{tag}", project_id=demo_project,
                                             external_gateway_info={"network_id": network.id})
        port = admin.network.create_port(network_id=fx["networks"]["workers"], project_id=demo_project,
                                         name=f"e2e-fip-router-{tag}")
        admin.network.add_interface_to_router(router, port=port.id)
        yield {"pool": network.id, "cidr": cidr}
    finally:
        if network is not None:
            for ip in admin.network.ips(floating_network_id=network.id):
                admin.network.delete_ip(ip, ignore_missing=True)
        if router is not None:
            if port is not None:
                try:
                    admin.network.remove_interface_from_router(router, port=port.id)
                except Exception:  # noqa: BLE001 - cleanup goes on
                    pass
            admin.network.delete_router(router, ignore_missing=True)
        if port is not None:
            admin.network.delete_port(port, ignore_missing=True)
        if subnet is not None:
            admin.network.delete_subnet(subnet, ignore_missing=True)
        if network is not None:
            admin.network.delete_network(network, ignore_missing=True)


def go_events(output: str) -> dict[str, dict[str, Any]]:
    """`go test -json` output -> test name -> {"action": pass/fail/skip, "output": text, "elapsed": s}."""
    tests: dict[str, dict[str, Any]] = {}
    for line in output.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        name = ev.get("Test")
        if not name:
            continue
        t = tests.setdefault(name, {"action": None, "output": "", "elapsed": 0.0})
        if ev.get("Action") == "output":
            t["output"] += ev.get("Output", "")
        elif ev.get("Action") in ("pass", "fail", "skip"):
            t["action"] = ev["Action"]
            t["elapsed"] = ev.get("Elapsed", 0.0)
    return tests


FLEETING_CASES = ("cloud-init", "ignition", "flatcar", "custom-static", "cloud-init-external")
HAND_WRITTEN = ("TestRestart", "TestNeverReady", "TestInitInfo")


def test_provisioning_end_to_end(e2e_ready, admin, images, fip_pool, tmp_path) -> None:
    fx = e2e_ready
    run_id = uuid.uuid4().hex[:8]
    config = {
        "clouds_yaml": fx["clouds_yaml"],
        "cloud": "devcloud-appcred",
        "images": images,
        "flavor": fx["flavors"]["m1.tiny"],
        "network": fx["networks"]["workers"],
        "security_group": fx["security_group"]["name"],
        "keypair": {"name": fx["keypair"]["name"], "private_key": fx["keypair"]["private_key"]},
        "fip": fip_pool,
        "helper": str(HELPER),
        "state_dir": str(STATE),
        "tmp_dir": str(tmp_path),
        "run_id": run_id,
    }
    (tmp_path / "e2e.json").write_text(json.dumps(config, indent=1))
    env = dict(os.environ, FLEETING_PLUGIN_BIN=plugin_executable(), FLEETING_E2E_CONFIG=str(tmp_path / "e2e.json"))
    go = shutil.which("go")
    # Compile first, outside the confinement (the module proxy is not loopback).
    build_go_test("e2e", tmp_path / "e2e.test", env)
    workers_cidr = ipaddress.ip_network(admin.network.get_subnet(fx["subnets"]["workers-subnet"]).cidr)
    started = time.monotonic()
    try:
        # The confinement is checked first: from inside, an address off the driver's bridges is
        # refused at once (tests/support/confinement.py).
        proc = run_confined(f"fleeting-e2e-{run_id}",
                            [str(tmp_path / "e2e.test"), "-test.count=1", "-test.v=test2json",
                             "-test.parallel=8", "-test.timeout=25m"],
                            cwd=CONFORMANCE / "e2e", env=env, timeout=1700, chain=f"FE2E-{run_id}")
    finally:
        leftovers = delete_run_servers(admin, lambda name: run_id in name)
    elapsed = time.monotonic() - started
    converted = subprocess.run([go, "tool", "test2json", "-t"], input=proc.stdout, capture_output=True, text=True)
    (tmp_path / "go-test.log").write_text(proc.stdout + proc.stderr)
    tests = go_events(converted.stdout)
    print(f"\nE2E go test: {elapsed:.1f}s (full output: {tmp_path / 'go-test.log'})")
    for name, t in sorted(tests.items()):
        print(f"  {t['action']}: {name} ({t['elapsed']:.1f}s)")
    assert proc.returncode == 0, proc.stdout[-12000:] + proc.stderr[-3000:]
    assert not [n for n, t in tests.items() if t["action"] == "skip"], "a test skipped"
    for case in FLEETING_CASES:
        name = f"TestFleetingProvisioning/{case}"
        assert tests.get(name, {}).get("action") == "pass", f"{name} did not pass"
        # fleeting's TestProvisioning logs where it connects: the instance's address on `workers`, or
        # with UseExternalAddr a floating IP of this run's pool.
        want = ipaddress.ip_network(fip_pool["cidr"]) if case.endswith("external") else workers_cidr
        # (its attempts are subtests attempt-N: provisioning_test.go repeats a run that found nothing running)
        output = "".join(t["output"] for n, t in tests.items() if n == name or n.startswith(name + "/attempt-"))
        addrs = [line.rsplit(",", 1)[-1].strip() for line in output.splitlines() if "connecting: " in line]
        assert addrs, f"{name}: TestProvisioning connected to no instance:\n{output[-3000:]}"
        for addr in addrs:
            assert ipaddress.ip_address(addr) in want, f"{name}: connected to {addr}, not in {want}"
    for name in HAND_WRITTEN:
        assert tests.get(name, {}).get("action") == "pass", f"{name} did not pass"
    assert not leftovers, f"servers of the run left behind: {[s.name for s in leftovers]}"


def test_fault_error_image_and_plain_images(e2e_ready, demo, images) -> None:
    """fleeting_e2e_fault=error: ERROR at spawn, nothing set up; a non-E2E image stays a FakeDriver server."""
    fx = e2e_ready
    name = f"e2e-faults-{uuid.uuid4().hex[:8]}"
    common = {"flavor_id": fx["flavors"]["m1.tiny"], "networks": [{"uuid": fx["networks"]["workers"]}]}
    bad = demo.compute.create_server(name=name + "-error", image_id=images["ubuntu-error"], **common)
    plain = demo.compute.create_server(name=name + "-plain", image_id=fx["images"]["tiny-raw"], **common)
    try:
        bad = demo.compute.wait_for_server(bad, status="ERROR", failures=["ACTIVE"], wait=120)
        assert "fleeting_e2e_fault=error" in (bad.fault or {}).get("message", ""), bad.fault
        plain = demo.compute.wait_for_server(plain, wait=120)
        assert demo.compute.get_server_console_output(plain)["output"].startswith("FAKE CONSOLE OUTPUT")
        for server in (bad, plain):
            assert not Path("/run/netns", f"fleeting-e2e-{server.id}").exists()
            assert not (STATE / server.id).exists()
    finally:
        for server in (bad, plain):
            demo.compute.delete_server(server.id, ignore_missing=True)
        for server in (bad, plain):
            demo.compute.wait_for_delete(server, wait=120)


def test_route_check_refuses_addresses_it_did_not_create(e2e_ready) -> None:
    """The guard the Go test runs before every connection (it connects to nothing here)."""
    gateway = json.loads(subprocess.run(["ip", "-j", "route", "show", "default"], capture_output=True,
                                        text=True, check=True).stdout)
    for addr in ["127.0.0.1", "10.1.0.77", *(r["gateway"] for r in gateway if "gateway" in r)]:
        check = helper("route-check", addr)
        assert check.returncode == 1 and "not an address of an E2E instance" in check.stderr, (addr, check)


def test_nothing_left_behind(e2e_ready, admin) -> None:
    """Runs last: no namespace, link, sshd, mount, NAT rule or state dir of the
    driver remains, except those of servers that exist (another run's)."""
    for attempt in range(4):
        existing = [s.id for s in admin.compute.servers(all_projects=True)]
        check = helper("check-clean", "--allow", *existing)
        if check.returncode == 0:
            return
        time.sleep(3)  # a server being deleted right now: its instance goes first
    gc = helper("gc", "--keep", *existing)
    pytest.fail(f"the E2E left behind:\n{check.stdout}{check.stderr}(removed now: {gc.stdout.strip()})")
