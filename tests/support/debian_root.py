"""A fresh Debian 12 root for the packaging tier: ``debootstrap --variant=minbase bookworm``, cached
as a tarball, unpacked per test, and commands run inside it (``chroot`` in a private mount
namespace, the host's network namespace). The same cache as tests/packaging/test_single_file.py
(``$FLEETING_SINGLE_FILE_CACHE``), so the two tiers' tests debootstrap once between them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("FLEETING_SINGLE_FILE_CACHE", "/var/tmp/fleeting-single-file"))
SUITE = "bookworm"
TARBALL = CACHE / f"debian-{SUITE}-minbase-amd64.tar.gz"


def tarball(arch: str = "amd64") -> Path:
    """The cached root of ``arch`` (a foreign one needs qemu-user's binfmt handler first:
    ``packaging/build-arm64-emulated --emulation-only``)."""
    return CACHE / f"debian-{SUITE}-minbase-{arch}.tar.gz"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def apt_mirror() -> str:
    """The Debian mirror apt uses here (one-line or deb822 sources), else deb.debian.org."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
                if SUITE in fields.get("Suites", "").split() and "deb" in fields.get("Types", "").split():
                    return fields["URIs"].split()[0]
        elif path.suffix == ".list" or path.name == "sources.list":
            for line in text.splitlines():
                m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line.strip())
                if m and m.group(2) == SUITE:
                    return m.group(1)
    return DEFAULT_MIRROR


def ensure_debootstrap() -> str:
    found = shutil.which("debootstrap") or (Path("/usr/sbin/debootstrap").is_file() and "/usr/sbin/debootstrap")
    if found:
        return str(found)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed (debootstrap is required):\n{proc.stderr[-3000:]}"
    found = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    assert Path(found).is_file(), "debootstrap is required and could not be installed"
    return found


def make_tarball(arch: str = "amd64") -> None:
    """debootstrap once; later runs unpack the cached tarball (a few seconds)."""
    debootstrap = ensure_debootstrap()
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / f"root.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        proc = subprocess.run([debootstrap, f"--arch={arch}", "--variant=minbase", SUITE, str(work), apt_mirror()],
                              capture_output=True, text=True, timeout=1200,
                              env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        assert proc.returncode == 0, f"debootstrap failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        for junk in [*(work / "var/cache/apt/archives").glob("*.deb"), *(work / "var/lib/apt/lists").glob("*_*")]:
            junk.unlink()
        partial = tarball(arch).with_suffix(f".partial.{os.getpid()}")
        subprocess.run(["tar", "-C", str(work), "--numeric-owner", "-czf", str(partial), "."], check=True)
        partial.rename(tarball(arch))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def unpack_root(dest: Path, arch: str = "amd64") -> Path:
    """A fresh minimal Debian 12 root of ``arch`` in ``dest`` (root only)."""
    assert os.geteuid() == 0, "this test makes a chroot and must run as root (CI does)"
    if not tarball(arch).is_file():
        make_tarball(arch)
    subprocess.run(["tar", "-C", str(dest), "--numeric-owner", "-xzf", str(tarball(arch))], check=True)
    assert (dest / "etc" / "debian_version").read_text().startswith("12.")
    return dest


def chroot(root: Path, argv: list[str], env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run argv inside root, with /proc mounted in a private mount namespace
    (gone with the process) and a clean environment; same network namespace."""
    clean = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
    clean.update(env or {})
    script = 'mount -t proc proc "$1/proc" && root=$1 && shift && exec chroot "$root" "$@"'
    cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(root),
           "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in clean.items()), *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
