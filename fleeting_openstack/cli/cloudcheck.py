"""Checks beyond the schema, shared by ``validate`` and Init.

``strategy_issues`` runs offline (installed strategies, the operator's
user_data, the clouds.yaml); ``check_cloud`` is ``validate --check-cloud``:
it runs :func:`fleeting_openstack.provider.initchecks.run`, the very function Init
runs (authentication, microversion, every resource server_spec references,
login user, credentials and state directory).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from fleeting_openstack.config import ConfigIssue
from fleeting_openstack.jsontypes import JSONValue

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.contract.instancegroup import ConnectorConfig
    from fleeting_openstack.host import BoundStrategy


def _issue(problem: str) -> ConfigIssue:
    path, sep, message = problem.partition(": ")
    if not sep or " " in path:
        return ConfigIssue("", problem)
    return ConfigIssue(path, message)


def strategy_issues(
    cfg: PluginConfig,
    connector: Mapping[str, JSONValue] | None = None,
    connector_key: str | None = None,
    *,
    clouds_file: bool = True,
) -> list[ConfigIssue]:
    """Offline: is the strategy installed, can it use the operator's options and user_data (each
    problem at the key the operator wrote), can the clouds.yaml be read (and does it define the
    cloud), and does the runner's connector_config (``connector`` at ``connector_key``, absolute
    paths; None for a plugin_config file) give the credentials the strategy needs? Without
    ``clouds_file`` the clouds.yaml is not looked at (``render-user-data`` offline needs no cloud)."""
    from fleeting_openstack.host import UnknownStrategyError, check_key, default_manager
    from fleeting_openstack.openstack.session import clouds_file_problem

    issues = []
    if clouds_file and not cfg.auth_from_env:
        problem = clouds_file_problem(cfg.clouds_config, cfg.cloud)
        if problem is not None:
            issues.append(ConfigIssue(*problem))
    try:
        strategy = default_manager().strategy(cfg.strategy, cfg.strategy_options)
    except UnknownStrategyError as exc:
        return [*issues, ConfigIssue("strategy", str(exc))]
    user_data_key = "user_data_file" if cfg.user_data_file else "server_spec.user_data"
    found = [ConfigIssue(check_key(e, user_data_key), e) for e in strategy.check(cfg.server_spec.user_data)]
    return issues + found + credential_issues(cfg, strategy, connector, connector_key)


def credential_issues(
    cfg: PluginConfig, strategy: BoundStrategy, connector: Mapping[str, JSONValue] | None, connector_key: str | None
) -> list[ConfigIssue]:
    """Init's credential rule, offline: a strategy that injects no key (``custom``) needs the runner's
    static credentials. ``connector``: the runner's connector_config table at ``connector_key``
    (a config.toml), or None for a plugin_config file (then the rule can only be a warning)."""
    if strategy.wants_generated_key:
        return []
    if connector_key is None:
        return [
            ConfigIssue(
                "strategy",
                f"strategy {strategy.name!r} injects no credentials: the runner's connector_config must set "
                "use_static_credentials = true with key_path (the private key of server_spec.key_name) or password",
                "warning",
            )
        ]
    table = connector if connector is not None else {}
    if table.get("use_static_credentials") is not True:
        return [
            ConfigIssue(
                f"{connector_key}.use_static_credentials",
                f"must be true with strategy {strategy.name!r} (it injects no credentials, so Init fails): set "
                "use_static_credentials = true and key_path (the private key of server_spec.key_name) or password",
            )
        ]
    return []  # use_static_credentials without key_path or password: sources.connector_issues


def check_cloud(
    cfg: PluginConfig, connector: ConnectorConfig | None = None, say: Callable[[str], None] = lambda text: None
) -> list[ConfigIssue]:
    """Online: every check Init runs (:func:`fleeting_openstack.provider.initchecks.run`), the state
    directory checked but not created. What was resolved comes back as ``info`` issues."""
    from fleeting_openstack.contract.instancegroup import ConnectorConfig
    from fleeting_openstack.provider import initchecks

    checks = initchecks.run(cfg, connector if connector is not None else ConnectorConfig(), keys="check", say=say)
    try:
        if checks.fatal is not None:
            return [ConfigIssue(checks.fatal_key, checks.fatal)] + [_issue(p) for p in checks.problems]
        warned = []
        for line in checks.warnings:
            path, _, text = line.partition(": ")
            warned.append(ConfigIssue(path, text, "warning"))
        return (
            [_issue(p) for p in checks.problems]
            + warned
            + [ConfigIssue(path, text, "info") for path, text in checks.summary]
        )
    finally:
        if checks.cloud is not None:
            checks.cloud.close()
