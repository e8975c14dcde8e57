"""Checks beyond the schema, shared by ``validate`` and Init.

``strategy_issues`` runs offline (installed strategies, the operator's
user_data, the clouds.yaml); ``check_cloud`` is ``validate --check-cloud``:
it runs :func:`fleeting_openstack.provider.initchecks.run`, the very function Init
runs (authentication, microversion, every resource server_spec references,
login user, credentials and state directory).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fleeting_openstack.config import ConfigIssue

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.contract.instancegroup import ConnectorConfig


def _issue(problem: str) -> ConfigIssue:
    path, sep, message = problem.partition(": ")
    if not sep or " " in path:
        return ConfigIssue("", problem)
    return ConfigIssue(path, message)


def strategy_issues(cfg: PluginConfig) -> list[ConfigIssue]:
    """Offline: is the strategy installed, can it use the operator's user_data, and
    can the clouds.yaml be read (and does it define the cloud)?"""
    from fleeting_openstack.openstack.session import clouds_file_problem
    from fleeting_openstack.plugin.manager import UnknownStrategyError, default_manager

    issues = []
    if not cfg.auth_from_env:
        problem = clouds_file_problem(cfg.clouds_config, cfg.cloud)
        if problem is not None:
            issues.append(ConfigIssue(*problem))
    try:
        strategy = default_manager().strategy(cfg.strategy, cfg.strategy_options)
    except UnknownStrategyError as exc:
        return [*issues, ConfigIssue("strategy", str(exc))]
    return issues + [ConfigIssue("server_spec.user_data", e) for e in strategy.check(cfg.server_spec.user_data)]


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
        return [_issue(p) for p in checks.problems] + [ConfigIssue(path, text, "info") for path, text in checks.summary]
    finally:
        if checks.cloud is not None:
            checks.cloud.close()
