"""The README's first set-up command works on a fresh Debian 12 exactly as written (issue 20 item 2).

The command is read from README.md (the first indented line of "## Set up"), and run with bash,
as root, in a fresh Debian 12 root: ``debootstrap --variant=minbase bookworm`` (no Python at all;
the tarball is cached and shared with tests/packaging/test_single_file.py), with a copy of the
work tree (``git ls-files``) as the current directory. The root shares the host's network
namespace, resolver and locally added CA certificates (the command needs the Debian mirror and
PyPI, as the README says; behind a TLS-inspecting proxy the site's CA is part of the machine).
A plain ``pip install .``, the line before issue 20, fails there (no pip; with Debian's pip,
PEP 668's externally-managed-environment).

Needs root, debootstrap (installed with apt-get when missing) and network access. It FAILS,
never skips, when any of them is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from debian_root import chroot, unpack_root
from project import ROOT


def readme_first_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return next(line.strip() for line in setup.splitlines() if line.startswith("    "))


@pytest.fixture(scope="module")
def fresh_debian(tmp_path_factory) -> Iterator[Path]:
    root = unpack_root(tmp_path_factory.mktemp("fresh-debian"))
    shutil.copy2("/etc/resolv.conf", root / "etc" / "resolv.conf")
    # This machine's own trust anchors (a site CA for its TLS egress, say), where a Debian admin puts
    # them: Debian's ca-certificates, installed by the command, adds them to the system bundle that
    # Debian's pip uses. Nothing else of the host's Python or pip setup goes in.
    local = root / "usr" / "local" / "share" / "ca-certificates"
    local.mkdir(parents=True, exist_ok=True)
    for crt in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copy2(crt, local / crt.name)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def copy_work_tree(dest: Path) -> None:
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def test_the_readme_first_command_on_a_fresh_debian_12(fresh_debian):
    command = readme_first_command()
    assert "validate examples/config.toml" in command
    proc = chroot(fresh_debian, ["python3", "--version"])
    assert proc.returncode == 127, "the root must start without Python"
    src = fresh_debian / "src"
    copy_work_tree(src)
    proc = chroot(fresh_debian, ["bash", "-c", f"cd /src && {command}"],
                  env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=1500)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"the README's first command failed ({proc.returncode}):\n{out[-4000:]}"
    assert re.search(r"^examples/config\.toml: valid \(1 plugin_config, \d+ warnings?\)$", proc.stdout, re.M), out[-3000:]
    # installed into the virtualenv, not into Debian's Python
    assert (src / ".venv" / "bin" / "fleeting-plugin-openstack").is_file()
    assert not list((fresh_debian / "usr" / "local" / "bin").glob("fleeting-plugin-openstack"))


def test_the_old_first_command_fails_there(fresh_debian):
    """Why the line changed: Debian 12's Python (with its pip) refuses `pip install .` (PEP 668)."""
    proc = chroot(fresh_debian, ["bash", "-c", "apt-get install -y -qq python3-pip >/dev/null && cd /src "
                                 "&& pip install ."], env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=900)
    assert proc.returncode != 0 and "externally-managed-environment" in proc.stdout + proc.stderr
