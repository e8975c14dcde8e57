"""The interfaces the provider needs from its collaborators (typed, so tests inject fakes).

``GroupCloud`` is the part of the cloud adapter (``openstack.client.Cloud``) the
provider calls; ``tests/support/fakecloud.FakeCloud`` implements it in memory.
``InitCheckRunner`` is ``initchecks.run``'s signature: Init gets its cloud,
strategy, key store and resolved resources from it (a test passes its own).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from fleeting_openstack.provider.floatingip import FloatingIPCloud
from fleeting_openstack.provider.limiter import QuotaCloud

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.contract.instancegroup import ConnectorConfig
    from fleeting_openstack.openstack.client import Image, Server
    from fleeting_openstack.provider.initchecks import InitChecks


class GroupCloud(FloatingIPCloud, QuotaCloud, Protocol):
    """What the provider asks of the cloud (servers; and floating IPs, limits and quotas)."""

    @property
    def region(self) -> str: ...

    def list_servers(self, filters: Mapping[str, str], page_size: int = 1000) -> Iterable[Server]: ...

    def get_server(self, server_id: str) -> Server: ...

    def create_server(self, request: Mapping[str, Any]) -> str: ...

    def delete_server(self, server_id: str) -> None: ...

    def add_tag(self, server_id: str, tag: str) -> None: ...

    def console_tail(self, server_id: str, lines: int) -> str: ...

    def image(self, ref: str | None = None, name: str | None = None) -> Image: ...

    def flavor_id(self, ref: str | None = None, name: str | None = None) -> str: ...

    def widen_pool(self, size: int) -> None: ...

    def close(self) -> None: ...


class InitCheckRunner(Protocol):
    """``initchecks.run``: every check Init makes, and the collaborators it opens."""

    def __call__(self, cfg: PluginConfig, connector: ConnectorConfig, *, keys: str = "open") -> InitChecks: ...
