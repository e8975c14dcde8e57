"""``validate --check-cloud``: the Init-time cloud checks, without a runner.

Authenticates exactly as the plugin will, checks the microversion, resolves
every resource server_spec references, and asks the selected strategy about
the user_data — the same code Init runs (``provider.resolve_resources``).
"""

from __future__ import annotations

from typing import Any

from fleeting_openstack.config import ConfigIssue


def _issue(problem: str) -> ConfigIssue:
    path, sep, message = problem.partition(": ")
    if not sep or " " in path:
        return ConfigIssue("", problem)
    return ConfigIssue(path, message)


def check_cloud(cfg: Any) -> list[ConfigIssue]:
    from fleeting_openstack.openstack import Cloud, CloudError
    from fleeting_openstack.provider import resolve_resources
    from fleeting_openstack.strategies import StrategyManager, UnknownStrategyError

    issues: list[ConfigIssue] = []
    try:
        strategy = StrategyManager.load().strategy(cfg.strategy, cfg.strategy_options)
        issues += [ConfigIssue("server_spec.user_data", e) for e in strategy.check(cfg.server_spec.user_data)]
    except UnknownStrategyError as exc:
        issues.append(ConfigIssue("strategy", str(exc)))
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
