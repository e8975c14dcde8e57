"""``bootstrap REPOSITORY``: install this executable where ``gitlab-runner fleeting`` finds plugins.

The executable is copied to ``<plugins>/<repo>/<version>/plugin`` with the Go
module escaping the runner's installer uses, where ``<plugins>`` is
``$FLEETING_PLUGIN_PATH`` or ``~/.config/fleeting/plugins`` and ``<version>``
is ``$FLEETING_PLUGIN_PKG_VERSION`` or this package's version. A frozen
single-file build copies itself; a Python install copies its console script,
which works only beside that same Python environment.

The destination never leaves ``<plugins>``: REPOSITORY must be a repository
path (``host[:port]/component[/component...]``, each component letters,
digits, ``.``, ``_``, ``-``, not ``.`` or ``..``), the version a single path
component; anything else is a usage error and nothing is written. An OS error (a name too
long, a file where a directory belongs, no permission) is one line naming the path, exit status 2.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import TextIO

from fleeting_openstack import __version__

EXIT_OK, EXIT_USAGE = 0, 2

_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?"
_COMPONENT = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
REPOSITORY = re.compile(rf"{_HOST}(?:/{_COMPONENT})+")
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]*")


class BootstrapError(ValueError):
    """REPOSITORY or the version would not name a directory inside the plugin directory."""


def escape_module_path(text: str) -> str:
    """Go's module.EscapePath/EscapeVersion: an upper-case letter becomes "!" + lower-case."""
    return "".join("!" + c.lower() if c.isupper() else c for c in text)


def plugin_root() -> Path:
    return Path(os.environ.get("FLEETING_PLUGIN_PATH") or Path.home() / ".config" / "fleeting" / "plugins")


def destination(repository: str, version: str, root: Path) -> Path:
    """Where the plugin goes; raises :class:`BootstrapError` for anything outside ``root``."""
    if not REPOSITORY.fullmatch(repository) or any(part in (".", "..") for part in repository.split("/")):
        raise BootstrapError(
            f"{repository!r} is not a repository path (like registry.example.com/group/plugin: "
            "no leading '/', no '.' or '..' components, letters, digits, '.', '_', '-')"
        )
    if not VERSION.fullmatch(version) or version in (".", ".."):
        raise BootstrapError(f"version {version!r} (FLEETING_PLUGIN_PKG_VERSION) is not a single path component")
    dest = root / escape_module_path(repository) / escape_module_path(version) / "plugin"
    resolved_root = root.resolve()
    if not dest.resolve().is_relative_to(resolved_root):  # a symlink inside root pointing out of it
        raise BootstrapError(f"{dest} resolves outside the plugin directory {resolved_root}")
    return dest


def run(repository: str, out: TextIO, err: TextIO) -> int:
    """Install; every problem is one line on ``err`` and exit status 2 (nothing is half-written:
    the copy goes to a temporary name beside the destination and is renamed into place)."""
    version = os.environ.get("FLEETING_PLUGIN_PKG_VERSION") or __version__
    root = plugin_root()
    source = Path(sys.executable if getattr(sys, "frozen", False) else sys.argv[0])
    dest: Path | None = None
    try:
        dest = destination(repository, version, root)
        source = source.resolve()
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            shutil.copy2(source, partial)
            partial.chmod(0o755)
            partial.replace(dest)
        finally:
            partial.unlink(missing_ok=True)
    except BootstrapError as exc:
        err.write(f"fleeting-plugin-openstack bootstrap: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        where = exc.filename or dest or root
        err.write(
            f"fleeting-plugin-openstack bootstrap: cannot install {source} to {dest or root}: "
            f"{exc.strerror or exc} ({where})\n"
        )
        return EXIT_USAGE
    out.write(f"installed {source} to {dest}\n")
    return EXIT_OK
