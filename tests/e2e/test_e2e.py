"""End to end against the devcloud with reachable instances (docs/e2e.md).

The Go test tests/conformance/e2e (build tag e2e) drives the installed
plugin executable through go-plugin's real client: Init, Increase, Update
until running, ConnectInfo, SSH into the instance with the returned
credentials and run `id -un`, Decrease to zero, Update until gone, Kill; for
the strategies cloud-init, ignition, flatcar and custom (static Nova keypair),
over the internal and the external (floating IP) address, across a plugin
restart, and for an image that never becomes ready.

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
from installed import plugin_executable

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "tests" / "conformance"
TESTDRIVER = ROOT / "tests" / "devcloud" / "testdriver"
HELPER = TESTDRIVER / "e2e_instance.py"
DRIVER = "fleeting_testdriver.TestDriver"
STATE = Path(os.environ.get("FLEETING_E2E_STATE", "/var/lib/fleeting-e2e"))
IGNITION = "/usr/lib/dracut/modules.d/30ignition/ignition"

# Images the E2E uses (public, created once by this test with the admin cloud).
IMAGES = {
    "ubuntu": ("e2e-ubuntu", {"os_admin_user": "ubuntu", "os_distro": "ubuntu", "fleeting_e2e_os": "ubuntu"}),
    "flatcar": ("e2e-flatcar", {"os_admin_user": "core", "os_distro": "flatcar", "fleeting_e2e_os": "flatcar"}),
    "ubuntu-never-ready": ("e2e-ubuntu-never-ready", {"os_admin_user": "ubuntu", "os_distro": "ubuntu",
                                                      "fleeting_e2e_os": "ubuntu",
                                                      "fleeting_e2e_fault": "never-ready"}),
    "ubuntu-error": ("e2e-ubuntu-error", {"os_admin_user": "ubuntu", "os_distro": "ubuntu",
                                          "fleeting_e2e_os": "ubuntu", "fleeting_e2e_fault": "error"}),
}


def helper(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/python3", "-P", str(HELPER), *args], capture_output=True, text=True)


def nova_compute_driver(state: Path) -> tuple[str, str]:
    """(compute_driver in nova-compute.conf, PYTHONPATH of the running nova-compute)."""
    conf = (state / "etc/nova/nova-compute.conf").read_text()
    driver = [line.split("=", 1)[1].strip() for line in conf.splitlines()
              if line.strip().startswith("compute_driver")][-1]
    pid = int((state / "run/nova-compute.pid").read_text().split()[0])
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pythonpath = next((e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"PYTHONPATH=")), "")
    return driver, pythonpath


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
    state = Path(devcloud["clouds_yaml"]).parent
    try:
        driver, pythonpath = nova_compute_driver(state)
    except (OSError, ValueError, IndexError, StopIteration) as exc:
        problems.append(f"cannot tell which virt driver nova-compute runs: {exc}")
    else:
        if driver != DRIVER or str(TESTDRIVER) not in pythonpath.split(":"):
            problems.append(
                f"nova-compute runs compute_driver={driver} with PYTHONPATH={pythonpath!r}; the E2E needs "
                f"the test driver: DEVCLOUD_COMPUTE_DRIVER={DRIVER} "
                f"DEVCLOUD_EXTRA_PYTHONPATH={TESTDRIVER} tests/devcloud/start")
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
    out = {}
    for key, (name, props) in IMAGES.items():
        image = admin.image.find_image(name)
        if image is None:
            image = admin.image.create_image(
                name=name, disk_format="raw", container_format="bare", visibility="public",
                data=b"\0" * 16384, os_type="linux", architecture="x86_64", fleeting_e2e="true", **props)
        out[key] = image.id
    return out


def pick_floating_address(admin, public_net: str, subnet_cidr: str) -> str:
    """A free address of the public subnet that is nothing on this host's real network."""
    used = {ip.floating_ip_address for ip in admin.network.ips()}
    for port in admin.network.ports(network_id=public_net):
        used |= {f["ip_address"] for f in port.fixed_ips}
    host = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True).stdout)
    used |= {a["local"] for link in host for a in link.get("addr_info", [])}
    routes = json.loads(subprocess.run(["ip", "-j", "route", "show", "table", "all"], capture_output=True,
                                       text=True, check=True).stdout)
    used |= {r["gateway"] for r in routes if "gateway" in r}
    neigh = json.loads(subprocess.run(["ip", "-j", "neigh"], capture_output=True, text=True, check=True).stdout)
    used |= {n["dst"] for n in neigh}
    net = ipaddress.IPv4Network(subnet_cidr)
    for candidate in reversed(list(net.hosts())[-60:]):
        if str(candidate) not in used:
            return str(candidate)
    raise AssertionError(f"no free floating IP address in {subnet_cidr}")


@pytest.fixture(scope="module")
def floating_port(e2e_ready, admin) -> Iterator[dict[str, str]]:
    """A demo-project port on `workers` with a floating IP (for use_external_addr)."""
    fx = e2e_ready
    demo_project = fx["project"]["id"]
    port = admin.network.create_port(
        network_id=fx["networks"]["workers"], project_id=demo_project, name=f"e2e-fip-{uuid.uuid4().hex[:8]}",
        security_group_ids=[fx["security_group"]["id"]])
    fip = None
    try:
        subnet = admin.network.get_subnet(fx["subnets"]["public-subnet"])
        address = pick_floating_address(admin, fx["networks"]["public"], subnet.cidr)
        fip = admin.network.create_ip(floating_network_id=fx["networks"]["public"], project_id=demo_project,
                                      floating_ip_address=address, port_id=port.id)
        yield {"port": port.id, "address": fip.floating_ip_address}
    finally:
        if fip is not None:
            admin.network.delete_ip(fip, ignore_missing=True)
        admin.network.delete_port(port, ignore_missing=True)


def run_servers(admin, run_id: str) -> list[Any]:
    return [s for s in admin.compute.servers(all_projects=True) if run_id in (s.name or "")]


def test_provisioning_end_to_end(e2e_ready, admin, images, floating_port, tmp_path) -> None:
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
        "fip": floating_port,
        "helper": str(HELPER),
        "state_dir": str(STATE),
        "tmp_dir": str(tmp_path),
        "run_id": run_id,
    }
    (tmp_path / "e2e.json").write_text(json.dumps(config, indent=1))
    env = dict(os.environ, FLEETING_PLUGIN_BIN=plugin_executable(), FLEETING_E2E_CONFIG=str(tmp_path / "e2e.json"))
    started = time.monotonic()
    try:
        proc = subprocess.run([shutil.which("go"), "test", "-count=1", "-v", "-tags", "e2e", "-parallel", "8", "-timeout", "20m",
                               "./e2e/..."], cwd=CONFORMANCE, env=env, capture_output=True, text=True,
                              timeout=1500)
    finally:
        leftovers = run_servers(admin, run_id)
        for server in leftovers:
            admin.compute.delete_server(server.id, ignore_missing=True)
        for server in leftovers:
            admin.compute.wait_for_delete(server, wait=120)
    elapsed = time.monotonic() - started
    (tmp_path / "go-test.log").write_text(proc.stdout + proc.stderr)
    print(f"\nE2E go test: {elapsed:.1f}s (full output: {tmp_path / 'go-test.log'})")
    print("\n".join(line for line in proc.stdout.splitlines() if line.lstrip().startswith(("---", "ok", "FAIL"))
                    or "running after" in line))
    assert proc.returncode == 0, proc.stdout[-12000:] + proc.stderr[-3000:]
    assert "--- SKIP" not in proc.stdout
    for case in ("cloud-init", "ignition", "flatcar", "custom-static", "cloud-init-external", "restart",
                 "fault-never-ready"):
        assert f"--- PASS: TestProvisioning/group/{case} " in proc.stdout, proc.stdout[-6000:]
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
