"""Every delete the provider makes: for the runner (Decrease) and of servers it can never use.

:meth:`Deletes.for_runner` deletes the servers Decrease names (through the adaptive
delete window, several at once; a server already gone counts as deleted; one that is
not in the group is refused). :meth:`Deletes.reap` deletes a server whose verdict has
``reap``, at most once a minute (``states.REDELETE_AFTER``): the time is kept in
the provider's ``Memory.deletes``, so the next verdict on the server is "being deleted".
An ERROR server's fault (list answers may omit it) is read from its own record and
logged; a capacity fault counts against the create breaker and moves the flavor/AZ
fallbacks on. The server's floating IP (``floating_ip_pool``) and key are released.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from fleeting_openstack.config.identity import META_SALT
from fleeting_openstack.provider.cloud import DeleteCloud
from fleeting_openstack.provider.states import REDELETE_AFTER, Memory

if TYPE_CHECKING:
    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.provider.concurrency import AdaptiveLimit
    from fleeting_openstack.provider.createpause import CreateBreaker
    from fleeting_openstack.provider.fallbacks import Choices
    from fleeting_openstack.provider.keys import KeyStore


class Releasable(Protocol):
    """The plugin's floating IPs (``floatingip.FloatingIPs``)."""

    def release(self, server_id: str) -> None: ...


log = logging.getLogger("fleeting_openstack.provider")


class Deletes:
    """Deletes servers and drops what belonged to them (floating IP, key material);
    remembers each delete in ``memory`` (``deletes``; no longer ``ready``)."""

    def __init__(
        self,
        cloud: DeleteCloud,
        memory: Memory,
        lock: threading.Lock,
        *,
        keys: KeyStore | None,
        fips: Releasable | None = None,
        breaker: CreateBreaker | None = None,
        choices: Choices | None = None,
    ) -> None:
        self.cloud, self.memory, self.lock = cloud, memory, lock
        self.keys, self.fips, self.breaker, self.choices = keys, fips, breaker, choices

    def for_runner(
        self,
        ids: Sequence[str],
        members: Mapping[str, Server],
        limit: AdaptiveLimit,
        is_member: Callable[[Server], bool],
        group: str,
    ) -> list[str]:
        """Decrease: delete ``ids`` (``members``: the group as last seen); the ids deleted.
        Raises ``PartialError`` (with those deleted) when any delete failed."""
        from fleeting_openstack.contract.instancegroup import PartialError
        from fleeting_openstack.openstack.client import NotFound
        from fleeting_openstack.provider import metrics

        def delete(instance_id: str) -> str | Exception:
            server = members.get(instance_id)
            if server is None:  # not (yet) in the view: ask Nova about this one server
                try:
                    server = self.cloud.get_server(instance_id)
                except NotFound:
                    log.info("deleting server for the runner: already gone", extra={"server": instance_id})
                    return instance_id  # already gone: what the runner wants
                except Exception as exc:  # noqa: BLE001 - one bad id never fails the whole Decrease
                    return exc
                if not is_member(server):
                    return LookupError(f"{instance_id} is not a server of group {group}")
            log.info(
                "deleting server for the runner",
                extra={"server": instance_id, "server_name": server.name, "status": server.status},
            )
            try:
                limit.call(lambda: self.cloud.delete_server(instance_id))
            except NotFound:
                pass
            except Exception as exc:  # noqa: BLE001 - one failed delete never fails the whole Decrease
                log.warning("delete of server %s for the runner failed: %s", instance_id, exc)
                metrics.failed("delete", exc)
                return exc
            metrics.deleted("runner")
            with self.lock:
                self.memory.deletes[instance_id] = time.time()
                self.memory.ready.pop(instance_id, None)
            if self.fips is not None:
                self.fips.release(instance_id)
            self.forget_key(server)
            return instance_id

        with ThreadPoolExecutor(max_workers=min(len(ids), limit.maximum), thread_name_prefix="delete") as pool:
            outcomes = list(pool.map(delete, ids))
        done = [o for o in outcomes if isinstance(o, str)]
        failed = [o for o in outcomes if isinstance(o, Exception)]
        if failed:
            raise PartialError("; ".join(sorted({str(e) for e in failed})), done)
        return done

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
            with contextlib.suppress(Exception):  # list responses may omit the fault; its own record has it
                server = self.cloud.get_server(server.id)
        log.warning(
            "deleting unusable server: %s",
            reason,
            extra={"server": server.id, "server_name": server.name, "status": server.status, "fault": server.fault},
        )
        if server.status == "ERROR" and self.choices is not None and self.breaker is not None:
            from fleeting_openstack.provider.fallbacks import is_capacity

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
            with contextlib.suppress(Exception):  # best effort: key material of a deleted server
                self.keys.forget(salt)
