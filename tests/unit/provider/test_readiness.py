"""Looking at an ACTIVE server's boot (provider/readiness.py): what the boot strategy is shown,
that a failing console read never fails the look, and that after a READY marker the
configured probe (on loopback listeners this test opens) must answer too."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from fleeting_openstack.config.model import ReadinessConfig
from fleeting_openstack.openstack.client import Address, CloudError, Server
from fleeting_openstack.plugin.types import Observation, ReadinessResult, ReadinessState
from fleeting_openstack.provider.readiness import Readiness
from fleeting_openstack.provider.states import Look

NOW = 1_700_000_000.0
SERVER = Server(
    id="s1",
    name="g-1",
    status="ACTIVE",
    task_state=None,
    created=NOW - 42,
    metadata={},
    tags=[],
    addresses=[
        Address("workers", "10.0.0.7", 4, "fixed"),
        Address("workers", "fd00::7", 6, "fixed"),
        Address("public", "203.0.113.7", 4, "floating"),
    ],
    image_id=None,
    flavor=None,
)


class Console:
    """``readiness.Console``: the console tail, or an error."""

    def __init__(self, text: str = "", error: Exception | None = None) -> None:
        self.text, self.error = text, error
        self.asked: list[tuple[str, int]] = []

    def console_tail(self, server_id: str, lines: int) -> str:
        self.asked.append((server_id, lines))
        if self.error is not None:
            raise self.error
        return self.text


class Strategy:
    """``readiness.ReadinessHook``: answers ``result`` and keeps what it was shown."""

    def __init__(self, result: ReadinessResult) -> None:
        self.result = result
        self.seen: list[Observation] = []

    def readiness(self, observation: Observation) -> ReadinessResult:
        self.seen.append(observation)
        return self.result


class Internal:
    """The provider's internal address of a server, counting the calls (a probe needs it)."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.address, self.calls = address, 0

    def __call__(self, server: Server) -> str:
        self.calls += 1
        return self.address


def readiness(
    result: ReadinessResult, console: Console | None = None, internal: Internal | None = None, **config: object
) -> Readiness:
    cfg = ReadinessConfig(**config)
    return Readiness(console or Console(), Strategy(result), cfg, internal or Internal())


def test_the_strategy_sees_the_console_tail_and_the_server():
    console = Console("Cloud-init v. 23.4 finished\n")
    ready = readiness(ReadinessResult.ready("cloud-init finished"), console, console_lines=30)
    assert ready.look(SERVER, NOW, 600.0) == Look(ReadinessState.READY, "cloud-init finished", True)
    assert console.asked == [("s1", 30)]
    (seen,) = ready.strategy.seen
    assert seen == Observation(
        status="ACTIVE",
        age_seconds=42.0,
        boot_time_seconds=600.0,
        console_tail="Cloud-init v. 23.4 finished\n",
        addresses={"workers": ["10.0.0.7", "fd00::7"], "public": ["203.0.113.7"]},
    )


def test_a_failing_console_read_is_shown_as_no_tail():
    ready = readiness(ReadinessResult(ReadinessState.WAITING, "no console"), Console(error=CloudError("HTTP 409", 409)))
    assert ready.look(SERVER, NOW, 600.0) == Look(ReadinessState.WAITING, "no console", False)
    assert ready.strategy.seen[0].console_tail is None


@pytest.mark.parametrize("state", [ReadinessState.WAITING, ReadinessState.FAILED])
def test_no_probe_before_the_marker(state):
    internal = Internal()
    ready = readiness(ReadinessResult(state, "r"), internal=internal, probe="tcp", probe_port=1)
    assert ready.look(SERVER, NOW, 600.0) == Look(state, "r", False)
    assert internal.calls == 0


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that accepts connections (the kernel completes them: no accept needed)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_a_tcp_probe_must_answer_after_the_marker(listener):
    port = listener.getsockname()[1]
    marker = ReadinessResult.ready("marker")
    assert readiness(marker, probe="tcp", probe_port=port, probe_timeout=1.0).look(SERVER, NOW, 600.0).probe_ok
    closed = readiness(marker, probe="tcp", probe_port=closed_port(), probe_timeout=1.0)
    assert closed.look(SERVER, NOW, 600.0) == Look(ReadinessState.READY, "marker", False)


def test_a_server_without_an_internal_address_fails_the_probe(listener):
    internal = Internal("")
    ready = readiness(ReadinessResult.ready(), internal=internal, probe="tcp", probe_port=listener.getsockname()[1])
    assert not ready.look(SERVER, NOW, 600.0).probe_ok and internal.calls == 1


def serve_banner(payload: bytes) -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)

    def run() -> None:
        conn, _ = sock.accept()
        conn.sendall(payload)
        conn.close()
        sock.close()

    threading.Thread(target=run, daemon=True).start()
    return sock.getsockname()[1]


def test_an_ssh_banner_probe_needs_sshs_identification_line():
    def probe(payload: bytes) -> bool:
        port = serve_banner(payload)
        ready = readiness(ReadinessResult.ready(), probe="ssh-banner", probe_port=port, probe_timeout=1.0)
        return ready.look(SERVER, NOW, 600.0).probe_ok

    assert probe(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    assert not probe(b"HTTP/1.1 400 Bad Request\r\n")  # something answers, but not sshd


def test_without_a_probe_the_marker_is_enough():
    internal = Internal()
    ready = readiness(ReadinessResult.ready("marker"), internal=internal)  # probe "none"
    assert ready.probe(SERVER) and ready.look(SERVER, NOW, 600.0).probe_ok
    assert internal.calls == 0
