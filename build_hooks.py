"""setuptools hook (pyproject.toml [tool.setuptools.cmdclass]): record build metadata.

``build_py`` writes ``fleeting_openstack/_build_info.py`` into the build tree
(never into the repository), so ``fleeting-plugin-openstack --version`` of a
pip or pipx install shows the Git revision, the Git ref and the build date
(``SOURCE_DATE_EPOCH`` when set, for reproducible builds). ``sdist`` writes
the same file into the source archive, so a wheel built from it knows the
revision too. A source tree that already carries ``_build_info.py`` (an sdist,
or packaging/build-single-file's build tree) keeps it. Without Git and without
``FLEETING_BUILD_REVISION``/``FLEETING_BUILD_REFERENCE`` (the overrides
packaging/build-single-file also takes) the revision is "unknown"; the date is
always known.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args],
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )  # read-only: no index refresh
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def build_info() -> dict[str, str]:
    revision = _git("rev-parse", "--short=8", "HEAD")
    if revision and _git("status", "--porcelain", "--untracked-files=no"):
        revision += "-dirty"
    reference = _git("describe", "--tags", "--exact-match") or _git("rev-parse", "--abbrev-ref", "HEAD")
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())
    revision = os.environ.get("FLEETING_BUILD_REVISION") or revision
    reference = os.environ.get("FLEETING_BUILD_REFERENCE") or reference
    return {
        "revision": revision or "unknown",
        "reference": reference or "unknown",
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)),
    }


def _write(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        f'"""Written at build time by build_hooks.py (never committed)."""\n\nINFO = {build_info()!r}\n',
        encoding="utf-8",
    )


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if (ROOT / "fleeting_openstack" / "_build_info.py").exists():
            return  # from an sdist or packaging/build-single-file: copied as it is
        _write(Path(self.build_lib) / "fleeting_openstack" / "_build_info.py")


class SDist(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        _write(Path(base_dir) / "fleeting_openstack" / "_build_info.py")
