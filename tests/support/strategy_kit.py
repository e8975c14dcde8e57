"""What the strategy tests render with: the runner's public key, one instance about to be
created, and the rendering call (tests/unit/plugin, tests/validators).

Each test file keeps its own instance (name, index, image, login user) because its
assertions name them (``hostname runner-5``, ``worker runner-2``...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from fleeting_openstack.host import BoundStrategy, StrategyManager
from fleeting_openstack.plugin.types import ImageInfo, InstanceContext, InstanceCredentials

#: the public key the plugin generated for the runner (what the strategies inject)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq0Jm1xS1cXv0t0Y8hY6cG2y4aYp3n0dQJm8hW2k9bT fleeting"


def load_manager() -> StrategyManager:
    """The strategies as the plugin loads them: entry points, none blocked, no trace."""
    return StrategyManager.load(blocked=[], trace=False)


@dataclass(frozen=True)
class Instance:
    """An instance of group ``ci`` in cloud ``prod``, region ``r1``, that the user_data is for."""

    name: str
    index: int
    image: ImageInfo
    username: str

    def render(self, strategy: BoundStrategy, user_data: str | None, username: str | None = None,
               key: str | None = KEY, password: str | None = None,
               options: Mapping[str, Any] | None = None) -> str | None:
        """The user_data ``strategy`` makes of the operator's ``user_data`` for this instance."""
        login = username or self.username
        ctx = InstanceContext(self.name, "ci", self.index, "prod", "r1", self.image, user_data, login,
                              dict(options or {}))
        return strategy.render_user_data(ctx, InstanceCredentials(login, key, password))

    def render_with(self, manager: StrategyManager, name: str, user_data: str | None,
                    username: str | None = None, key: str | None = KEY, password: str | None = None,
                    options: Mapping[str, Any] | None = None) -> str | None:
        """:meth:`render` with strategy ``name`` of ``manager``, bound to ``options``."""
        return self.render(manager.strategy(name, options), user_data, username, key, password, options)
