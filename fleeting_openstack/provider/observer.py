"""The group seen read-only, as Init would see it: what the ``status`` and ``reap`` commands use.

:class:`GroupObserver` builds its state exactly as the provider's Init does
(:mod:`.groupstate`, Init's own checks), but keeps Init's resource problems in
:attr:`~GroupObserver.problems` instead of raising, adopts (tags) nothing, opens no
key store and serves no metrics; members are found by tag *or* metadata (so the Go
plugin's servers show too). Its verdicts are the provider's Update decision,
gathered without acting: nothing is deleted, tagged or written, except by
:meth:`~GroupObserver.delete`, which ``reap --yes`` calls for each leak.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from fleeting_openstack.provider import groupstate
from fleeting_openstack.provider.resources.kind import Leak

if TYPE_CHECKING:
    from fleeting_openstack.config import LoadedConfig, PluginConfig
    from fleeting_openstack.contract.instancegroup import Settings, State
    from fleeting_openstack.openstack.models import Image, Server
    from fleeting_openstack.provider.groupstate import GroupState
    from fleeting_openstack.provider.initchecks import InitCheckRunner
    from fleeting_openstack.provider.states import Verdict

__all__ = ["GroupObserver", "Leak"]


class GroupObserver:
    """One group, observed read-only. :meth:`open` first (Init's checks); then ask.

    ``checks``: Init's checks (default ``initchecks.run``: the real cloud; a test passes
    one returning a fake cloud). ``set_log_level``: what plugin_config ``log_level`` is handed
    to, as the provider's Init does (None: ignored). ``reasons``: per server id, why it got its
    state at the last :meth:`evaluate`; ``would_reap``: the servers the plugin would delete, with why."""

    def __init__(
        self, *, checks: InitCheckRunner | None = None, set_log_level: Callable[[str], None] | None = None
    ) -> None:
        self._checks = checks
        self._set_log_level = set_log_level
        self._state: GroupState | None = None
        self.reasons: dict[str, str] = {}
        self.would_reap: dict[str, str] = {}

    def open(self, config: bytes, settings: Settings, *, loaded: LoadedConfig | None = None) -> None:
        """Init's checks and wiring, read-only. ValueError when Init could not go on at all
        (unknown strategy, the cloud unreachable); Init's other problems are kept in :attr:`problems`."""
        from fleeting_openstack.provider.states import Memory

        cfg = groupstate.load(config, loaded)
        if cfg.log_level and self._set_log_level is not None:
            self._set_log_level(cfg.log_level)
        found = groupstate.checks(cfg, settings, self._checks, observe=True)
        try:
            self._state = groupstate.build(
                cfg,
                settings,
                found,
                observe=True,
                memory=Memory(),
                reasons=self.reasons,
                lock=threading.Lock(),
                hooks=groupstate.Hooks(),
            )
        except BaseException:
            if found.cloud is not None:
                found.cloud.close()
            raise

    def _ready(self) -> GroupState:
        if self._state is None:
            raise RuntimeError("the observer is not open (open() has not succeeded)")
        return self._state

    @property
    def config(self) -> PluginConfig:
        return self._ready().cfg

    @property
    def problems(self) -> list[str]:
        """What would make the plugin's Init fail ("path: message" lines); empty when it would succeed."""
        return list(self._ready().problems)

    def members(self) -> list[Server]:
        """The group's servers now: by tag or by the Go plugin's metadata."""
        state = self._ready()
        return groupstate.list_members(state.cfg, state.cloud, None, by_tag=False)

    def verdicts(self) -> list[tuple[Server, Verdict]]:
        """Every server of the group with the verdict the plugin's Update would act on; acts on none."""
        return self._ready().verdicts.assess(self.members(), time.time())

    def evaluate(self) -> list[tuple[Server, State]]:
        """:meth:`verdicts` as states; :attr:`reasons` and :attr:`would_reap` say why."""
        assessed = self.verdicts()
        self.reasons.clear()
        self.reasons.update((s.id, v.reason) for s, v in assessed)
        self.would_reap = {s.id: v.reason for s, v in assessed if v.reap}
        return [(s, v.state) for s, v in assessed]

    def record(self, server: Server) -> Server:
        """The server's own record (a listing may omit an ERROR server's fault); ``server`` when it
        cannot be read."""
        try:
            return self._ready().cloud.get_server(server.id)
        except Exception:  # noqa: BLE001 - the listing's answer stands
            return server

    def addresses(self, server: Server) -> tuple[str, str]:
        """(internal, external): what ConnectInfo would hand the runner (:class:`.addresses.Addresses`)."""
        return self._ready().addresses.of(server)

    def image(self, server: Server) -> Image | None:
        """The image the server was booted from (None when it cannot be found)."""
        return self._ready().images.of(server)

    def new_image(self) -> Image | None:
        """The image a new server gets: Init's lookup made now, so with ``image_name`` the newest
        match (the runner's plugin switches to it within ``image_refresh``); None when none is found
        or the server boots from a volume without an image."""
        return self._ready().resolved.image

    def leaks(self, say: Callable[[str], None] = lambda text: None) -> tuple[list[Leak], list[str]]:
        """What the group leaked, and notes about what could not be checked (:func:`.leaks.find_leaks`),
        from a fresh :meth:`evaluate`."""
        from fleeting_openstack.provider.leaks import find_leaks

        evaluated = self.evaluate()
        state = self._ready()
        return find_leaks(state.cloud, state.cfg, [server for server, _ in evaluated], self.would_reap, say)

    def delete(self, leak: Leak) -> None:
        """Delete one leaked resource (``reap --yes``); gone already counts as deleted."""
        from fleeting_openstack.provider.leaks import delete_leak

        delete_leak(self._ready().cloud, leak)

    def close(self) -> None:
        if self._state is not None:
            self._state.cloud.close()
