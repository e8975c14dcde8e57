"""Command line: plugin mode for the runner, and commands for people.

Started by gitlab-runner (the magic cookie is in the environment) it serves
the plugin and writes nothing on stdout but the go-plugin handshake line.
Otherwise it answers ``version`` (also ``--version``/``-version``), ``bootstrap``,
``validate``, and ``status``/``reap``/``plugins`` (:mod:`.commands`). Heavy
modules are imported only by the command that needs them, so the handshake
comes quickly.
"""

from __future__ import annotations

import os
import sys

from fleeting_openstack import __version__

# platform, shutil, subprocess and pathlib are imported by the commands that
# use them: plugin mode pays only for what comes before the handshake line.

NAME = "fleeting-plugin-openstack"

#: The go-plugin handshake of fleeting plugins. UNVERIFIED against upstream:
#: the fleeting Go module that defines it cannot be fetched here (see
#: docs/protocol.md); this is the one place to correct it.
MAGIC_COOKIE_KEY = "FLEETING_PLUGIN"
MAGIC_COOKIE_VALUE = "fleeting"

#: Test-only: "module:callable" returning an InstanceGroup to serve instead of
#: the OpenStack provider (the conformance tests use it).
ENV_PROVIDER = "FLEETING_OPENSTACK_PROVIDER"


def _git(*args: str) -> str:
    import subprocess
    from pathlib import Path

    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True,
                             timeout=2, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def build_info() -> dict[str, str]:
    """Version facts: from ``_build_info`` when a build wrote it, else from git, else unknown."""
    try:
        from fleeting_openstack import _build_info  # type: ignore[attr-defined]

        return dict(_build_info.INFO)
    except ImportError:
        pass
    return {
        "revision": _git("rev-parse", "--short=8", "HEAD") or "unknown",
        "reference": _git("rev-parse", "--abbrev-ref", "HEAD") or "unknown",
        "built": "unknown",
    }


def version_text() -> str:
    import platform

    info = build_info()
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    rows = [
        ("Name", NAME),
        ("Version", __version__),
        ("Git revision", info["revision"]),
        ("Git ref", info["reference"]),
        ("Python version", platform.python_version()),
        ("Built", info["built"]),
        ("OS/Arch", f"{sys.platform}/{machine}"),
    ]
    return "".join(f"{k + ':':<16}{v}\n" for k, v in rows)


def _escape_module_path(text: str) -> str:
    # Go's module.EscapePath/EscapeVersion: an upper-case letter becomes "!" + lower-case.
    return "".join("!" + c.lower() if c.isupper() else c for c in text)


def bootstrap(target: str) -> int:
    """Install this executable where ``gitlab-runner fleeting`` finds plugins.

    ``target`` is a repository name (``registry.example.com/group/plugin``):
    the executable is copied to ``<plugins>/<repo>/<version>/plugin`` with the
    Go module escaping the runner's installer uses, where ``<plugins>`` is
    ``$FLEETING_PLUGIN_PATH`` or ``~/.config/fleeting/plugins`` and
    ``<version>`` is ``$FLEETING_PLUGIN_PKG_VERSION`` or this package's version.
    A frozen single-file build copies itself; a Python install copies its
    console script, which works only beside that same Python environment.
    """
    import shutil
    from pathlib import Path

    root = Path(os.environ.get("FLEETING_PLUGIN_PATH")
                or Path.home() / ".config" / "fleeting" / "plugins")
    version = os.environ.get("FLEETING_PLUGIN_PKG_VERSION") or __version__
    dest = root / _escape_module_path(target.strip("/")) / _escape_module_path(version) / "plugin"
    source = Path(sys.executable if getattr(sys, "frozen", False) else sys.argv[0]).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, dest)
    dest.chmod(0o755)
    sys.stdout.write(f"installed {source} to {dest}\n")
    return 0


def _provider():
    spec = os.environ.get(ENV_PROVIDER)
    if spec:
        import importlib

        module, _, attr = spec.partition(":")
        return getattr(importlib.import_module(module), attr or "provider")()
    from fleeting_openstack.provider import OpenStackProvider

    return OpenStackProvider()


def serve_plugin() -> int:
    """Plugin mode: hclog on stderr, go-plugin on a unix socket, stdout = handshake only."""
    from fleeting_openstack import hclog

    log = hclog.configure()
    hclog.install_excepthook()
    from fleeting_openstack import goplugin, service

    def add_fleeting(server, ctx) -> None:  # type: ignore[no-untyped-def]
        provider = _provider()
        holder = service.ContractHolder()
        service.register(server, provider, holder)
        # The runner's contract is read from its executable after the handshake
        # line is out; the first fleeting RPC waits for it (fleeting_openstack/wire).
        ctx.after_handshake.append(holder.start)
        ctx.on_stop.append(getattr(provider, "close", lambda: None))

    handshake = goplugin.Handshake(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, {1: add_fleeting})
    # Nothing but the handshake line may reach stdout: route stray prints to stderr.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        return goplugin.serve(handshake, stdout=real_stdout)
    except Exception as exc:  # noqa: BLE001 - one JSON error line, never a raw traceback
        log.exception("plugin failed: %s", exc)
        return 1


USAGE = f"""usage: {NAME} [command]

Started by gitlab-runner, it serves the fleeting plugin. Commands for people:
  version | --version | -version   print version information
  bootstrap REPOSITORY              install this executable into the fleeting plugin directory
  validate PATH [--check-cloud] [--json]
                                    check a plugin_config JSON file or a runner config.toml
  status PATH [--runner NAME] [--json]
                                    every server of the group and the state the plugin reports
  reap PATH [--runner NAME] [--yes] [--json]
                                    what the group leaked; deleted only with --yes
  plugins [PATH] [--json]           installed boot strategies and site plugins, with their hooks
  protocol [BINARY] [--json]        the fleeting contract served when BINARY (default: gitlab-runner) starts the plugin
PATH is a plugin_config JSON file or a runner config.toml; COMMAND --help for details.
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        return serve_plugin()
    command, rest = args[0], args[1:]
    if command in ("version", "--version", "-version", "-v"):
        sys.stdout.write(version_text())
        return 0
    if command == "bootstrap":
        if len(rest) != 1:
            sys.stderr.write(f"usage: {NAME} bootstrap REPOSITORY\n")
            return 2
        return bootstrap(rest[0])
    if command == "validate":
        from fleeting_openstack import validate

        return validate.main(rest)
    if command in ("status", "reap", "plugins"):
        from fleeting_openstack import commands

        return commands.main(command, rest)
    if command == "protocol":
        from fleeting_openstack import protocol_cmd

        return protocol_cmd.main(rest)
    if command in ("help", "-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    sys.stderr.write(f"{NAME}: unknown command {command!r}\n{USAGE}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
