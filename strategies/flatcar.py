"""Built-in strategy ``flatcar``: Ignition plus Flatcar Container Linux conventions.

* login user ``core`` (unless the image's ``os_admin_user`` says otherwise);
* automatic updates and reboots off, so a worker never reboots under a job:
  ``/etc/flatcar/update.conf`` gets ``SERVER=disabled`` and
  ``REBOOT_STRATEGY=off`` — unless the operator's config already writes that
  file (or the legacy ``/etc/coreos/update.conf``), or the option
  ``disable_updates = false`` is set;
* readiness as for ``ignition``: ``SSH host key: ...`` then ``<host> login:``.

Everything else (spec versions, key injection) is the ``ignition`` strategy's.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from fleeting_openstack.plugin import InstanceContext, JSONObject, StrategyOptions, StrategyRegistry, hookimpl

from .ignition import IgnitionStrategy, array_at, file_paths, object_at

NAME = "flatcar"
UPDATE_CONF = "/etc/flatcar/update.conf"
LEGACY_UPDATE_CONF = "/etc/coreos/update.conf"
UPDATE_SETTINGS = "SERVER=disabled\nREBOOT_STRATEGY=off\n"


def update_conf_file() -> JSONObject:
    return {
        "path": UPDATE_CONF,
        "overwrite": True,
        "mode": 0o644,
        "contents": {"source": "data:," + quote(UPDATE_SETTINGS, safe="")},
    }


class FlatcarStrategy(IgnitionStrategy):
    name = NAME
    options_help: Mapping[str, str] = {
        **IgnitionStrategy.options_help,
        "disable_updates": "write /etc/flatcar/update.conf turning updates and reboots off (default true)",
    }

    @hookimpl
    def fleeting_check_config(self, user_data: str | None, options: StrategyOptions) -> list[str]:
        errors = self.known_option_errors(options)
        if not isinstance(options.get("disable_updates", True), bool):
            errors.append(f"option 'disable_updates' must be true or false, got {options['disable_updates']!r}")
        return errors + self.check_user_data(user_data)

    def base_config(self, ctx: InstanceContext) -> JSONObject:
        cfg = super().base_config(ctx)
        if ctx.options.get("disable_updates", True) and not file_paths(cfg) & {UPDATE_CONF, LEGACY_UPDATE_CONF}:
            array_at(object_at(cfg, "storage"), "files").append(update_conf_file())
        return cfg


@hookimpl
def fleeting_register_strategies(registry: StrategyRegistry) -> None:
    registry.add(NAME, FlatcarStrategy())
