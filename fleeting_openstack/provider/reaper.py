"""Deleting the servers the runner can never use (the verdicts with ``reap``).

At most one delete per server a minute (``states.REDELETE_AFTER``): the time is kept in
the provider's ``Memory.deletes``, so the next verdict on the server is "being deleted".
An ERROR server's fault (list answers may omit it) is read from its own record and
logged; a capacity fault counts against the create breaker and moves the flavor/AZ
fallbacks on. The server's floating IP (``floating_ip_pool``) and key are released.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Protocol

from fleeting_openstack.provider.group_identity import META_SALT
from fleeting_openstack.provider.states import REDELETE_AFTER, Memory

if TYPE_CHECKING:
    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.provider.keys import KeyStore
    from fleeting_openstack.provider.limiter import Choices, CreateBreaker


class DeleteCloud(Protocol):
    def get_server(self, server_id: str) -> Server: ...

    def delete_server(self, server_id: str) -> None: ...


class Releasable(Protocol):
    """The plugin's floating IPs (``floatingip.FloatingIPs``)."""

    def release(self, server_id: str) -> None: ...


log = logging.getLogger("fleeting_openstack.provider")


class Reaper:
    """Deletes unusable servers; ``forget_key`` drops a deleted server's key material."""

    def __init__(self, cloud: DeleteCloud, memory: Memory, lock: threading.Lock, *, keys: KeyStore | None,
                 fips: Releasable | None = None, breaker: CreateBreaker | None = None,
                 choices: Choices | None = None) -> None:
        self.cloud, self.memory, self.lock = cloud, memory, lock
        self.keys, self.fips, self.breaker, self.choices = keys, fips, breaker, choices

    def reap(self, server: Server, reason: str) -> None:
        """Delete a server the runner can never use (at most once a minute)."""
        from fleeting_openstack.openstack.client import NotFound
        from fleeting_openstack.provider import metrics

        with self.lock:
            last = self.memory.deletes.get(server.id)
            if last is not None and time.time() - last < REDELETE_AFTER:
                return
            self.memory.deletes[server.id] = time.time()
            self.memory.ready.pop(server.id, None)
        if server.status == "ERROR" and not server.fault:
            try:  # list responses may omit the fault; the server's own record has it
                server = self.cloud.get_server(server.id)
            except Exception:  # noqa: BLE001
                pass
        log.warning("deleting unusable server: %s", reason,
                    extra={"server": server.id, "server_name": server.name, "status": server.status,
                           "fault": server.fault})
        if server.status == "ERROR" and self.choices is not None and self.breaker is not None:
            from fleeting_openstack.provider.limiter import is_capacity

            if is_capacity(server.fault):
                self.breaker.failed(f"server went to ERROR: {server.fault}")
                self.choices.advance(self.choices.current, server.fault)
        try:
            self.cloud.delete_server(server.id)
        except NotFound:
            pass
        except Exception as exc:  # noqa: BLE001 - retried at the next Update
            log.warning("delete of server %s failed: %s", server.id, exc)
            metrics.failed("delete", exc)
        else:
            metrics.deleted(metrics.reap_reason(reason))
        if self.fips is not None:
            self.fips.release(server.id)
        self.forget_key(server)

    def forget_key(self, server: Server) -> None:
        salt = server.metadata.get(META_SALT)
        if self.keys is not None and salt:
            try:
                self.keys.forget(salt)
            except Exception:  # noqa: BLE001
                pass
