"""Checks beyond the schema, shared by ``validate`` and Init.

``strategy_issues`` runs offline (installed strategies, the operator's
user_data); ``check_cloud`` is ``validate --check-cloud``: it authenticates
exactly as the plugin will, checks the microversion and resolves every
resource server_spec references — the same code Init runs
(``provider.resolve_resources``).
"""

from __future__ import annotations

from typing import Any

from fleeting_openstack.config import ConfigIssue


def _issue(problem: str) -> ConfigIssue:
    path, sep, message = problem.partition(": ")
    if not sep or " " in path:
        return ConfigIssue("", problem)
    return ConfigIssue(path, message)


def strategy_issues(cfg: Any) -> list[ConfigIssue]:
    """Offline: is the strategy installed, and can it use the operator's user_data?"""
    from fleeting_openstack.strategies import StrategyManager, UnknownStrategyError

    try:
        strategy = StrategyManager.load().strategy(cfg.strategy, cfg.strategy_options)
    except UnknownStrategyError as exc:
        return [ConfigIssue("strategy", str(exc))]
    return [ConfigIssue("server_spec.user_data", e) for e in strategy.check(cfg.server_spec.user_data)]


def check_cloud(cfg: Any) -> list[ConfigIssue]:
    """Online: authenticate, check the microversion, resolve every referenced resource."""
    from fleeting_openstack.openstack import Cloud, CloudError
    from fleeting_openstack.provider import resolve_resources

    issues: list[ConfigIssue] = []
    try:
        if cfg.auth_from_env:
            cloud = Cloud.connect(None, None, cfg.nova_microversion)
        else:
            cloud = Cloud.connect(cfg.cloud, cfg.clouds_config, cfg.nova_microversion)
    except CloudError as exc:
        issues.append(ConfigIssue("cloud", str(exc)))
        return issues
    try:
        problems: list[str] = []
        resolve_resources(cloud, cfg, problems)
        issues += [_issue(p) for p in problems]
    finally:
        cloud.close()
    return issues
