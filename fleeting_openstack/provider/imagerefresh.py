"""New servers boot the newest image named ``server_spec.image_name``, without a restart.

Sites rebuild their CI image nightly under the same name. Init resolves ``image_name``
(narrowed by ``image_properties``; the newest active match wins, see
:meth:`~fleeting_openstack.openstack.client.Cloud.image`); :class:`ImageRefresh` looks it up
again

* every ``image_refresh`` (a create that finds the last look older than that looks again;
  one create looks, the others take the current image meanwhile), and
* at once when a create failed because the image is gone (Nova answers "Can not find
  requested image", "Image ... could not be found" / "is not active": :func:`image_gone`);
  the create is then tried once more with the image found.

Only new creates use it: servers already made (running or suspended) keep the image they
booted, and nothing here touches them. Each switch is logged once, with both ids. A failed
or empty lookup keeps the current image (logged). ``image_refresh = 0`` builds no
:class:`ImageRefresh`: the image is resolved at Init only. Assumption: the rebuilt image
needs the same login user as the one Init saw (the login user is worked out once, at Init).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleeting_openstack.openstack.models import Image
    from fleeting_openstack.provider.cloud import ImageSource

log = logging.getLogger("fleeting_openstack.provider")

#: Nova's answers to a create whose image is gone (HTTP 400): "Can not find requested image" (the
#: servers API's answer to ImageNotFound, seen on the devcloud), "Image <id> could not be found." /
#: "Image <id> is not active." (ImageNotFound / ImageNotActive as other Nova paths word them).
_GONE = re.compile(
    r"can ?not find requested image|\bimage\b.*\b(could not be found|not found|is not active)", re.IGNORECASE
)


def image_gone(status: int | None, message: str) -> bool:
    """Whether a refused create (HTTP ``status``, Nova's ``message``) says its image is gone."""
    return status in (400, 404) and _GONE.search(message) is not None


class ImageRefresh:
    """The image new servers get, looked up again every ``interval`` seconds (thread-safe)."""

    def __init__(
        self,
        cloud: ImageSource,
        name: str,
        properties: Mapping[str, str],
        interval: float,
        image: Image,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cloud, self.name, self.properties, self.interval = cloud, name, dict(properties), interval
        self.clock = clock
        self._image = image
        self._checked = clock()
        self._lock = threading.Lock()
        self._missing = False  # the last lookup found nothing (logged once until it finds one again)

    @property
    def current(self) -> Image:
        """The image new servers get now (no lookup)."""
        return self._image

    def image(self) -> Image:
        """The image for the next create: looked up again when ``interval`` has passed."""
        due = self.interval > 0 and self.clock() - self._checked >= self.interval
        if due and self._lock.acquire(blocking=False):  # another create looking: take the current
            try:
                if self.clock() - self._checked >= self.interval:
                    self._lookup()
            finally:
                self._lock.release()
        return self._image

    def gone(self, image_id: str) -> bool:
        """A create with ``image_id`` failed because the image is gone: look again now.
        Whether new creates now get another image (worth trying once more)."""
        with self._lock:
            if self._image.id == image_id:
                self._lookup()
            return self._image.id != image_id

    def _lookup(self) -> None:
        from fleeting_openstack.openstack.errors import NotFound

        self._checked = self.clock()
        old = self._image
        try:
            found = self.cloud.image(name=self.name, properties=self.properties or None)
        except NotFound as exc:
            if not self._missing:
                log.error(
                    "image_name matches no image any more; new servers keep the last one found",
                    extra={"image_name": self.name, "image": old.id, "error": str(exc)},
                )
            self._missing = True
            return
        except Exception as exc:  # noqa: BLE001 - a lookup that failed keeps the image; creates go on
            log.warning(
                "could not look up image_name again; new servers keep the current image",
                extra={"image_name": self.name, "image": old.id, "error": str(exc)},
            )
            return
        self._missing = False
        if found.id != old.id:
            self._image = found
            log.info(
                "image switched: new servers boot the newest image named %s",
                self.name,
                extra={"image_name": self.name, "old_image": old.id, "new_image": found.id},
            )
