"""Creating one server of the group: its name, metadata, key, user_data and the Nova request.

* **Names**: ``%d`` in ``server_spec.name`` is an index that never repeats for a
  group, also across restarts and processes (:class:`IndexCounter`: a counter in the
  state directory under an exclusive ``flock``, raised past any index found in the
  cloud). A name without ``%d`` gets ``-<index>``.
* **Unknown outcome** (5xx, reset, timeout: Nova may have made the server): every
  create carries a request UUID in its metadata (``fleeting-request``); the server
  with that UUID is looked up by name and kept when found.
* **Capacity refusals** move to the next flavor / availability zone fallback
  (``fallbacks.Choices``); repeated failures pause creates (``createpause.CreateBreaker``).
* **Image**: Init's, or with ``image_refresh`` the newest image named ``image_name``
  (``imagerefresh.ImageRefresh``); a create refused because the image is gone looks it up
  again and, when another image is found, is tried once more with it.
* **Tagging**: with microversion >= 2.52 the group tag is part of the create
  request; between 2.26 and 2.52 it is added right after, and a server that cannot
  be tagged is deleted so it cannot leak.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from fleeting_openstack.config.identity import (
    META_CLUSTER,
    META_INDEX,
    META_KEY_CHECK,
    META_KEY_TYPE,
    META_REQUEST,
    META_SALT,
    group_tag,
    server_name,
)
from fleeting_openstack.provider.cloud import CreateCloud

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.contract.instancegroup import Settings
    from fleeting_openstack.host import BoundStrategy
    from fleeting_openstack.openstack.client import Server
    from fleeting_openstack.openstack.resources import Resolved
    from fleeting_openstack.plugin.types import ImageInfo
    from fleeting_openstack.provider.concurrency import AdaptiveLimit
    from fleeting_openstack.provider.createpause import CreateBreaker
    from fleeting_openstack.provider.fallbacks import Choices
    from fleeting_openstack.provider.imagerefresh import ImageRefresh
    from fleeting_openstack.provider.keys import KeyStore

log = logging.getLogger("fleeting_openstack.provider")


def placeholder(
    server_id: str, name: str, metadata: Mapping[str, str], tags: Iterable[str], image: str | None, flavor: str | None
) -> Server:
    """A server just requested, as the group view holds it until Nova lists it: BUILD, no addresses."""
    import time

    from fleeting_openstack.openstack.client import Server

    return Server(
        id=server_id,
        name=name,
        status="BUILD",
        task_state=None,
        created=time.time(),
        metadata=dict(metadata),
        tags=list(tags),
        addresses=[],
        image_id=image or None,
        flavor=flavor,
    )


class IndexCounter:
    """A group-wide index that never repeats, also across restarts and processes."""

    def __init__(self, state_dir: str, group: str, known: Callable[[], Iterable[Server]]) -> None:
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in group)
        self.path = Path(state_dir) / f"index-{safe}"
        self.known = known  # the group's servers: their indexes raise the counter once
        self.synced = False
        self._lock = threading.Lock()

    def next(self) -> int:
        from fleeting_openstack.provider.safety import locked

        path = self.path
        with self._lock, locked(path):
            current = 0
            if path.exists():
                try:
                    current = int(path.read_text().strip() or 0)
                except ValueError:
                    current = 0
            if not self.synced:
                for server in self.known():
                    try:
                        current = max(current, int(server.metadata.get(META_INDEX, 0)))
                    except ValueError:
                        pass
                self.synced = True
            current += 1
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(str(current))
            os.replace(tmp, path)
            return current


class Creator:
    """Makes one server per :meth:`create` call (thread-safe; Increase runs several at once)."""

    def __init__(
        self,
        cfg: PluginConfig,
        settings: Settings,
        cloud: CreateCloud,
        strategy: BoundStrategy,
        keys: KeyStore | None,
        resolved: Resolved,
        *,
        counter: IndexCounter,
        limit: AdaptiveLimit,
        breaker: CreateBreaker,
        choices: Choices,
        tags_in_body: bool,
        tag_filter: bool,
        expect: Callable[[str, Server], None] = lambda server_id, placeholder: None,
        images: ImageRefresh | None = None,
    ) -> None:
        self.cfg, self.settings, self.cloud, self.strategy = cfg, settings, cloud, strategy
        self.keys, self.resolved = keys, resolved
        self.counter, self.limit, self.breaker, self.choices = counter, limit, breaker, choices
        self.tags_in_body, self.tag_filter = tags_in_body, tag_filter
        self.expect = expect  # told every server made, with a placeholder (the group view has it from then on)
        self.blocker = ""  # why creates cannot work (image/flavor gone), else ""
        self.images = images  # image_name looked up again (image_refresh), else Init's image

    def create(self, *, again: bool = False) -> str:
        """Request one server; its id. Raises when none was made (or it cannot be known).
        ``again``: the retry after a create whose image was gone (not retried a second time)."""
        from fleeting_openstack.host import render as userdata
        from fleeting_openstack.openstack.client import CloudError
        from fleeting_openstack.openstack.nova import create_request
        from fleeting_openstack.provider import metrics
        from fleeting_openstack.provider.fallbacks import is_capacity
        from fleeting_openstack.provider.imageinfo import image_info
        from fleeting_openstack.provider.imagerefresh import image_gone
        from fleeting_openstack.provider.keys import new_salt

        cfg, res = self.cfg, self.resolved
        if self.blocker:
            raise RuntimeError(self.blocker)
        self.breaker.check()
        index = self.counter.next()
        name = server_name(cfg.server_spec.name_template, index)
        request_id = str(uuid.uuid4())
        metadata = dict(cfg.server_spec.body.get("metadata") or {})
        metadata.update({META_CLUSTER: cfg.name, META_INDEX: str(index), META_REQUEST: request_id})
        public_key = None
        salt = None
        image, image_ref = res.image, res.image_ref
        if self.images is not None:
            image = self.images.image()
            image_ref = image.id
        info = image_info(image, placeholder=True)  # a placeholder (empty id) without an image
        assert info is not None
        if self.keys is not None and not self.settings.connector.use_static_credentials:
            key_type = self.key_type(info)
            salt = new_salt()
            public_key = self.keys.instance_key(salt, key_type).public_key_openssh
            metadata.update({META_SALT: salt, META_KEY_TYPE: key_type, META_KEY_CHECK: self.keys.key_check(salt)})
        user_data = userdata.render(
            self.strategy,
            cfg,
            name=name,
            index=index,
            region=self.cloud.region,
            image=info,
            username=res.username,
            public_key=public_key,
            password=self.settings.connector.password,
        )

        tags = [group_tag(cfg.name)]
        server_id = None
        while server_id is None:
            choice = self.choices.current
            request = create_request(
                cfg.server_spec.body,
                name=name,
                image_ref=image_ref,
                flavor_ref=choice[0],
                availability_zone=choice[1],
                user_data=user_data,
                metadata=metadata,
                tags=tags if self.tags_in_body else (),
            )
            try:
                server_id = self.limit.call(functools.partial(self.cloud.create_server, request))
            except CloudError as exc:
                if exc.outcome_unknown:  # 5xx, reset, timeout: Nova may have made it
                    found, looked = self.find_created(name, request_id)
                    if found:
                        log.warning(
                            "create got no clean answer but the server exists; keeping it",
                            extra={"server": found, "error": str(exc)},
                        )
                        server_id = found
                        break
                    if not looked:
                        self.breaker.failed(str(exc))
                        raise CloudError(
                            f"{exc}; could not check whether the server was made: if it was, "
                            "it shows at the next Update",
                            exc.status,
                        ) from None
                elif exc.status in (400, 403, 409) and is_capacity(str(exc)) and self.choices.advance(choice, str(exc)):
                    continue  # refused, nothing made: the next flavor / zone
                if salt and self.keys is not None:
                    self.keys.forget(salt)
                if (
                    not again
                    and image_ref
                    and self.images is not None
                    and image_gone(exc.status, str(exc))
                    and self.images.gone(image_ref)
                ):
                    return self.create(again=True)  # refused, nothing made: the image found now
                self.breaker.failed(str(exc))
                raise
        self.breaker.succeeded()
        tags = list(cfg.server_spec.tags or []) + tags
        # In the group view from the create answer on: Nova lists a server in changes-since only
        # once a compute host has touched it (groupview.py).
        self.expect(server_id, placeholder(server_id, name, metadata, tags, image_ref, choice[0]))
        if not self.tags_in_body and self.tag_filter:
            for tag in tags:
                try:
                    self.cloud.add_tag(server_id, tag)
                except CloudError as exc:
                    log.error(
                        "tagging failed; deleting the untagged server so it cannot leak",
                        extra={"server": server_id, "error": str(exc)},
                    )
                    self.cloud.delete_server(server_id)
                    raise
        log.info(
            "server requested", extra={"server": server_id, "server_name": name, "index": index, "image": image_ref}
        )
        metrics.created()
        return server_id

    def key_type(self, info: ImageInfo) -> str:
        wanted = self.cfg.credentials.key_type
        return self.strategy.key_type(info) if wanted == "auto" else wanted

    def find_created(self, name: str, request_id: str) -> tuple[str | None, bool]:
        """After a create with an unknown outcome: (the server with that request id, whether we could look)."""
        import re

        try:
            for server in self.cloud.list_servers({"name": f"^{re.escape(name)}$"}):
                if server.metadata.get(META_REQUEST) == request_id:
                    return server.id, True
        except Exception as exc:  # noqa: BLE001 - unknown outcome: not counted either way, logged
            log.warning("could not check for a half-created server: %s", exc)
            return None, False
        return None, True
