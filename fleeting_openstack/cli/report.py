"""The validation report on a config file: its issues, the offline strategy checks and, if asked, the cloud's.

A shared piece of the CLI (``validate`` presents it, every command reading a PATH starts from it):
it imports no command.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fleeting_openstack.cli.cloudcheck import strategy_issues
from fleeting_openstack.config import ConfigIssue, PluginConfig
from fleeting_openstack.config.sources import ConfigEntry, Source
from fleeting_openstack.contract.instancegroup import ConnectorConfig
from fleeting_openstack.jsontypes import JSONObject

__all__ = ["CheckCloud", "ValidatedConfig", "ValidationReport", "report_for", "runner_connector"]


def runner_connector(entry: ConfigEntry, warnings: list[str]) -> tuple[ConnectorConfig, bool]:
    """The runner's connector_config of ``entry`` as the :class:`ConnectorConfig` the plugin receives
    at Init, and its ``use_external_addr``; a key file that cannot be read is a line in ``warnings``."""
    table = entry.connector(warnings)
    connector = ConnectorConfig(
        os=table.os,
        arch=table.arch,
        protocol=table.protocol,
        protocol_port=table.protocol_port,
        username=table.username,
        password=table.password,
        key=table.key,
        use_static_credentials=table.use_static_credentials,
    )
    return connector, table.use_external_addr


#: ``check_cloud(config)``, or ``check_cloud(config, connector)`` (the runner's connector_config; None
#: for a plugin_config file): the cloud's issues.
CheckCloud = Callable[..., Sequence[ConfigIssue]]


@dataclass(frozen=True)
class ValidatedConfig:
    """One plugin_config that passed validation.

    ``path``: its location ("" for a plugin_config file,
    ``runners[0].autoscaler.plugin_config`` in a config.toml);
    ``runner``: the runner's ``name`` if any.
    """

    path: str
    config: PluginConfig
    runner: str | None = None

    def to_dict(self) -> JSONObject:
        return {
            "path": self.path,
            "runner": self.runner,
            "name": self.config.name,
            "provider_id": self.config.provider_id,
            "strategy": self.config.strategy,
            "nova_microversion": self.config.nova_microversion,
        }


@dataclass
class ValidationReport:
    """Result of validating one file."""

    source: str
    kind: str  # "plugin_config" | "runner_config"
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)
    configs: list[ValidatedConfig] = field(default_factory=list)
    resolved: list[ConfigIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> JSONObject:
        return {
            "source": self.source,
            "kind": self.kind,
            "valid": self.ok,
            "errors": [{"path": e.path, "message": e.message} for e in self.errors],
            "warnings": [{"path": w.path, "message": w.message} for w in self.warnings],
            "configs": [c.to_dict() for c in self.configs],
            "resolved": [{"path": r.path, "value": r.message} for r in self.resolved],
        }

    def format_text(self) -> str:
        lines = []
        for sev, items in (("error", self.errors), ("warning", self.warnings)):
            for issue in items:
                where = f" {issue.path}:" if issue.path else ""
                lines.append(f"{self.source}:{where} {sev}: {issue.message}")
        for item in self.resolved:
            lines.append(f"{self.source}: {item.path}: resolved: {item.message}")
        n_err, n_warn = len(self.errors), len(self.warnings)
        if self.ok:
            count = len(self.configs)
            lines.append(
                f"{self.source}: valid ({count} plugin_config{'s' if count != 1 else ''}, "
                f"{n_warn} warning{'s' if n_warn != 1 else ''})"
            )
        else:
            lines.append(
                f"{self.source}: invalid ({n_err} error{'s' if n_err != 1 else ''}, "
                f"{n_warn} warning{'s' if n_warn != 1 else ''})"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _run_check_cloud(
    check_cloud: CheckCloud, cfg: PluginConfig, prefix: str, report: ValidationReport, connector: ConnectorConfig | None
) -> None:
    try:
        takes_connector = len(inspect.signature(check_cloud).parameters) > 1
        found = list((check_cloud(cfg, connector) if takes_connector else check_cloud(cfg)) or ())
    except Exception as exc:  # noqa: BLE001 - the cloud check must not hide the offline result
        report.errors.append(ConfigIssue(prefix, f"cloud check failed: {type(exc).__name__}: {exc}"))
        return
    for issue in found:
        issue = _at(issue, prefix, _connector_key(prefix) if connector is not None else None)
        target = {"warning": report.warnings, "info": report.resolved}.get(issue.severity, report.errors)
        if issue not in target:  # an offline check may have found it already
            target.append(issue)


def _connector_key(plugin_config_path: str) -> str | None:
    """``runners[0].autoscaler.plugin_config`` -> ``runners[0].autoscaler.connector_config``: where
    the runner's connector_config is written (None for a plugin_config file: not in it)."""
    head, sep, _ = plugin_config_path.rpartition(".plugin_config")
    return f"{head}.connector_config" if sep else None


def _at(issue: ConfigIssue, prefix: str, connector_key: str | None) -> ConfigIssue:
    """``issue`` at the key the operator wrote: a plugin_config key below ``prefix``; the runner's
    connector_config (``connector_config.*``, or already absolute) at ``connector_key``."""
    if connector_key is not None:
        if issue.path == connector_key or issue.path.startswith(connector_key + "."):
            return issue
        if issue.path == "connector_config" or issue.path.startswith("connector_config."):
            return ConfigIssue(connector_key + issue.path[len("connector_config") :], issue.message, issue.severity)
    return issue.with_prefix(prefix)


def _add(report: ValidationReport, issues: Iterable[ConfigIssue]) -> None:
    for issue in issues:
        (report.warnings if issue.severity == "warning" else report.errors).append(issue)


def report_for(source: Source, check_cloud: CheckCloud | None = None, *, clouds_file: bool = True) -> ValidationReport:
    """The report on a :class:`~fleeting_openstack.config.sources.Source` (read and loaded once):
    its issues, plus for each config the offline strategy checks and, with ``check_cloud``, the cloud's.
    Without ``clouds_file`` the clouds.yaml is not checked (a command that needs no cloud)."""
    report = ValidationReport(source=source.source, kind=source.kind)
    for entry in source.entries:
        _add(report, entry.issues)
        if entry.loaded is not None:
            cfg = entry.loaded.config
            report.configs.append(ValidatedConfig(entry.path, cfg, entry.runner))
            table = entry.autoscaler.get("connector_config") if entry.autoscaler is not None else None
            connector_key = _connector_key(entry.path) if entry.autoscaler is not None else None
            found = strategy_issues(
                cfg, table if isinstance(table, Mapping) else None, connector_key, clouds_file=clouds_file
            )
            _add(report, (_at(i, entry.path, connector_key) for i in found))
            if check_cloud is not None:
                connector = runner_connector(entry, [])[0] if entry.autoscaler is not None else None
                _run_check_cloud(check_cloud, cfg, entry.path, report, connector)
        _add(report, entry.after)
    _add(report, source.issues)
    return report
