#!/usr/bin/env python3
"""Suspend -> resume -> SSH against create -> ready -> SSH, on the devcloud (issue 19).

The plugin's provider in-process against the real devcloud, with servers the test driver boots
(image "fleeting-e2e-ubuntu": cloud-init, sshd in the instance; strategy cloud-init, boot_time 3m):

1. Increase(n), Update until every server is running, then SSH (``true``) into each with the
   ConnectInfo answer: create -> ready -> SSH;
2. for each suspend_mode (stop, suspend, shelve: a new Init of the same group with that mode):
   Suspend(all), Update until suspended; Resume(all), Update until running, SSH into each:
   suspend -> suspended, resume -> running, resume -> SSH.

Prints the wall times and the ratio create->SSH / resume->SSH per mode (wall times on the shared
2-core devcloud: compare the ratio, not the seconds). Before every SSH connection the address is
checked with the test driver's ``route-check`` (ours, routed to its bridge). Everything it
creates is deleted again. Needs root and the devcloud with nova-compute running this checkout's
test driver (tests/devcloud/testdriver, docs/e2e.md).

    sudo .venv/bin/python bench/suspend_resume.py [--n 2] [--modes stop,suspend,shelve]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELPER = ROOT / "tests" / "devcloud" / "testdriver" / "e2e_instance.py"


def until(provider, want, timeout: float, what: str) -> float:
    """Update every second until every server is in state ``want``; seconds it took."""
    started = time.monotonic()
    while True:
        states = dict(provider.update())
        if states and set(states.values()) == {want}:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{what}: not all {want.value} after {timeout:.0f}s: {states}")
        time.sleep(1)


def ssh(provider, ids: list[str], tmp: Path, timeout: float = 120) -> None:
    """Log in to each server with its ConnectInfo answer (retried while sshd starts)."""
    for sid in ids:
        info = provider.connect_info(sid)
        addr = info.internal_addr
        check = subprocess.run([sys.executable, "-P", str(HELPER), "route-check", addr],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"REFUSING to connect to {addr}: {check.stderr.strip()}")
        key = tmp / f"key-{sid}"
        key.write_bytes(info.connector.key)
        os.chmod(key, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run(
                ["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
                 f"{info.connector.username}@{addr}", "true"], capture_output=True, text=True)
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"ssh {sid} ({addr}) failed for {timeout:.0f}s: {done.stderr.strip()}")
            time.sleep(1)


def run(n: int, modes: list[str]) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    from devcloud.fixtures import clouds_yaml_path, load_fixtures
    from driver_suites import e2e_images

    from fleeting_openstack.contract.instancegroup import ConnectorConfig, Settings, State
    from fleeting_openstack.provider.group import OpenStackProvider

    import openstack.config
    from openstack.connection import Connection

    fx = load_fixtures()
    admin = Connection(config=openstack.config.OpenStackConfig(
        config_files=[str(clouds_yaml_path())]).get_one(cloud="devcloud"))
    image = e2e_images(admin)["ubuntu"]
    admin.close()
    group = f"bench-susp-{uuid.uuid4().hex[:6]}"
    out: dict = {"n": n, "group": group, "modes": {}}
    settings = Settings(connector=ConnectorConfig(os="linux", protocol="ssh"))
    with tempfile.TemporaryDirectory(prefix="fleeting-bench-") as tmpdir:
        tmp = Path(tmpdir)

        def config(mode: str) -> bytes:
            return json.dumps({
                "cloud": "devcloud-demo", "clouds_config": str(clouds_yaml_path()), "name": group,
                "strategy": "cloud-init", "boot_time": "3m", "suspend_mode": mode,
                "credentials": {"state_dir": str(tmp / "state")},
                "server_spec": {"name": f"{group}-%d", "imageRef": image, "flavorRef": fx["flavors"]["m1.tiny"],
                                "networks": [{"uuid": fx["networks"]["workers"]}]}}).encode()

        provider = OpenStackProvider()
        provider.init(config(modes[0]), settings)
        try:
            started = time.monotonic()
            provider.increase(n)
            out["create_ready"] = until(provider, State.RUNNING, 300, "create")
            ids = [sid for sid, _ in provider.update()]
            ssh(provider, ids, tmp)
            out["create_ssh"] = time.monotonic() - started
            for mode in modes:
                provider.init(config(mode), settings)  # the same group, this suspend_mode
                m: dict = {}
                started = time.monotonic()
                provider.suspend(ids)
                m["suspend_suspended"] = until(provider, State.SUSPENDED, 300, f"{mode}: suspend")
                started = time.monotonic()
                provider.resume(ids)
                m["resume_running"] = until(provider, State.RUNNING, 300, f"{mode}: resume")
                ssh(provider, ids, tmp)
                m["resume_ssh"] = time.monotonic() - started
                out["modes"][mode] = m
        finally:
            for server in provider.cloud.list_servers({"name": f"^{group}-"}):
                provider.cloud.delete_server(server.id)
            provider.close()
    print(f"\nsuspend/resume bench (n = {n} servers, image fleeting-e2e-ubuntu, m1.tiny, boot_time 3m; wall s)")
    print(f"  create -> ready {out['create_ready']:7.1f}   -> SSH {out['create_ssh']:7.1f}")
    for mode, m in out["modes"].items():
        ratio = out["create_ssh"] / m["resume_ssh"] if m["resume_ssh"] else float("inf")
        print(f"  {mode:8} suspend -> suspended {m['suspend_suspended']:6.1f}   resume -> running "
              f"{m['resume_running']:6.1f}   -> SSH {m['resume_ssh']:6.1f}   create/resume (to SSH) {ratio:5.2f}x")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2)
    parser.add_argument("--modes", default="stop,suspend,shelve")
    args = parser.parse_args()
    run(args.n, args.modes.split(","))
