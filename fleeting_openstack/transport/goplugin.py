"""The server side of HashiCorp go-plugin over gRPC, in Python.

This module knows go-plugin and nothing else (no fleeting, no OpenStack): the
magic-cookie check, application-protocol negotiation, the unix-socket
listener, AutoMTLS, the handshake line, and the services every go-plugin gRPC
server carries (health, controller, stdio, broker). The application service is
added by one callback, whatever application protocol version the host offers:
the application contract is read from the host itself (fleeting_openstack.contract),
so the version number only has to be one the host accepts.

Facts it relies on (go-plugin v1.6.2-v1.8.0, see docs/protocol.md): the
handshake is the first and only stdout line,
``CORE|APP|NETWORK|ADDR|grpc|SERVERCERT[|MUX]``; the client reads nothing else
from stdout, logs from stderr, and calls ``plugin.GRPCController/Shutdown`` on
Kill, waiting 2 s before SIGKILL.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import grpc

log = logging.getLogger("fleeting_openstack.goplugin")

CORE_PROTOCOL_VERSION = 1
ENV_UNIX_SOCKET_DIR = "PLUGIN_UNIX_SOCKET_DIR"
ENV_UNIX_SOCKET_GROUP = "PLUGIN_UNIX_SOCKET_GROUP"
ENV_MULTIPLEX = "PLUGIN_MULTIPLEX_GRPC"
ENV_CLIENT_CERT = "PLUGIN_CLIENT_CERT"
ENV_PROTOCOL_VERSIONS = "PLUGIN_PROTOCOL_VERSIONS"
ENV_MIN_PORT = "PLUGIN_MIN_PORT"
ENV_MAX_PORT = "PLUGIN_MAX_PORT"
#: Variables go-plugin's client sets itself; anything else is not a cookie.
_GOPLUGIN_VARS = frozenset(
    {
        ENV_UNIX_SOCKET_DIR,
        ENV_UNIX_SOCKET_GROUP,
        ENV_MULTIPLEX,
        ENV_CLIENT_CERT,
        ENV_PROTOCOL_VERSIONS,
        ENV_MIN_PORT,
        ENV_MAX_PORT,
    }
)

#: Written to fd 2 before the handshake line when import times are profiled.
MARK_HANDSHAKE = b"import time: --- go-plugin handshake line ---\n"

#: Same words a Go plugin prints when started by hand.
NOT_A_PROGRAM = (
    "This binary is a plugin. These are not meant to be executed directly. "
    "Please execute the program that consumes these plugins, which will "
    "load any plugins automatically"
)

Registrar = Callable[["grpc.Server", "ServerContext"], None]


class Handshake:
    """What a go-plugin client and server must agree on.

    (Plain classes here, not dataclasses: everything imported before the
    handshake line is start-up time the runner waits for.)
    """

    __slots__ = ("cookie_key", "cookie_value", "registrar")

    def __init__(self, cookie_key: str, cookie_value: str, registrar: Registrar | None = None) -> None:
        self.cookie_key = cookie_key
        self.cookie_value = cookie_value
        #: callback that adds the application services (for every negotiated version).
        self.registrar = registrar


class ServerContext:
    """Handed to the app registrar: the negotiated version and a stop switch."""

    def __init__(self, app_version: int) -> None:
        self.app_version = app_version
        self.stop = threading.Event()
        #: callables run (in order) once the gRPC server has stopped.
        self.on_stop: list[Callable[[], None]] = []
        #: callables run once the handshake line is out (work that must not delay it).
        self.after_handshake: list[Callable[[], None]] = []


class HandshakeError(Exception):
    """The client's environment cannot be served; the message says why."""


def negotiate_version(offered: str | None) -> int:
    """The application protocol version to announce: the highest the host offers.

    go-plugin's client refuses a handshake whose APP field is not one of the
    versions it put in ``PLUGIN_PROTOCOL_VERSIONS`` ("incompatible API version
    with plugin"). fleeting's client offers 0 (its ``Handshake.ProtocolVersion``);
    a host with versioned plugin sets offers several. This plugin serves the
    contract it reads from the host, so any offered version can be served and
    the highest is the host's own preference. Without the variable (a host
    older than versioned plugin sets) the answer is 0, fleeting's version.
    """
    if not offered:
        return 0
    theirs = []
    for item in offered.split(","):
        try:
            theirs.append(int(item.strip()))
        except ValueError:
            log.warning("ignoring invalid protocol version from client", extra={"value": item})
    return max(theirs, default=0)


def started_by_goplugin_host(env: Mapping[str, str]) -> bool:
    """go-plugin's client always sets these three; a person at a shell does not."""
    return ENV_PROTOCOL_VERSIONS in env and (ENV_MIN_PORT in env or ENV_MAX_PORT in env)


def cookie_accepted(handshake: Handshake, env: Mapping[str, str]) -> bool:
    """The magic cookie is a usability guard, not security (docs/protocol.md).

    fleeting's own cookie is checked first. A host that speaks go-plugin (its
    variables are set) is served even when its cookie differs: another
    go-plugin host of the fleeting contract, e.g. a test harness or a runner
    built from a fork, works too, and the difference is logged at debug."""
    if env.get(handshake.cookie_key) == handshake.cookie_value:
        return True
    if not started_by_goplugin_host(env):
        return False
    seen = {
        k: v[:32]
        for k, v in env.items()
        if k not in _GOPLUGIN_VARS
        and ("PLUGIN" in k.upper() or "FLEETING" in k.upper())
        and not any(w in k.upper() for w in ("TOKEN", "PASSWORD", "SECRET", "KEY_PATH"))
    }
    log.debug(
        "magic cookie differs from fleeting's; serving the go-plugin host anyway",
        extra={"expected": f"{handshake.cookie_key}={handshake.cookie_value}", "seen": seen},
    )
    return True


def _socket_path(env: Mapping[str, str]) -> str:
    """A fresh path in ``$PLUGIN_UNIX_SOCKET_DIR`` (else ``$TMPDIR``, else /tmp),
    named like Go's ``os.CreateTemp(dir, "plugin")`` plus this process's pid
    (``plugin-fo<pid>-<n>``: stale.py removes it at a later start if this process died);
    bind() refuses a taken one."""
    directory = env.get(ENV_UNIX_SOCKET_DIR) or env.get("TMPDIR") or "/tmp"
    for _ in range(100):
        path = os.path.join(directory, f"plugin-fo{os.getpid()}-{int.from_bytes(os.urandom(4), 'big')}")
        if not os.path.lexists(path):
            return path
    raise FileExistsError(f"no free socket name in {directory}")


def _make_group_writable(path: str, group: str) -> None:
    import grp

    gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    os.chown(path, -1, gid)
    os.chmod(path, 0o660)


def _watch_parent(stop: threading.Event) -> None:
    """Stop when the parent (the runner) is gone, so no orphan outlives it."""
    parent = os.getppid()
    while not stop.wait(1.0):
        if os.getppid() != parent:
            log.warning("parent process exited; shutting down", extra={"parent_pid": parent})
            stop.set()


def _exit_now(code: int) -> None:
    """Told to stop and cleaned up: exit now. Python would first wait for every worker thread
    (a call still in flight: an Increase's creates, a hung cloud request) whose answer nobody
    reads any more; go-plugin SIGKILLs the plugin 2 s after Controller.Shutdown. Only in the
    plugin process's main thread (a test serving in a thread keeps running)."""
    if threading.current_thread() is not threading.main_thread():
        return
    log.debug("plugin exited cleanly")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _start_grpc(handshake: Handshake, ctx: ServerContext, address: str, max_workers: int) -> grpc.Server:
    """gRPC, go-plugin's services and the application's, listening on ``address``."""
    from concurrent import futures

    import grpc

    from fleeting_openstack.transport import services as goplugin_services
    from fleeting_openstack.transport.reserve import RESERVED_WORKERS, Reserve

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=[Reserve(max_workers - RESERVED_WORKERS)],
        options=[("grpc.so_reuseport", 0)],
    )
    goplugin_services.add_to(server, ctx.stop)
    if handshake.registrar is not None:
        handshake.registrar(server, ctx)
    if not server.add_insecure_port("unix:" + address):
        raise OSError(f"gRPC cannot listen on {address}")
    server.start()
    return server


def serve(
    handshake: Handshake, env: Mapping[str, str] | None = None, stdout: TextIO | None = None, max_workers: int = 16
) -> int:
    """Run a go-plugin gRPC server until the client shuts it down.

    Returns the process exit code. Raises nothing for a bad environment: a Go
    plugin prints one human line on stderr and exits 1, and so does this.
    The handshake line goes out as soon as the front socket listens; gRPC is
    imported and started behind it afterwards (:mod:`.front`).
    """
    env = os.environ if env is None else env
    stdout = stdout or sys.stdout
    if not cookie_accepted(handshake, env):
        sys.stderr.write(NOT_A_PROGRAM + "\n")
        return 1

    version = negotiate_version(env.get(ENV_PROTOCOL_VERSIONS))
    ctx = ServerContext(app_version=version)
    # A Ctrl-C sent to the runner's process group must not kill the plugin
    # before the runner shuts it down; SIGTERM stops it cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: ctx.stop.set())

    from fleeting_openstack.transport.front import UnixFront

    path = _socket_path(env)
    client_cert = env.get(ENV_CLIENT_CERT, "")
    tls, server_cert = None, ""
    if client_cert:
        import base64

        from fleeting_openstack.transport import mtls

        tls, der = mtls.server_context(client_cert)
        server_cert = base64.b64encode(der).decode().rstrip("=")
    try:
        front = UnixFront(path, tls)
    except OSError as exc:
        log.error("plugin init error: cannot listen on unix socket", extra={"path": path, "error": str(exc)})
        return 1
    server = None
    try:
        front.start()
        group = env.get(ENV_UNIX_SOCKET_GROUP)
        if group:
            _make_group_writable(path, group)

        fields = [str(CORE_PROTOCOL_VERSION), str(version), "unix", path, "grpc", server_cert]
        if env.get(ENV_MULTIPLEX):
            # Honest answer: no yamux multiplexing here, so a client that
            # requires it fails at once with a clear error.
            fields.append("false")
        log.debug(
            "plugin address",
            extra={"network": "unix", "address": path, "app_protocol": version, "mtls": bool(client_cert)},
        )
        if env.get("PYTHONPROFILEIMPORTTIME"):
            # For bench/importprofile.py: where the line went out, in the same
            # stream (fd 2) and order as the interpreter's import-time lines.
            os.write(2, MARK_HANDSHAKE)
        stdout.write("|".join(fields) + "\n")
        stdout.flush()
        from fleeting_openstack.transport import stale

        stale.clean([os.path.dirname(path), os.environ.get("TMPDIR") or "/tmp"])

        try:
            server = _start_grpc(handshake, ctx, front.backend_path, max_workers)
        except Exception as exc:  # the client is waiting: say why, then exit
            log.exception("plugin init error: the gRPC server did not start: %s", exc)
            return 1
        front.backend_ready.set()
        for callback in ctx.after_handshake:
            callback()

        threading.Thread(target=_watch_parent, args=(ctx.stop,), name="parent-watch", daemon=True).start()
        while not ctx.stop.wait(1.0):
            pass
    finally:
        # One budget for the whole stop, started first: go-plugin SIGKILLs a plugin 2 s after
        # Controller.Shutdown, and calls still in flight (an Increase's creates, a hung cloud)
        # or a clean-up that hangs must not hold the process past it.
        from fleeting_openstack.transport.reserve import CALL_GRACE, EXIT_GRACE, exit_anyway

        exit_anyway(0, within=EXIT_GRACE)
        if server is not None:
            server.stop(grace=CALL_GRACE).wait(CALL_GRACE + 0.2)
        front.close()
        for callback in ctx.on_stop:
            try:
                callback()
            except Exception:  # shutdown must finish
                log.exception("error while stopping")
        if ctx.stop.is_set():
            _exit_now(0)
    log.debug("plugin exited cleanly")
    return 0
