"""Where a plugin_config comes from: a JSON file or a gitlab-runner ``config.toml``, read once.

``validate`` and the commands for people (``status``, ``reap``,
``render-user-data``, ``plugins``) take a PATH that is either a plugin_config
JSON file or the runner's ``config.toml``. :func:`read_source` reads it once,
finds every ``[[runners]]`` entry that uses this plugin, and loads each
plugin_config once (:func:`.load.load_plugin_config`): a :class:`Source` with,
per entry, the runner's name, the plugin_config as written (what the runner
sends), the :class:`~.model.PluginConfig` and the runner's
``connector_config`` as a :class:`~.connector.RunnerConnector` (plain values: the CLI makes the wire
contract's ``ConnectorConfig`` of it, so ``config`` imports no contract).
Every problem found on the way is a :class:`~.issues.ConfigIssue` with its
path (``runners[0].autoscaler.plugin_config.server_spec.name``), in the order
``validate`` reports them.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fleeting_openstack.config.connector import RunnerConnector, connector_config, connector_issues
from fleeting_openstack.config.issues import ConfigError, ConfigIssue
from fleeting_openstack.config.load import load_plugin_config, parse_document
from fleeting_openstack.config.model import LoadedConfig
from fleeting_openstack.jsontypes import JSONValue

__all__ = [
    "AUTOSCALER_EXECUTORS",
    "GO_PLUGINS",
    "ConfigEntry",
    "NoSuchRunnerError",
    "Source",
    "UnreadableFileError",
    "read_source",
    "shared_group_issues",
    "source_from_data",
]

#: Executors that use [runners.autoscaler].
AUTOSCALER_EXECUTORS = ("docker-autoscaler", "instance")
#: Repositories of the Go OpenStack plugin: a runner whose ``plugin =`` names one runs that plugin.
GO_PLUGINS = ("sardinasystems/fleeting-plugin-openstack",)


class UnreadableFileError(Exception):
    """PATH cannot be opened or is not UTF-8 text (exit status 2)."""


class NoSuchRunnerError(Exception):
    """``--runner`` names no runner that uses this plugin, or PATH is no config.toml (exit status 2)."""


@dataclass
class ConfigEntry:
    """One ``[[runners]]`` entry (or the plugin_config file itself) and what was found in it.

    ``path``: the plugin_config's JSON path ("" for a plugin_config file,
    ``runners[i].autoscaler.plugin_config``); ``runner``: the runner's name;
    ``index``: its position in ``[[runners]]``; ``uses_plugin``: the entry
    runs this plugin (its plugin_config was loaded, or failed to); ``raw``:
    plugin_config as written; ``loaded``: the config, None when invalid;
    ``issues``: what was found up to and including the plugin_config;
    ``after``: what was found by looking at the config and the runner together.
    """

    path: str
    runner: str | None = None
    index: int | None = None
    uses_plugin: bool = False
    raw: Mapping[str, JSONValue] | None = None
    loaded: LoadedConfig | None = None
    autoscaler: Mapping[str, JSONValue] | None = None
    issues: list[ConfigIssue] = field(default_factory=list)
    after: list[ConfigIssue] = field(default_factory=list)

    def connector(self, warnings: list[str]) -> RunnerConnector:
        """The runner's connector_config as the plugin receives it (with its ``use_external_addr``);
        a key file that cannot be read is a line in ``warnings``."""
        table = self.autoscaler.get("connector_config") if self.autoscaler is not None else None
        where = self.path.rsplit(".", 1)[0] + ".connector_config" if self.path else "connector_config"
        return connector_config(table, warnings, where)


@dataclass
class Source:
    """A file read once: its ``kind`` ("plugin_config" or "runner_config"), the ``entries`` in
    order, and the ``issues`` of the document as a whole (reported after the entries')."""

    source: str
    kind: str
    entries: list[ConfigEntry] = field(default_factory=list)
    issues: list[ConfigIssue] = field(default_factory=list)

    @property
    def plugin_entries(self) -> list[ConfigEntry]:
        """The entries that use this plugin."""
        return [e for e in self.entries if e.uses_plugin]


def shared_group_issues(entries: list[ConfigEntry]) -> list[ConfigIssue]:
    """Two runners on one instance group: each runner deletes the instances it has no state for
    ("for safety"), so they destroy each other's. An error when both use the same cloud (and
    clouds.yaml), a warning when the clouds differ (they may be different projects). Read from
    the plugin_configs as written, so it is found even while other errors remain."""
    found: list[ConfigIssue] = []
    seen: dict[str, tuple[ConfigEntry, tuple[object, ...]]] = {}
    for entry in entries:
        raw = entry.raw if entry.raw is not None else (entry.autoscaler or {}).get("plugin_config")
        name = raw.get("name") if isinstance(raw, Mapping) else None
        if entry.index is None or not isinstance(raw, Mapping) or not isinstance(name, str):
            continue
        where = (raw.get("cloud"), raw.get("clouds_config"), raw.get("auth_from_env"))
        first, first_where = seen.setdefault(name, (entry, where))
        if first is entry:
            continue
        same_cloud = first_where == where
        who = f"runners[{first.index}]" + (f" ({first.runner!r})" if first.runner else "")
        found.append(
            ConfigIssue(
                f"{entry.path}.name",
                f"group {name!r} is also used by {who}"
                + ("" if same_cloud else " (with another cloud entry: fine only if that is another project)")
                + ": each runner must own its group, or each deletes the other's instances; give this "
                "runner a name of its own",
                "error" if same_cloud else "warning",
            )
        )
    return found


# --------------------------------------------------------------------------
# One plugin_config
# --------------------------------------------------------------------------


def _load_entry(entry: ConfigEntry, raw: object, env: Mapping[str, str] | None) -> None:
    """Load ``raw`` (JSON text or a table) into ``entry``: the config, or its issues."""
    prefix = entry.path
    try:
        document = parse_document(raw)
        entry.raw = document
        loaded = load_plugin_config(document, env=env)
    except ConfigError as exc:
        entry.issues.extend(e.with_prefix(prefix) for e in exc.errors)
        entry.issues.extend(w.with_prefix(prefix) for w in exc.warnings)
        return
    entry.issues.extend(w.with_prefix(prefix) for w in loaded.warning_issues)
    entry.loaded = loaded


# --------------------------------------------------------------------------
# A runner config.toml
# --------------------------------------------------------------------------


def _is_our_plugin(plugin: object) -> bool:
    return isinstance(plugin, str) and "openstack" in plugin.lower()


def _names_go_plugin(plugin: str) -> bool:
    return any(repo in plugin.lower() for repo in GO_PLUGINS)


def _runner_entry(i: int, entry: Mapping[str, JSONValue], env: Mapping[str, str] | None) -> ConfigEntry:
    """What one ``[[runners]]`` table says about this plugin (not filtered by ``--runner``)."""
    rpath = f"runners[{i}]"
    named = entry.get("name")
    name = named if isinstance(named, str) else None
    out = ConfigEntry(rpath, runner=name, index=i)
    executor = entry.get("executor")
    autoscaler = entry.get("autoscaler")
    if autoscaler is None:
        if executor in AUTOSCALER_EXECUTORS:
            out.issues.append(ConfigIssue(f"{rpath}.autoscaler", f"is required by executor {executor!r}"))
        return out
    if not isinstance(autoscaler, Mapping):
        out.issues.append(ConfigIssue(f"{rpath}.autoscaler", "must be a table"))
        return out
    plugin = autoscaler.get("plugin")
    if plugin is not None and not _is_our_plugin(plugin):
        out.issues.append(
            ConfigIssue(
                f"{rpath}.autoscaler.plugin", f"{plugin!r} is not fleeting-plugin-openstack; runner skipped", "warning"
            )
        )
        return out
    if isinstance(plugin, str) and _names_go_plugin(plugin):
        out.issues.append(
            ConfigIssue(
                f"{rpath}.autoscaler.plugin",
                f"{plugin!r} is the Go OpenStack plugin, not this one: the runner would run that plugin with "
                'this plugin_config; set plugin = "fleeting-plugin-openstack" (on the runner\'s PATH) or the '
                "repository you bootstrapped this plugin into",
                "warning",
            )
        )
    if executor not in AUTOSCALER_EXECUTORS:
        out.issues.append(
            ConfigIssue(
                f"{rpath}.executor",
                f'{executor!r} does not use [runners.autoscaler]; use "docker-autoscaler" or "instance"',
                "warning",
            )
        )
    if plugin is None:
        out.issues.append(ConfigIssue(f"{rpath}.autoscaler.plugin", 'is required (e.g. "fleeting-plugin-openstack")'))
    out.path = f"{rpath}.autoscaler.plugin_config"
    out.uses_plugin = True
    out.autoscaler = autoscaler
    connector_found = connector_issues(autoscaler.get("connector_config"), f"{rpath}.autoscaler.connector_config")
    out.after.extend(connector_found)
    plugin_config = autoscaler.get("plugin_config")
    if plugin_config is None:
        out.issues.append(ConfigIssue(out.path, "is required: [runners.autoscaler.plugin_config] is missing"))
        return out
    if not isinstance(plugin_config, Mapping):
        out.issues.append(ConfigIssue(out.path, "must be a table"))
        return out
    _load_entry(out, plugin_config, env)
    max_instances = autoscaler.get("max_instances")
    cfg = out.loaded.config if out.loaded is not None else None
    if (
        cfg is not None
        and isinstance(max_instances, int)
        and not isinstance(max_instances, bool)
        and max_instances > cfg.max_size
    ):
        out.after.append(
            ConfigIssue(
                f"{rpath}.autoscaler.max_instances",
                f"{max_instances} exceeds the plugin's max_size ({cfg.max_size}): "
                "the runner will never get that many instances",
                "warning",
            )
        )
    return out


def _runner_config(data: object, source: Source, *, env: Mapping[str, str] | None, runner: str | None) -> None:
    runners = data.get("runners") if isinstance(data, Mapping) else None
    if not isinstance(runners, list) or not runners:
        source.issues.append(ConfigIssue("runners", "no [[runners]] entries: nothing to validate"))
        return
    ours: list[str] = []
    for i, entry in enumerate(runners):
        if not isinstance(entry, Mapping):
            if runner is None:
                source.entries.append(
                    ConfigEntry(f"runners[{i}]", index=i, issues=[ConfigIssue(f"runners[{i}]", "must be a table")])
                )
            continue
        named = entry.get("name")
        name = named if isinstance(named, str) else None
        if runner is not None:
            autoscaler = entry.get("autoscaler")
            if isinstance(autoscaler, Mapping) and (
                autoscaler.get("plugin") is None or _is_our_plugin(autoscaler.get("plugin"))
            ):
                ours.append(name or f"#{i}")
            if runner != name and runner != str(i):
                continue
        source.entries.append(_runner_entry(i, entry, env))
    source.issues.extend(shared_group_issues(source.plugin_entries))
    found = len(source.plugin_entries)
    if runner is not None and not found:
        raise NoSuchRunnerError(
            f"{source.source}: no runner {runner!r} uses fleeting-plugin-openstack "
            f"(runners that do: {', '.join(ours) or 'none'})"
        )
    if not found:
        source.issues.append(
            ConfigIssue(
                "runners",
                "no [[runners]] entry uses fleeting-plugin-openstack ([runners.autoscaler] with its plugin_config)",
            )
        )


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def source_from_data(
    data: object, *, kind: str, source: str = "<data>", env: Mapping[str, str] | None = None, runner: str | None = None
) -> Source:
    """Already-decoded data: ``kind`` is "plugin_config" or "runner_config"."""
    out = Source(source=source, kind=kind)
    if kind == "runner_config":
        _runner_config(data, out, env=env, runner=runner)
    else:
        entry = ConfigEntry("", uses_plugin=True)
        _load_entry(entry, data, env)
        out.entries.append(entry)
    return out


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise UnreadableFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(f"{path}: not UTF-8 text: {exc}") from exc


def read_source(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None, runner: str | None = None
) -> Source:
    """Read a plugin_config JSON file or a gitlab-runner config.toml, once, and load what it holds.

    The kind is chosen by extension (``.json`` / ``.toml``), else by content
    (JSON if it parses, else TOML). ``env`` (default ``os.environ``) feeds the
    environment overrides; ``runner`` (a name, or an index from 0) keeps only
    that ``[[runners]]`` entry. Syntax errors are issues.

    :raises UnreadableFileError: the file cannot be read.
    :raises NoSuchRunnerError: no runner ``runner`` uses this plugin, or PATH is a plugin_config file.
    """
    p = Path(path)
    source = str(path)
    text = _read(p)
    suffix = p.suffix.lower()
    if suffix == ".json":
        kind = "plugin_config"
    elif suffix == ".toml":
        kind = "runner_config"
    else:
        try:
            json.loads(text)
            kind = "plugin_config"
        except ValueError:
            kind = "runner_config" if not text.lstrip().startswith("{") else "plugin_config"

    if kind == "plugin_config":
        if runner is not None:
            raise NoSuchRunnerError(f"{source}: --runner applies to a runner config.toml, not to a plugin_config file")
        return source_from_data(text, kind=kind, source=source, env=env)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Source(source=source, kind=kind, issues=[ConfigIssue("", f"not valid TOML: {exc}")])
    return source_from_data(data, kind=kind, source=source, env=env, runner=runner)
