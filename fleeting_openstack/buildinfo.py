"""What build this is: version, Git revision and ref, build date, platform.

One place for the facts that ``--version`` prints and that Init hands the
runner (``InitResponse.build_info``, which the runner logs as
``plugin initialized: version=... build info=...``). ``_build_info`` is
written by build_hooks.py when pip builds the package; a source checkout asks
Git; otherwise "unknown".
"""

from __future__ import annotations

import platform
import sys

from fleeting_openstack import __version__

__all__ = ["NAME", "facts", "one_line", "os_arch", "version_block"]

NAME = "fleeting-plugin-openstack"


def _git(*args: str) -> str:
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=2, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def facts() -> dict[str, str]:
    """``revision``, ``reference``, ``built``: from the build, else from Git, else unknown."""
    try:
        from fleeting_openstack import _build_info  # written at build time (build_hooks.py)

        return dict(_build_info.INFO)
    except ImportError:
        pass
    return {
        "revision": _git("rev-parse", "--short=8", "HEAD") or "unknown",
        "reference": _git("rev-parse", "--abbrev-ref", "HEAD") or "unknown",
        "built": "unknown",
    }


def os_arch() -> str:
    """Go's spelling (``linux/amd64``), as fleeting plugins print it."""
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{sys.platform}/{machine}"


def one_line() -> str:
    """The build in fleeting's ``VersionInfo.BuildInfo()`` shape (``sha=...; ref=...; go=...``),
    with the Python version where a Go plugin names Go's."""
    info = facts()
    return (
        f"sha={info['revision']}; ref={info['reference']}; python={platform.python_version()}; "
        f"built_at={info['built']}; os_arch={os_arch()}"
    )


def version_block() -> str:
    """The ``--version`` block, row for row as fleeting's ``VersionInfo.Full()``."""
    info = facts()
    rows = [
        ("Name", NAME),
        ("Version", __version__),
        ("Git revision", info["revision"]),
        ("Git ref", info["reference"]),
        ("Python version", platform.python_version()),
        ("Built", info["built"]),
        ("OS/Arch", os_arch()),
    ]
    return "".join(f"{k + ':':<16}{v}\n" for k, v in rows)
