"""Commands for people: ``status``, ``reap`` and ``plugins``.

All three read what ``validate`` reads — a plugin_config JSON file or the
runner's ``config.toml`` (its ``[runners.autoscaler.plugin_config]`` and
``[runners.autoscaler.connector_config]``; ``--runner NAME`` picks one runner
when several use this plugin) — through :mod:`fleeting_openstack.validate`, so
a config these commands accept is one the runner's plugin accepts.

* ``status``: every server of the group, with the state the plugin reports to
  the runner. The state comes from the provider's own Update logic run
  read-only (``OpenStackProvider(observe=True)``): nothing is deleted, tagged
  or written, so it is safe next to a running runner.
* ``reap``: what the group leaked — servers the plugin would delete, Neutron
  ports and floating IPs, Nova keypairs and Cinder volumes (see
  :func:`find_leaks` for the exact rules) — listed, and deleted only with
  ``--yes``.
* ``plugins``: the installed boot strategies and site plugins.

Output: a table for people, ``--json`` for scripts (stdout). Anything that
waits on the cloud shows a one-line spinner on stderr, only when stderr is a
terminal (never in pipes, logs or CI), erased before the result is printed.

Exit status (the scheme of every command, :mod:`.cmdline`): 0 done; 1 problems
found (an invalid configuration, Init fails, the cloud refused, a delete
failed); 2 bad usage or cannot run (an unreadable file, no such runner).

The runtime path talks to OpenStack only through :mod:`.openstack`; these
commands also use that adapter's SDK connection (``cloud.conn``) for the
Neutron, Cinder and keypair calls the plugin itself never makes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import shutil
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, TextIO

PROG = "fleeting-plugin-openstack"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: Order in which ``reap --yes`` deletes what it found.
KINDS = ("server", "floating_ip", "port", "keypair", "volume")


class CommandError(Exception):
    """Stops a command: ``message`` for stderr, ``code`` for the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------
# Progress on stderr
# --------------------------------------------------------------------------

class Progress:
    """A one-line spinner on ``stream`` while the cloud is asked something.

    Enabled only when ``stream`` is a terminal (or ``enabled=True``); the line
    is erased on exit, so the command's own output starts on a clean line.
    """

    FRAMES = "|/-\\"

    def __init__(self, stream: TextIO, text: str = "", *, enabled: bool | None = None,
                 interval: float = 0.1) -> None:
        self.stream = stream
        if enabled is None:
            isatty = getattr(stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.text = text
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        self.text = text
        self._draw()

    def _draw(self, frame: str = "") -> None:
        if not self.enabled:
            return
        width = max(20, shutil.get_terminal_size((80, 24)).columns - 3)
        with self._lock:
            self.stream.write(f"\r{frame or self.FRAMES[0]} {self.text[:width]}\x1b[K")
            self.stream.flush()

    def _spin(self) -> None:
        i = 0
        while not self._stop.wait(self.interval):
            i += 1
            self._draw(self.FRAMES[i % len(self.FRAMES)])

    def __enter__(self) -> "Progress":
        if self.enabled:
            self._draw()
            self._thread = threading.Thread(target=self._spin, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            with self._lock:
                self.stream.write("\r\x1b[K")
                self.stream.flush()


# --------------------------------------------------------------------------
# Input: the same files as validate
# --------------------------------------------------------------------------

@dataclass
class Target:
    """The plugin_config (and connector_config) a command works on."""

    source: str
    path: str  # "" for a plugin_config file, else runners[i].autoscaler.plugin_config
    runner: str | None
    config: Any  # PluginConfig
    raw: Mapping[str, Any]  # plugin_config as written (what the runner sends)
    connector: Any  # ConnectorConfig
    use_external_addr: bool = False
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "runner": self.runner, "path": self.path,
                "group": self.config.name, "provider_id": self.config.provider_id,
                "cloud": self.config.cloud, "strategy": self.config.strategy}


_RUNNER_PATH = re.compile(r"runners\[(\d+)\]")


def _connector(table: Any, warnings: list[str], where: str) -> tuple[Any, bool]:
    """The runner's connector_config table as the ConnectorConfig the plugin receives."""
    from fleeting_openstack.instancegroup import ConnectorConfig

    if not isinstance(table, Mapping):
        return ConnectorConfig(), False
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
    return ConnectorConfig(
        os=text("os"), arch=text("arch"), protocol=text("protocol"),
        protocol_port=port if isinstance(port, int) and not isinstance(port, bool) else 0,
        username=text("username"), password=text("password"), key=key,
        use_static_credentials=table.get("use_static_credentials") is True,
    ), table.get("use_external_addr") is True


def load_target(path: str, runner: str | None = None) -> Target:
    """Validate ``path`` like ``validate`` does and return the one plugin_config to use.

    :raises CommandError: unreadable file (2), invalid config (2), no or several
        matching runners (2).
    """
    from fleeting_openstack import validate

    try:
        report = validate.validate_path(path)
    except validate.UnreadableFileError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    warnings_all = [f"{w.path}: {w.message}" if w.path else w.message for w in report.warnings]

    if report.kind == "plugin_config":
        if runner is not None:
            raise CommandError(f"{path}: --runner applies to a runner config.toml, not to a plugin_config file",
                               EXIT_USAGE)
        if report.errors:
            raise CommandError(report.format_text(), EXIT_FAILED)
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        from fleeting_openstack.instancegroup import ConnectorConfig

        chosen = report.configs[0]
        return Target(str(path), "", None, chosen.config, raw, ConnectorConfig(), False, warnings_all)

    try:
        data: Any = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        data = None
    runners = data.get("runners") if isinstance(data, Mapping) else None
    runners = runners if isinstance(runners, list) else []
    ours: dict[int, str | None] = {}
    for issue in list(report.errors) + list(report.configs):  # type: ignore[operator]
        m = _RUNNER_PATH.match(issue.path)
        if m and ".autoscaler.plugin" in issue.path:
            i = int(m.group(1))
            entry = runners[i] if i < len(runners) and isinstance(runners[i], Mapping) else {}
            name = entry.get("name")
            ours[i] = name if isinstance(name, str) else None

    def label(i: int) -> str:
        return ours[i] or f"#{i}"

    if runner is not None:
        picked = [i for i in ours if ours[i] == runner] or \
                 ([int(runner)] if runner.isdigit() and int(runner) in ours else [])
        if not picked:
            known = ", ".join(label(i) for i in sorted(ours)) or "none"
            raise CommandError(f"{path}: no runner {runner!r} uses fleeting-plugin-openstack "
                               f"(runners that do: {known})", EXIT_USAGE)
        index = picked[0]
    else:
        if len(ours) > 1:
            raise CommandError(f"{path}: {len(ours)} runners use fleeting-plugin-openstack "
                               f"({', '.join(label(i) for i in sorted(ours))}): choose one with --runner NAME",
                               EXIT_USAGE)
        if report.errors or not ours:
            raise CommandError(report.format_text(), EXIT_FAILED if report.errors else EXIT_USAGE)
        index = next(iter(ours))
    prefix = f"runners[{index}]"
    own_errors = [e for e in report.errors if e.path == prefix or e.path.startswith(prefix + ".")]
    chosen_cfg = next((c for c in report.configs if c.path.startswith(prefix + ".")), None)
    if own_errors or chosen_cfg is None:
        lines = [f"{path}: {e.path}: error: {e.message}" for e in own_errors] or [report.format_text()]
        raise CommandError("\n".join(lines), EXIT_FAILED)
    autoscaler = runners[index]["autoscaler"]
    warnings = [w for w in warnings_all if w.startswith(prefix + ".") or not w.startswith("runners[")]
    connector, external = _connector(autoscaler.get("connector_config"), warnings,
                                     f"{prefix}.autoscaler.connector_config")
    return Target(str(path), chosen_cfg.path, chosen_cfg.runner, chosen_cfg.config,
                  autoscaler["plugin_config"], connector, external, warnings)


def observe(target: Target) -> Any:
    """A read-only provider initialised exactly as the plugin's Init would be."""
    from fleeting_openstack.instancegroup import Settings
    from fleeting_openstack.provider import OpenStackProvider

    provider = OpenStackProvider(observe=True)
    try:
        provider.init(json.dumps(target.raw).encode(), Settings(target.connector))
    except ValueError as exc:
        raise CommandError(f"Init failed: {exc}", EXIT_FAILED) from None
    return provider


# --------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------

def human_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{m:02d}m"
    days, h = divmod(hours, 24)
    return f"{days}d{h:02d}h"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < len(cells) - 1 else c
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers)] + [line(r) for r in rows])


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(text: str | None) -> float | None:
    """Timestamps of Neutron/Cinder/Nova: with or without a zone (no zone = UTC)."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


@contextlib.contextmanager
def _quiet_logs(verbose: bool, stream: TextIO) -> Iterator[None]:
    """Plain log lines on stderr; the provider's own warnings only with -v (status
    already shows them as reasons). Restores the logging setup afterwards."""
    root = logging.getLogger()
    provider_log = logging.getLogger("fleeting_openstack.provider")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    old = (root.level, provider_log.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:
        provider_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old[0])
        provider_log.setLevel(old[1])


# --------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------

def server_rows(provider: Any, target: Target, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Every group server as a dict (the ``--json`` shape of ``status``)."""
    from fleeting_openstack.instancegroup import State

    now = time.time()
    rows = []
    for server, state in provider.evaluate():
        if server.status == "ERROR" and not server.fault:
            with contextlib.suppress(Exception):  # list answers may omit the fault
                server = provider.cloud.get_server(server.id)
        if progress is not None:
            progress.say(f"looking at {server.name}")
        try:
            internal, external = provider._addresses(server)
        except Exception:  # noqa: BLE001 - an address problem must not hide the server
            internal, external = "", ""
        image = provider._server_image(server)
        rows.append({
            "id": server.id,
            "name": server.name,
            "nova_status": server.status,
            "task_state": server.task_state,
            "state": state.value if isinstance(state, State) else str(state),
            "reason": provider.reasons.get(server.id, ""),
            "plugin_deletes": server.id in provider.would_reap,
            "created": _iso(server.created),
            "age_seconds": round(server.age(now), 1),
            "internal_addr": internal,
            "external_addr": external,
            "connect_addr": (external or internal) if target.use_external_addr else internal,
            "addresses": [{"network": a.network, "ip": a.ip, "version": a.version, "type": a.kind}
                          for a in server.addresses],
            "image": {"id": image.id if image else server.image_id, "name": image.name if image else None},
            "flavor": server.flavor,
            "fault": server.fault or None,
        })
    rows.sort(key=lambda r: (r["created"], r["name"]))
    return rows


def format_status(target: Target, problems: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    cfg = target.config
    where = f"runner {target.runner!r}, " if target.runner else ""
    lines = [f"group {cfg.name} ({where}cloud {cfg.cloud or '(OS_* environment)'}, strategy {cfg.strategy}): "
             f"{len(rows)} server{'s' if len(rows) != 1 else ''}"]
    for p in problems:
        lines.append(f"Init would fail: {p}")
    if rows:
        body = []
        for r in rows:
            reason = r["reason"] + (" -> the plugin deletes it" if r["plugin_deletes"] else "")
            body.append([r["name"], r["id"][:8], r["nova_status"], r["state"], human_age(r["age_seconds"]),
                         r["internal_addr"] or "-", r["external_addr"] or "-",
                         r["image"]["name"] or (r["image"]["id"] or "-"), r["flavor"] or "-", reason])
        rendered = table(["NAME", "ID", "NOVA", "STATE", "AGE", "INTERNAL", "EXTERNAL", "IMAGE", "FLAVOR",
                          "READINESS"], body).split("\n")
        lines.append(rendered[0])
        for r, text in zip(rows, rendered[1:]):
            lines.append(text)
            if r["fault"]:
                lines.append(f"    fault: {r['fault']}")
        doomed = sum(1 for r in rows if r["plugin_deletes"])
        if doomed:
            lines.append(f"{doomed} server{'s' if doomed != 1 else ''} the plugin deletes at its next Update; "
                         f"`{PROG} reap` shows everything the group leaked")
        lines.append("runner connects to: " + ("external" if target.use_external_addr else "internal")
                     + " addresses (connector_config.use_external_addr)")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    target = load_target(args.path, args.runner)
    with Progress(err, "connecting to the cloud") as progress:
        provider = observe(target)
        try:
            progress.say(f"listing the servers of group {target.config.name}")
            rows = server_rows(provider, target, progress)
        finally:
            provider.close()
    for w in target.warnings:
        err.write(f"warning: {w}\n")
    if args.json:
        doc = dict(target.describe(), use_external_addr=target.use_external_addr,
                   problems=list(provider.problems), warnings=target.warnings, servers=rows)
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(format_status(target, provider.problems, rows) + "\n")
    return EXIT_OK


# --------------------------------------------------------------------------
# reap
# --------------------------------------------------------------------------

@dataclass
class Leak:
    kind: str  # one of KINDS
    id: str
    name: str
    reason: str
    action: str = "would delete"  # "would delete" | "deleted" | "failed"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "reason": self.reason,
                "action": self.action, "error": self.error}


def name_pattern(template: str) -> re.Pattern[str]:
    """The names the plugin gives this group's servers (see provider._server_name)."""
    if "%d" in template:
        before, _, after = template.partition("%d")
        return re.compile(re.escape(before) + r"[0-9]+" + re.escape(after))
    return re.compile(re.escape(template) + r"-[0-9]+")


class _Finder:
    """Looks for what one group leaked; every rule is in :func:`find_leaks`."""

    def __init__(self, provider: Any, target: Target, progress: Progress | None) -> None:
        from fleeting_openstack.provider import group_tag

        self.provider = provider
        self.cloud = provider.cloud
        self.conn = provider.cloud.conn
        self.cfg = target.config
        self.tag = group_tag(self.cfg.name)
        self.names = name_pattern(self.cfg.server_spec.name_template)
        self.progress = progress
        self.notes: list[str] = []
        self._deleted: dict[str, Any] | None = None
        self.project_id = self.conn.current_project_id

    def say(self, text: str) -> None:
        if self.progress is not None:
            self.progress.say(text)

    def marked(self, resource: Any) -> str:
        """How ``resource`` is marked with the group ("" if not): by a tag, or by its description."""
        if self.tag in (getattr(resource, "tags", None) or []):
            return f"carries the group tag {self.tag}"
        if self.tag in (getattr(resource, "description", None) or ""):
            return f"its description contains {self.tag}"
        return ""

    def deleted_servers(self) -> dict[str, Any]:
        """Deleted servers of the group (Nova keeps them, without metadata or tags, until
        its database is archived): found by the group's name pattern."""
        if self._deleted is None:
            self.say("listing deleted servers of the group")
            template = self.cfg.server_spec.name_template
            prefix = template.partition("%d")[0] if "%d" in template else template
            found = self.cloud.list_servers({"changes-since": "1970-01-01T00:00:00Z",
                                             "name": "^" + re.escape(prefix)})
            self._deleted = {s.id: s for s in found
                             if s.status.upper() == "DELETED" and self.names.fullmatch(s.name)}
        return self._deleted

    # -- the rules ------------------------------------------------------------
    def servers(self, evaluated: Sequence[tuple[Any, Any]]) -> list[Leak]:
        return [Leak("server", s.id, s.name, self.provider.would_reap[s.id])
                for s, _ in evaluated if s.id in self.provider.would_reap]

    def ports(self, ports: Sequence[Any], live_ids: set[str]) -> list[Leak]:
        networks = self.cfg.server_spec.networks
        keep = {n.get("port") for n in networks if isinstance(n, Mapping)} if isinstance(networks, list) else set()
        leaks = []
        for port in ports:
            if port.id in keep:
                continue
            device = port.device_id or ""
            owner = port.device_owner or ""
            if device and (device in live_ids or not owner.startswith("compute:")):
                continue  # in use by a server that exists, or by a router, DHCP...
            if self.marked(port):
                how = f"device {device} is gone" if device else "attached to nothing"
                leaks.append(Leak("port", port.id, port.name or "", f"{self.marked(port)}; {how}"))
            elif owner.startswith("compute:") and device and device in self.deleted_servers():
                name = self.deleted_servers()[device].name
                leaks.append(Leak("port", port.id, port.name or "",
                                  f"still bound to deleted group server {name} ({device})"))
        return leaks

    def floating_ips(self, leaked_ports: set[str]) -> list[Leak]:
        self.say("listing floating IPs")
        leaks = []
        for fip in self.conn.network.ips(project_id=self.project_id):
            port = fip.port_id or ""
            if port in leaked_ports:
                leaks.append(Leak("floating_ip", fip.id, fip.floating_ip_address or "",
                                  f"associated with leaked port {port}"))
            elif self.marked(fip) and not port:
                leaks.append(Leak("floating_ip", fip.id, fip.floating_ip_address or "",
                                  f"{self.marked(fip)}; not associated"))
        return leaks

    def keypairs(self, live_names: set[str]) -> list[Leak]:
        self.say("listing keypairs")
        configured = self.cfg.server_spec.body.get("key_name")
        own = (f"fleeting-{self.cfg.name}", self.tag)
        leaks = []
        for kp in self.conn.compute.keypairs():
            if kp.name == configured:
                continue  # the operator's keypair, used by every server: never
            if kp.name in own or kp.name.startswith(own[0] + "-"):
                leaks.append(Leak("keypair", kp.name, kp.name, "named for the group"))
            elif self.names.fullmatch(kp.name) and kp.name not in live_names:
                leaks.append(Leak("keypair", kp.name, kp.name,
                                  "named like a group server that no longer exists"))
        return leaks

    def volumes(self) -> list[Leak]:
        catalog = {entry.get("type") for entry in (self.conn.service_catalog or [])}
        if not catalog & {"block-storage", "volumev3", "volumev2", "volume"}:
            self.notes.append("no block-storage (Cinder) service in the catalog: volumes not checked")
            return []
        self.say("listing volumes")
        bdm = [b for b in self.cfg.server_spec.block_device_mapping_v2
               if b.get("destination_type") == "volume" and b.get("source_type") in ("image", "blank", "snapshot")
               and not b.get("delete_on_termination")]
        leaks = []
        for vol in self.conn.block_storage.volumes(details=True):
            if vol.status != "available" or vol.attachments:
                continue
            meta = vol.metadata or {}
            name = vol.name or ""
            if meta.get("fleeting-cluster") == self.cfg.name or self.marked(vol):
                leaks.append(Leak("volume", vol.id, name, "marked with the group (metadata/description)"))
                continue
            if name.endswith("-blank-vol") and name[:-len("-blank-vol")] in self.deleted_servers():
                sid = name[:-len("-blank-vol")]
                leaks.append(Leak("volume", vol.id, name, f"blank volume Nova made for deleted group server "
                                                          f"{self.deleted_servers()[sid].name}"))
                continue
            if bdm and not name:
                created = _utc(getattr(vol, "created_at", None))
                owner = self._building_at(created) if created is not None else None
                if owner is not None and any(not b.get("volume_size") or b.get("volume_size") == vol.size
                                             for b in bdm):
                    leaks.append(Leak("volume", vol.id, name,
                                      f"unnamed volume created while deleted group server {owner.name} was "
                                      "building (block_device_mapping_v2 without delete_on_termination)"))
        return leaks

    def _building_at(self, when: float) -> Any:
        for server in self.deleted_servers().values():
            if server.created - 5 <= when <= server.created + self.cfg.build_timeout:
                return server
        return None


def find_leaks(provider: Any, target: Target, evaluated: Sequence[tuple[Any, Any]],
               progress: Progress | None = None) -> tuple[list[Leak], list[str]]:
    """What the group leaked, and notes about what could not be checked.

    Rules (the plugin itself creates only servers; ports, floating IPs,
    keypairs and volumes are found so that leftovers of Nova, of earlier
    versions, of the Go plugin and of site scripts that follow the convention
    are cleaned up too):

    * **servers**: those the plugin would delete at its next Update (ERROR,
      SHUTOFF and the other unusable statuses, stuck in BUILD longer than
      ``build_timeout``, failed boots, ``on_boot_timeout = "delete"``);
    * **ports**: tagged ``fleeting:<group>`` (or with that in their
      description) and not used by an existing server; or still bound
      (``device_owner compute:*``) to a *deleted* server of the group (found in
      Nova's deleted servers by the group's name pattern). Ports named in
      ``server_spec.networks[].port`` are never touched;
    * **floating IPs**: associated with such a port, or tagged/described like
      above and not associated with an existing port;
    * **keypairs**: named ``fleeting-<group>``, ``fleeting-<group>-*`` or
      ``fleeting:<group>``, or named like a group server that no longer
      exists; never ``server_spec.key_name``;
    * **volumes** (``available`` and unattached only): metadata
      ``fleeting-cluster=<group>`` or tagged/described like above;
      ``<server-id>-blank-vol`` of a deleted group server; or, when
      ``block_device_mapping_v2`` creates volumes without
      ``delete_on_termination``, an unnamed volume (Nova names them "")
      created while a deleted group server was building.
    """
    finder = _Finder(provider, target, progress)
    leaks = finder.servers(evaluated)
    finder.say("listing the project's servers")
    live = list(provider.cloud.list_servers({}))
    live_ids = {s.id for s in live}
    finder.say("listing Neutron ports")
    ports = finder.ports(list(finder.conn.network.ports(project_id=finder.project_id)), live_ids)
    leaks += finder.floating_ips({p.id for p in ports})
    leaks += ports
    leaks += finder.keypairs({s.name for s in live})
    leaks += finder.volumes()
    leaks.sort(key=lambda leak: KINDS.index(leak.kind))
    return leaks, finder.notes


def delete_leak(provider: Any, leak: Leak) -> None:
    """Delete one leaked resource; gone already counts as deleted."""
    from fleeting_openstack.openstack import NotFound

    conn = provider.cloud.conn
    if leak.kind == "server":
        try:
            provider.cloud.delete_server(leak.id)
        except NotFound:
            pass
    elif leak.kind == "floating_ip":
        conn.network.delete_ip(leak.id, ignore_missing=True)
    elif leak.kind == "port":
        conn.network.delete_port(leak.id, ignore_missing=True)
    elif leak.kind == "keypair":
        conn.compute.delete_keypair(leak.id, ignore_missing=True)
    elif leak.kind == "volume":
        conn.block_storage.delete_volume(leak.id, ignore_missing=True)
    else:  # pragma: no cover
        raise ValueError(f"unknown kind {leak.kind}")


def format_reap(target: Target, leaks: Sequence[Leak], notes: Sequence[str], deleting: bool) -> str:
    cfg = target.config
    if not leaks:
        lines = [f"group {cfg.name}: nothing leaked"]
    else:
        rows = [[leak.kind, leak.id, leak.name or "-",
                 leak.action + (f": {leak.error}" if leak.error else ""), leak.reason] for leak in leaks]
        lines = [f"group {cfg.name}: {len(leaks)} leaked resource{'s' if len(leaks) != 1 else ''}",
                 table(["KIND", "ID", "NAME", "ACTION", "WHY"], rows)]
        if not deleting:
            lines.append(f"nothing was deleted; run again with --yes to delete "
                         f"{'it' if len(leaks) == 1 else 'them'}")
        else:
            failed = sum(1 for leak in leaks if leak.action == "failed")
            lines.append(f"{len(leaks) - failed} deleted, {failed} failed" if failed
                         else f"{len(leaks)} deleted (servers finish deleting in the background)")
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


def cmd_reap(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    target = load_target(args.path, args.runner)
    with Progress(err, "connecting to the cloud") as progress:
        provider = observe(target)
        try:
            progress.say(f"evaluating the servers of group {target.config.name}")
            evaluated = provider.evaluate()
            leaks, notes = find_leaks(provider, target, evaluated, progress)
            if args.yes:
                for leak in leaks:
                    progress.say(f"deleting {leak.kind} {leak.name or leak.id}")
                    try:
                        delete_leak(provider, leak)
                        leak.action = "deleted"
                    except Exception as exc:  # noqa: BLE001 - report it, go on with the rest
                        leak.action, leak.error = "failed", str(exc) or type(exc).__name__
        finally:
            provider.close()
    for w in target.warnings:
        err.write(f"warning: {w}\n")
    failed = [leak for leak in leaks if leak.action == "failed"]
    if args.json:
        doc = dict(target.describe(), deleted=bool(args.yes), ok=not failed,
                   resources=[leak.to_dict() for leak in leaks], notes=notes)
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(format_reap(target, leaks, notes, bool(args.yes)) + "\n")
    for leak in failed:
        err.write(f"error: deleting {leak.kind} {leak.id} failed: {leak.error}\n")
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------
# plugins
# --------------------------------------------------------------------------

HOOK_PREFIX = "fleeting_"


def plugin_rows(manager: Any) -> list[dict[str, Any]]:
    rows = []
    for info in manager.installed():
        rows.append({"name": info.name, "version": info.version,
                     "kind": "strategy" if info.strategies else "site",
                     "strategies": list(info.strategies), "hooks": list(info.hooks)})
    return rows


def cmd_plugins(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack.strategies import BLOCK_ENV, ENTRY_POINT_GROUP, StrategyError, StrategyManager

    selected = None
    if args.runner and not args.path:
        raise CommandError("--runner needs PATH (a runner config.toml)", EXIT_USAGE)
    if args.path:
        target = load_target(args.path, args.runner)
        selected = target.config.strategy
    try:
        manager = StrategyManager.load()
    except StrategyError as exc:
        raise CommandError(f"loading plugins failed: {exc}", EXIT_FAILED) from None
    rows = plugin_rows(manager)
    if args.json:
        doc = {"entry_point_group": ENTRY_POINT_GROUP, "blocked": sorted(manager.blocked),
               "strategies": manager.strategy_names(), "selected_strategy": selected, "plugins": rows}
        out.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK
    body = []
    for r in rows:
        strategies = ", ".join(("*" if s == selected else "") + s for s in r["strategies"]) or "-"
        hooks = ", ".join(h[len(HOOK_PREFIX):] if h.startswith(HOOK_PREFIX) else h for h in r["hooks"]) or "-"
        body.append([r["name"], r["version"] or "-", r["kind"], strategies, hooks])
    lines = [table(["PLUGIN", "VERSION", "KIND", "STRATEGIES", "HOOKS (fleeting_*)"], body)]
    if selected:
        lines.append(f"* selected by {args.path}" + ("" if selected in manager.strategy_names()
                                                     else f" -- {selected!r} is NOT installed"))
    if manager.blocked:
        lines.append(f"blocked by {BLOCK_ENV}: {', '.join(sorted(manager.blocked))}")
    lines.append(f"plugins come from the entry-point group {ENTRY_POINT_GROUP!r}; "
                 "see docs/strategies.md")
    out.write("\n".join(lines) + "\n")
    return EXIT_OK


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------

HELP = {
    "status": "every server of the group and the state the plugin reports (read-only)",
    "reap": "what the group leaked; deleted only with --yes",
    "plugins": "installed boot strategies and site plugins, with their hooks",
}
DESCRIPTIONS = {
    "status": "Every server of the group: Nova status, the state the plugin reports to the runner, "
              "age, addresses, image, flavor, readiness and fault. Read-only.",
    "reap": "Find what the group leaked (unusable servers, ports, floating IPs, keypairs, volumes); "
            "delete it only with --yes.",
    "plugins": "Installed boot strategies and site plugins, their versions and hooks; with PATH, the "
               "strategy that config selects is marked.",
}


def add_arguments(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The arguments of ``command`` (a subparser of :func:`fleeting_openstack.cmdline.build_parser`)."""
    from fleeting_openstack.cmdline import add_path

    add_path(parser, optional=command == "plugins")
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    if command == "reap":
        parser.add_argument("--yes", action="store_true", help="really delete what was found")
    if command != "plugins":
        parser.add_argument("-v", "--verbose", action="store_true", help="log lines of the plugin and SDK")
    return parser


COMMANDS = {"status": cmd_status, "reap": cmd_reap, "plugins": cmd_plugins}


def main(command: str, argv: Sequence[str], *, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run ``command`` (status, reap, plugins) with ``argv``; returns the exit status."""
    from fleeting_openstack import cmdline

    return cmdline.main([command, *argv], stdout=stdout, stderr=stderr)


def run(command: str, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``command`` for parsed ``args``; returns the exit status."""
    try:
        with _quiet_logs(getattr(args, "verbose", False), err):
            return COMMANDS[command](args, out, err)
    except CommandError as exc:
        err.write(f"{PROG} {command}: {exc}\n")
        return exc.code
    except Exception as exc:  # noqa: BLE001 - the cloud failed: one line, the trace with -v
        if getattr(args, "verbose", False):
            raise
        err.write(f"{PROG} {command}: {type(exc).__name__}: {exc}\n")
        return EXIT_FAILED
