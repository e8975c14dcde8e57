"""Command line: plugin mode for the runner, and commands for people.

Started by gitlab-runner (the magic cookie is in the environment) it serves
the plugin and writes nothing on stdout but the go-plugin handshake line.
Otherwise it runs the commands for people: one argparse tree in
:mod:`.parser` (``version``/``--version``/``-version``, ``bootstrap``,
``validate``, ``status``, ``reap``, ``plugins``, ``render-user-data``,
``completion``, ``protocol``, ``help``). Heavy modules are imported only by the
command that needs them, so the handshake comes quickly.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc

    from fleeting_openstack.contract.instancegroup import InstanceGroup

# platform, shutil, subprocess and pathlib are imported by the commands that
# use them: plugin mode pays only for what comes before the handshake line.

NAME = "fleeting-plugin-openstack"

#: fleeting's go-plugin magic cookie (``Handshake`` in fleeting's
#: internal/plugin/plugin.go, module version pinned in tests/conformance/go.mod).
MAGIC_COOKIE_KEY = "FLEETING_INSTANCE_GROUP_PLUGIN"
MAGIC_COOKIE_VALUE = "4c6410b1-cb78-4962-8c76-ab936d0ea908"

#: Test-only: "module:callable" returning an InstanceGroup to serve instead of
#: the OpenStack provider (the conformance tests use it).
ENV_PROVIDER = "FLEETING_OPENSTACK_PROVIDER"


def _provider() -> InstanceGroup:
    """The provider to serve: the OpenStack one, or a test's (``FLEETING_OPENSTACK_PROVIDER``)."""
    spec = os.environ.get(ENV_PROVIDER)
    if spec:
        import importlib

        module, _, attr = spec.partition(":")
        provider: InstanceGroup = getattr(importlib.import_module(module), attr or "provider")()
        return provider
    from fleeting_openstack.provider.group import OpenStackProvider

    return OpenStackProvider()


def serve_plugin() -> int:
    """Plugin mode: hclog on stderr, go-plugin on a unix socket, stdout = handshake only."""
    from fleeting_openstack.transport import hclog

    # Every stderr line is hclog JSON: the handler writes to the real stderr, anything
    # else written to fd 2 (libraries, grpc's C core) is wrapped line by line.
    log = hclog.configure(stream=hclog.capture_stderr_fd())
    hclog.route_libraries()
    hclog.install_excepthook()
    from fleeting_openstack.transport import goplugin

    def add_fleeting(server: grpc.Server, ctx: goplugin.ServerContext) -> None:
        # Runs after the handshake line is out (goplugin.serve): the imports are paid then.
        from fleeting_openstack.contract import service

        provider = _provider()
        holder = service.ContractHolder()
        service.register(server, provider, holder)
        # The runner's contract is read from its executable after the handshake
        # line is out; the first fleeting RPC waits for it (fleeting_openstack/contract).
        ctx.after_handshake.append(holder.start)
        ctx.on_stop.append(getattr(provider, "close", lambda: None))

    handshake = goplugin.Handshake(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, add_fleeting)
    # Nothing but the handshake line may reach stdout: route stray prints to stderr.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        return goplugin.serve(handshake, stdout=real_stdout)
    except Exception as exc:
        log.exception("plugin failed: %s", exc)
        return 1


HELP_HINT = f"Run `{NAME} --help` for the commands for people (validate, status, reap, render-user-data...)."


def main(argv: list[str] | None = None) -> int:
    """Plugin mode when started by gitlab-runner (no arguments, the magic cookie set);
    otherwise the commands for people (:mod:`.parser`)."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        from fleeting_openstack.transport import goplugin

        # A go-plugin host (the runner: its cookie, or go-plugin's variables) gets plugin mode.
        if goplugin.cookie_accepted(goplugin.Handshake(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE), os.environ):
            return serve_plugin()
        # Started by hand: go-plugin's own words, and where to go instead.
        sys.stderr.write(goplugin.NOT_A_PROGRAM + "\n" + HELP_HINT + "\n")
        return 1
    from fleeting_openstack.cli import parser as cmdline

    return cmdline.main(args)


if __name__ == "__main__":
    raise SystemExit(main())
