"""The runner's contract, read at run time (issue 9), proven by Go hosts.

Each host in tests/conformance/variants/<name> is a Go test binary built with
go-plugin's real client (v1.6.2 and v1.8.0) and stubs of its own variant
``.proto``. It starts the installed plugin as its own child, so the plugin
must find the variant in ``/proc/<ppid>/exe`` (never the override), and runs a
whole lifecycle against the devcloud (or, for ``unmappable``, checks that Init
fails readably). The variants run concurrently (two at a time: their time is
mostly Nova's), each on its own group; afterwards nothing of any group may be
left in the cloud.

Needs Go, the Go module proxy (or a warm module cache) and the devcloud; it
fails, never skips, when any is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fleeting_openstack.config.identity import META_CLUSTER, group_tag
from installed import plugin_executable
from project import VARIANTS

HERE = Path(__file__).parent
#: go-plugin pinned by gitlab-runner 17.8-18.2 (v1.6.2) and 19.3 (v1.8.0).
MODFILES = {"v1.6.2": "go.goplugin-v1.6.2.mod", "v1.8.0": "go.mod"}

pytestmark = pytest.mark.usefixtures("cleanup_group")


def go_test(go: str, modfile: str, variant: str, env: dict[str, str]) -> tuple[str, subprocess.CompletedProcess]:
    started = time.monotonic()
    proc = subprocess.run([go, "test", "-tags", "variants", "-count=1", "-v", f"-modfile={modfile}",
                           "-timeout=15m", f"./variants/{variant}"],
                          cwd=HERE, env=env, capture_output=True, text=True, timeout=1000)
    print(f"{variant}: {time.monotonic() - started:.1f} s")
    return variant, proc


def leftovers(admin, names: list[str]) -> list[str]:
    """Servers and ports of the given groups still in the cloud."""
    found = [f"server {s.name} ({s.id}, {s.status})" for s in admin.compute.servers(all_projects=True)
             if any(s.name.startswith(n + "-") or (s.metadata or {}).get(META_CLUSTER) == n for n in names)]
    tags = {group_tag(n) for n in names}
    found += [f"port {p.id} (tags {p.tags})" for p in admin.network.ports() if tags & set(p.tags or [])]
    return found


@pytest.mark.parametrize("goplugin", sorted(MODFILES))
def test_variant_hosts(goplugin: str, plugin_config, group_name: str, admin, tmp_path: Path) -> None:
    go = shutil.which("go")
    assert go, "Go is required for the variant hosts"
    modfile = MODFILES[goplugin]
    env = {k: v for k, v in os.environ.items() if k != "FLEETING_OPENSTACK_PROTOCOL_FROM"}
    env["FLEETING_PLUGIN_BIN"] = plugin_executable()
    # Compile every host once, so that the concurrent runs below do not all link at once.
    warm = subprocess.run([go, "test", "-tags", "variants", "-count=1", "-run", "^$", f"-modfile={modfile}",
                           "./variants/..."], cwd=HERE, env=env, capture_output=True, text=True, timeout=900)
    assert warm.returncode == 0, warm.stdout[-4000:] + warm.stderr[-4000:]

    groups = {v: f"{group_name}-{v}" for v in VARIANTS}
    envs = {}
    for variant, group in groups.items():
        config = tmp_path / f"{variant}.json"
        config.write_text(json.dumps(plugin_config(name=group, server_spec={"name": f"{group}-%d"},
                                                   credentials={"state_dir": str(tmp_path / variant)})))
        envs[variant] = dict(env, FLEETING_VARIANT_CONFIG=str(config))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(lambda v: go_test(go, modfile, v, envs[v]), VARIANTS))

    failures = []
    for variant, proc in results.items():
        out = proc.stdout + proc.stderr
        print(f"----- {variant} (go-plugin {goplugin})\n{out[-3000:]}")
        if proc.returncode != 0 or "--- PASS" not in proc.stdout or "--- FAIL" in proc.stdout:
            failures.append(f"{variant}: exit {proc.returncode}\n{out[-6000:]}")
        assert "--- SKIP" not in proc.stdout, f"{variant} skipped:\n{out[-3000:]}"
        # The host logs this after checking the plugin's "serving the runner's contract" line (hostkit/variant.go).
        assert "plugin serves" in proc.stdout or proc.returncode != 0, f"{variant}: contract not checked\n{out}"
    assert not failures, "\n\n".join(failures)
    left = leftovers(admin, list(groups.values()))
    assert not left, f"left in the devcloud after the lifecycles: {left}"
