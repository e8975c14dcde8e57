"""The user_data of one new instance: the one function Increase and ``render-user-data`` share.

So the preview cannot differ from what Nova gets: the same context, the same
strategy call (templating, the strategy's base, site plugins, credential
injection), the same size check and encoding (:mod:`fleeting_openstack.userdata_limit`).
"""

from __future__ import annotations

from typing import Protocol

from fleeting_openstack.host.bound import BoundStrategy
from fleeting_openstack.plugin.types import ImageInfo, InstanceContext, InstanceCredentials, StrategyOptions


class _ServerSpec(Protocol):
    @property
    def user_data(self) -> str | None: ...


class GroupConfig(Protocol):
    """What :func:`render` reads of the plugin configuration (``config.PluginConfig``)."""

    @property
    def name(self) -> str: ...
    @property
    def cloud(self) -> str | None: ...
    @property
    def server_spec(self) -> _ServerSpec: ...
    @property
    def strategy_options(self) -> StrategyOptions: ...


def render(
    strategy: BoundStrategy,
    cfg: GroupConfig,
    *,
    name: str,
    index: int,
    region: str,
    image: ImageInfo,
    username: str,
    public_key: str | None,
    password: str | None,
) -> str | None:
    """The plain-text user_data for the instance ``name`` (None: none)."""
    ctx = InstanceContext(
        name=name,
        group=cfg.name,
        index=index,
        cloud=cfg.cloud or "",
        region=region,
        image=image,
        user_data=cfg.server_spec.user_data,
        username=username,
        options=cfg.strategy_options,
    )
    creds = InstanceCredentials(username=username, public_key_openssh=public_key, password=password or None)
    return strategy.render_user_data(ctx, creds)
