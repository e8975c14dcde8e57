"""``bootstrap REPOSITORY``: install this plugin into the fleeting plugin directory.

Behaves as fleeting's ``plugin.Main`` ``bootstrap`` (``plugin/bootstrap.go`` of
``gitlab.com/gitlab-org/fleeting/fleeting``; tests/conformance/fleetingclient
runs both side by side), which is meant for a container image where the plugin
is alone in its directory (``/plugin/plugin`` in a fleeting-artifact image) and
a shared volume is the runner's plugin directory:

* the plugin directory is ``$FLEETING_PLUGIN_PATH`` or ``/plugins`` and must exist;
* REPOSITORY is completed as the runner completes a plugin reference: a bare name
  gets ``registry.gitlab.com/gitlab-org/fleeting/plugins/``, a path whose first
  element has no ``.`` gets ``registry.gitlab.com/``; a ``:tag`` is dropped;
* the version is this executable's (a leading ``v`` dropped); only when that is
  not ``X.Y.Z`` does ``$FLEETING_PLUGIN_PKG_VERSION`` replace it; when the two
  differ a warning goes to stderr;
* repository and version are escaped as Go module paths (``!`` before a lower-cased
  capital) into ``<plugins>/<repository>/<version>/``; a path Go's module rules
  refuse (no ``..``, no empty element, no ``:`` ...) is an error;
* every regular file beside this executable is copied there (through a temporary
  directory renamed into place), unless that directory exists already;
* the directory is printed on stdout; an error is printed on stdout and the exit
  status is 1.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from typing import TextIO

from fleeting_openstack import __version__

EXIT_OK, EXIT_ERROR = 0, 1

DEFAULT_REGISTRY = "registry.gitlab.com"
DEFAULT_NAMESPACE = "gitlab-org/fleeting/plugins"
PKG_VERSION_KEY = "FLEETING_PLUGIN_PKG_VERSION"
USAGE = (
    "bootstrap requires plugin repository path as parameter, e.g: registry.gitlab.com/gitlab-org/fleeting/plugins/aws"
)

_PSEUDO_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(-[^.]+\.0)?-(\d{14})-")
_MOD_PATH_CHARS = re.compile(r"[-._~0-9A-Za-z]+")
_FILE_NAME_CHARS = re.compile(r"[0-9A-Za-z!#$%&()+,\-.=@\[\]^_{}~ ]+")
_WINDOWS_NAMES = {
    "con",
    "prn",
    "aux",
    "nul",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
}


class BootstrapError(ValueError):
    """What fleeting's bootstrap would print as its error."""


def escape_module_path(text: str) -> str:
    """Go's module escaping: an upper-case letter becomes "!" + lower-case."""
    return "".join("!" + c.lower() if c.isupper() else c for c in text)


def should_warn_version_difference(binary_version: str, pkg_version: str) -> bool:
    if not pkg_version:
        return False
    if pkg_version == "dev" and _PSEUDO_VERSION.match(binary_version):
        return False
    return not binary_version.startswith(pkg_version)


def normalize_repo(repo: str) -> str:
    """fleeting's normalizeRepo (Go's path.Join / path.Base / path.Dir semantics)."""
    parts = repo.split("/")
    if len(parts) == 1:
        repo = _join(DEFAULT_REGISTRY, DEFAULT_NAMESPACE, repo)
    elif len(parts) > 1 and "." not in parts[0]:
        repo = _join(DEFAULT_REGISTRY, repo)
    base = _base(repo)
    if ":" in base:
        return _join(_dir(repo), base[: base.index(":")])
    return repo


def _clean(path: str) -> str:
    """Go's path.Clean."""
    if path == "":
        return "."
    cleaned = posixpath.normpath(path)
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def _join(*elems: str) -> str:
    """Go's path.Join: the non-empty elements joined by "/", cleaned ("" when there are none)."""
    joined = "/".join(e for e in elems if e)
    return _clean(joined) if joined else ""


def _base(path: str) -> str:
    """Go's path.Base."""
    if path == "":
        return "."
    path = path.rstrip("/")
    if path == "":
        return "/"
    return path.rsplit("/", 1)[-1]


def _dir(path: str) -> str:
    """Go's path.Dir."""
    return _clean(path[: path.rfind("/") + 1])


def _check_elem(elem: str, *, file_name: bool) -> None:
    if elem == "":
        raise BootstrapError("empty path element")
    if elem.count(".") == len(elem):
        raise BootstrapError(f'invalid path element "{elem}"')
    if elem[0] == "." and not file_name:
        raise BootstrapError("leading dot in path element")
    if elem[-1] == ".":
        raise BootstrapError("trailing dot in path element")
    allowed = _FILE_NAME_CHARS if file_name else _MOD_PATH_CHARS
    for c in elem:
        if not allowed.fullmatch(c) and not (file_name and c.isalpha()):
            raise BootstrapError(f"invalid char {c!r}")
    if elem.split(".", 1)[0].lower() in _WINDOWS_NAMES:
        raise BootstrapError(f'"{elem.split(".", 1)[0]}" disallowed as path element component on Windows')


def escape_path(path: str) -> str:
    """Go's module.EscapePath: CheckPath, then the escaping."""
    try:
        if path == "":
            raise BootstrapError("empty string")
        if path[0] == "-":
            raise BootstrapError("leading dash")
        if "//" in path:
            raise BootstrapError("double slash")
        if path[-1] == "/":
            raise BootstrapError("trailing slash")
        for elem in path.split("/"):
            _check_elem(elem, file_name=False)
        first = path.split("/", 1)[0]
        if "." not in first:
            raise BootstrapError("missing dot in first path element")
        for c in first:
            if not (c in "-." or "0" <= c <= "9" or "a" <= c <= "z"):
                raise BootstrapError(f"invalid char {c!r} in first path element")
    except BootstrapError as exc:
        raise BootstrapError(f'escaping plugin path: malformed module path "{path}": {exc}') from None
    return escape_module_path(path)


def escape_version(version: str) -> str:
    """Go's module.EscapeVersion."""
    try:
        _check_elem(version, file_name=True)
        if "!" in version:
            raise BootstrapError("!")
    except BootstrapError:
        raise BootstrapError(
            f'escaping plugin version: version "{version}" invalid: disallowed version string'
        ) from None
    return escape_module_path(version)


def _pseudo_version(built_at: str, revision: str) -> str:
    """module.PseudoVersion("v0", "", built_at, revision) without its "v"."""
    try:
        when = datetime.fromisoformat(built_at.replace("Z", "+00:00")).astimezone(UTC)
        stamp = when.strftime("%Y%m%d%H%M%S")
    except ValueError:
        stamp = "00010101000000"
    return f"0.0.0-{stamp}-{revision}"


def executable_dir() -> str:
    """The directory of this executable: a frozen build's own file, else the console script."""
    exe = sys.executable if getattr(sys, "frozen", False) else sys.argv[0]
    return os.path.dirname(os.path.abspath(exe))


def copy_to_plugin_dir(source_dir: str, plugins: str, plugin_dir: str) -> None:
    if os.path.exists(plugin_dir):
        return
    try:
        tmp = tempfile.mkdtemp(prefix="plugin", dir=plugins)
    except OSError as exc:
        raise BootstrapError(f"bootstrap copy to plugin dir: creating temporary directory for plugin: {exc}") from None
    try:
        try:
            for root, _dirs, files in os.walk(source_dir):
                for name in sorted(files):
                    src = os.path.join(root, name)
                    mode = os.stat(src).st_mode & 0o777
                    with open(src, "rb") as fin:
                        fd = os.open(os.path.join(tmp, name), os.O_CREAT | os.O_RDWR, mode)
                        with os.fdopen(fd, "wb") as fout:
                            shutil.copyfileobj(fin, fout)
        except OSError as exc:
            raise BootstrapError(f"bootstrap copy to plugin dir: bootstrapping: {exc}") from None
        try:
            os.makedirs(os.path.dirname(plugin_dir), 0o777, exist_ok=True)
        except OSError as exc:
            raise BootstrapError(f"bootstrap copy to plugin dir: creating plugin directory: {exc}") from None
        try:
            os.rename(tmp, plugin_dir)
        except OSError:
            raise BootstrapError(f"bootstrap copy to plugin dir: renaming dir {tmp} to {plugin_dir}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bootstrap(repository: str, version: str, built_at: str = "", revision: str = "", err: TextIO = sys.stderr) -> str:
    """Install into the plugin directory; returns that directory (raises :class:`BootstrapError`)."""
    if not repository:
        raise BootstrapError(USAGE)
    pkg_version = os.environ.get(PKG_VERSION_KEY, "")
    if should_warn_version_difference(version, pkg_version):
        err.write(f'warn: fleeting plugin package version and binary version differ: "{pkg_version}" != "{version}"\n')
    version = version.removeprefix("v")
    if len(version.split(".", 2)) != 3:
        if pkg_version:
            version = pkg_version
        if version in ("", "dev"):
            version = _pseudo_version(built_at, revision)
    plugins = os.environ.get("FLEETING_PLUGIN_PATH") or "/plugins"
    if not os.path.exists(plugins):
        raise BootstrapError(f"plugin directory {plugins} doesn't exist")
    repo = escape_path(normalize_repo(repository))
    plugin_dir = os.path.normpath(os.path.join(plugins, repo, escape_version(version)))
    copy_to_plugin_dir(executable_dir(), plugins, plugin_dir)
    return plugin_dir


def run(repository: str | None, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack.buildinfo import facts

    info = facts()
    try:
        plugin_dir = bootstrap(repository or "", __version__, info.get("built", ""), info.get("revision", ""), err)
    except BootstrapError as exc:
        out.write(f"{exc}\n")
        return EXIT_ERROR
    out.write(f"{plugin_dir}\n")
    return EXIT_OK
