"""The runner's ``connector_config`` table: what the plugin receives from it at Init, and what in it cannot work.

Read from a runner's ``config.toml`` (:mod:`.sources`) in plain values: the CLI makes the wire
contract's ``ConnectorConfig`` of a :class:`RunnerConnector`, so ``config`` imports no contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fleeting_openstack.config.issues import ConfigIssue

__all__ = ["RunnerConnector", "connector_config", "connector_issues"]


@dataclass(frozen=True)
class RunnerConnector:
    """The runner's ``connector_config`` table as read from config.toml: what the plugin receives at
    Init (fleeting's ConnectorConfig) and ``use_external_addr``. Secrets are kept out of its repr."""

    os: str = ""
    arch: str = ""
    protocol: str = ""
    protocol_port: int = 0
    username: str = ""
    password: str = field(default="", repr=False)
    key: bytes = field(default=b"", repr=False)
    use_static_credentials: bool = False
    use_external_addr: bool = False


def connector_config(table: object, warnings: list[str], where: str) -> RunnerConnector:
    """The runner's connector_config table as the fields the plugin receives."""
    if not isinstance(table, Mapping):
        return RunnerConnector()
    key = b""
    key_path = table.get("key_path")
    if isinstance(key_path, str) and key_path:
        try:
            key = Path(key_path).read_bytes()
        except OSError as exc:
            # The runner (another user, maybe) reads it; all Init needs to know is that one is set.
            warnings.append(f"{where}.key_path: cannot read {key_path}: {exc.strerror or exc}")
            key = b"(unreadable)"

    def text(name: str) -> str:
        value = table.get(name)
        return value if isinstance(value, str) else ""

    port = table.get("protocol_port")
    return RunnerConnector(
        os=text("os"),
        arch=text("arch"),
        protocol=text("protocol"),
        protocol_port=port if isinstance(port, int) and not isinstance(port, bool) else 0,
        username=text("username"),
        password=text("password"),
        key=key,
        use_static_credentials=table.get("use_static_credentials") is True,
        use_external_addr=table.get("use_external_addr") is True,
    )


def connector_issues(table: object, where: str) -> list[ConfigIssue]:
    """What in the runner's connector_config table (at ``where``) cannot work, found offline:
    a ``key_path`` that does not exist (unreadable by this user: a warning, the runner may run as
    another), static credentials without a key or password, durations beyond Go's range."""
    from fleeting_openstack.godurations import parse_duration

    if not isinstance(table, Mapping):
        return []
    found: list[ConfigIssue] = []
    key_path = table.get("key_path")
    if isinstance(key_path, str) and key_path:
        try:
            with open(key_path, "rb"):
                pass
        except PermissionError as exc:
            found.append(
                ConfigIssue(
                    f"{where}.key_path",
                    f"cannot read {key_path} as this user ({exc.strerror}): the runner reads it at start; make it "
                    "readable by the user gitlab-runner runs as",
                    "warning",
                )
            )
        except OSError as exc:
            found.append(
                ConfigIssue(
                    f"{where}.key_path",
                    f"cannot read {key_path}: {exc.strerror or exc}: the runner fails to start this runner; give "
                    "the path of the private key of server_spec.key_name, or remove key_path",
                )
            )
    if table.get("use_static_credentials") is True and not key_path and not table.get("password"):
        found.append(
            ConfigIssue(
                f"{where}.use_static_credentials",
                "is true but neither key_path nor password is set: the runner has nothing to log in with; set "
                "key_path (the private key of server_spec.key_name) or password",
            )
        )
    for key in ("keepalive", "timeout"):
        value = table.get(key)
        if isinstance(value, str):
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                found.append(ConfigIssue(f"{where}.{key}", f"{exc}; gitlab-runner refuses it"))
                continue
            if seconds < 0:
                found.append(ConfigIssue(f"{where}.{key}", f"must not be negative (got {value!r})"))
    return found
