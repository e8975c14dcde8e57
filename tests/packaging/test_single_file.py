"""The single-file executable runs where no Python is installed.

1. Builds ``dist/linux/amd64/plugin`` with ``packaging/build-single-file``, or
   reuses it when it is newer than every source file and was built from the
   current Git revision.
2. Makes a minimal Debian root (``debootstrap --variant=minbase bookworm``,
   cached as a tarball under ``$FLEETING_SINGLE_FILE_CACHE``, default
   ``/var/tmp/fleeting-single-file``; tests/support/debian_root.py) and checks that it has no python3.
3. Copies in the executable, clouds.yaml and a plugin_config for the devcloud,
   and the Go smoke test (``tests/conformance/smoke``, compiled with
   ``go test -c``), and runs the smoke test INSIDE the root: HashiCorp's
   go-plugin client starts the executable, Init (real devcloud, strategy
   ``flatcar``), Update, Kill; the processes are gone and the socket removed.
   The root shares the host's network namespace, so the devcloud on 127.0.0.1
   answers; a private mount namespace (``unshare --mount``) carries its /proc,
   so nothing stays mounted whatever happens.
4. ``--version`` inside the root reports the package's version and the Git
   revision it was built from; ``validate --check-cloud`` with strategy
   ``flatcar`` works there (the built-in strategies are found through their
   entry points, so the build carries the distribution metadata).

Needs root, debootstrap (installed with apt-get when missing), Go, and the
devcloud. It FAILS, never skips, when any of them is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from debian_root import TARBALL, chroot, make_tarball
from devcloud.fixtures import plugin_config as group_config
from project import ROOT, package_version

BUILD_SCRIPT = ROOT / "packaging" / "build-single-file"
EXECUTABLE = ROOT / "dist" / "linux" / "amd64" / "plugin"
SOURCES = [ROOT / "fleeting_openstack", ROOT / "strategies", ROOT / "schemas", ROOT / "packaging",
           ROOT / "pyproject.toml"]
CONFORMANCE = ROOT / "tests" / "conformance"


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=8", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def version_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def newest_source_mtime() -> float:
    newest = 0.0
    for src in SOURCES:
        files = [src] if src.is_file() else [p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        newest = max([newest, *(p.stat().st_mtime for p in files)])
    return newest


def build_is_fresh() -> bool:
    if not EXECUTABLE.is_file() or EXECUTABLE.stat().st_mtime <= newest_source_mtime():
        return False
    out = subprocess.run([str(EXECUTABLE), "--version"], capture_output=True, text=True, timeout=60)
    fields = version_fields(out.stdout)
    rev = git_revision()
    return (out.returncode == 0 and fields.get("Version") == package_version()
            and (rev is None or fields.get("Git revision", "").split("-")[0] == rev))


@pytest.fixture(scope="module")
def single_file() -> Path:
    if not build_is_fresh():
        started = time.monotonic()
        proc = subprocess.run([str(BUILD_SCRIPT), "--python", sys.executable],
                              capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, f"build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        print(f"built {EXECUTABLE} in {time.monotonic() - started:.0f} s:\n{proc.stdout}")
    assert EXECUTABLE.is_file() and os.access(EXECUTABLE, os.X_OK)
    return EXECUTABLE


@pytest.fixture(scope="module")
def debian_root(tmp_path_factory) -> Iterator[Path]:
    assert os.geteuid() == 0, "this test makes a chroot and must run as root (CI does)"
    if not TARBALL.is_file():
        make_tarball()
    root = tmp_path_factory.mktemp("debian-root")
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-xzf", str(TARBALL)], check=True)
    assert (root / "etc" / "debian_version").is_file()
    # The point of the exercise: there is no Python in there.
    pythons = sorted(p.name for d in ("usr/bin", "usr/local/bin", "bin") for p in (root / d).glob("python*"))
    assert pythons == [], f"the minimal root has {pythons}"
    proc = chroot(root, ["python3", "--version"])
    assert proc.returncode == 127, f"python3 runs in the root: {proc.stdout}{proc.stderr}"
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def smoke_binary(tmp_path_factory) -> Path:
    go = shutil.which("go") or (Path("/usr/local/go/bin/go").is_file() and "/usr/local/go/bin/go")
    assert go, "Go is required to compile the smoke test (tests/conformance/smoke)"
    out = tmp_path_factory.mktemp("smoke") / "smoke.test"
    proc = subprocess.run([str(go), "test", "-c", "-tags", "smoke", "-o", str(out), "./smoke"],
                          cwd=CONFORMANCE, env=dict(os.environ, CGO_ENABLED="0"),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"go test -c failed:\n{proc.stdout}\n{proc.stderr}"
    return out


@pytest.fixture()
def smoke_config(devcloud, debian_root, group_name) -> str:
    """A real devcloud plugin_config, with clouds.yaml copied into the root."""
    smoke = debian_root / "smoke"
    smoke.mkdir(exist_ok=True)
    shutil.copy2(devcloud["clouds_yaml"], smoke / "clouds.yaml")
    (smoke / "clouds.yaml").chmod(0o600)
    config = {**group_config(devcloud, name=group_name, clouds_config="/smoke/clouds.yaml", state_dir="/smoke/state"),
              "strategy": "flatcar"}
    (smoke / "plugin_config.json").write_text(json.dumps(config, indent=2))
    return "/smoke/plugin_config.json"


def test_version_matches_package(single_file, debian_root) -> None:
    shutil.copy2(single_file, debian_root / "plugin")
    proc = chroot(debian_root, ["/plugin", "--version"])
    assert proc.returncode == 0, proc.stderr
    fields = version_fields(proc.stdout)
    assert fields["Name"] == "fleeting-plugin-openstack"
    assert fields["Version"] == package_version()
    assert fields["OS/Arch"] == "linux/amd64"
    assert fields["Built"] != "unknown"
    rev = git_revision()
    if rev:  # a build from a Git work tree names its commit
        assert fields["Git revision"].split("-")[0] == rev, proc.stdout
    # The same answer as the Python package gives.
    from fleeting_openstack import __version__

    assert __version__ == package_version()


def test_validate_finds_builtin_strategy(single_file, debian_root, smoke_config) -> None:
    """Entry points work in the frozen build: strategy "flatcar" resolves, an unknown one lists the built-ins."""
    shutil.copy2(single_file, debian_root / "plugin")
    proc = chroot(debian_root, ["/plugin", "validate", "--check-cloud", smoke_config])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cfg = json.loads((debian_root / smoke_config.lstrip("/")).read_text())
    cfg["strategy"] = "no-such-os"
    (debian_root / "smoke" / "unknown.json").write_text(json.dumps(cfg))
    proc = chroot(debian_root, ["/plugin", "validate", "/smoke/unknown.json"])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for name in ("cloud-init", "custom", "flatcar", "ignition"):
        assert name in proc.stdout + proc.stderr


def test_go_smoke_in_python_less_root(single_file, debian_root, smoke_binary, smoke_config,
                                      cleanup_group) -> None:
    shutil.copy2(single_file, debian_root / "plugin")
    shutil.copy2(smoke_binary, debian_root / "smoke" / "smoke.test")
    started = time.monotonic()
    proc = chroot(debian_root, ["/smoke/smoke.test", "-test.v", "-test.count=1", "-test.timeout=5m"],
                  env={"FLEETING_PLUGIN_BIN": "/plugin", "FLEETING_SMOKE_CONFIG": smoke_config},
                  timeout=400)
    output = proc.stdout + proc.stderr
    print(f"smoke test in the root took {time.monotonic() - started:.1f} s\n{output}")
    assert proc.returncode == 0, output[-8000:]
    assert "--- PASS: TestSmoke" in output
    assert "--- SKIP" not in output
    # Nothing left in the root's /tmp: no socket, no unpacked one-file bundle.
    leftovers = sorted(p.name for p in (debian_root / "tmp").iterdir())
    assert leftovers == [], f"left in the root's /tmp after Kill: {leftovers}"
