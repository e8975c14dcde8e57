"""``render-user-data PATH [--runner NAME] [--username NAME] [--instance-name NAME] [--check-cloud]``.

``--username NAME`` gives the login user (the runner's ``connector_config.username``), so a
plugin_config JSON renders offline too; offline the clouds.yaml is not read. ``--instance-name``
must be a name of the group's template; its number is the index the templating sees.

Prints, on stdout and nothing else, the user_data Nova would receive for a new
instance of the group, decoded from the base64 of the create request: built
by :func:`fleeting_openstack.host.render.render` (the function Increase calls)
and encoded by :func:`fleeting_openstack.openstack.nova.create_request` (the
request Increase sends). The SSH key in it is a throwaway one generated for
the preview (never stored); the plugin puts a fresh per-instance key there. Offline the image is a
placeholder with the configured ``imageRef`` (a strategy that reads image
properties may then differ); ``--check-cloud`` resolves it as Init does.

Exit status: 0 printed; 1 the config or the strategy cannot produce user_data
(or a cloud check failed); 2 usage (an --instance-name the template does not give), unreadable
file, no such runner.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import tempfile
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from fleeting_openstack.cli.common import Target
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.host import BoundStrategy
    from fleeting_openstack.plugin.types import ImageInfo

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
PROG = "fleeting-plugin-openstack render-user-data"


def throwaway_key(strategy: BoundStrategy, cfg: PluginConfig, image: ImageInfo) -> str:
    """A public key of the type the plugin would generate, from a key store that is deleted at once."""
    from fleeting_openstack.provider.keys import KeyStore, new_salt

    key_type = strategy.key_type(image) if cfg.credentials.key_type == "auto" else cfg.credentials.key_type
    with tempfile.TemporaryDirectory(prefix="fleeting-render-") as tmp:
        return KeyStore(tmp).instance_key(new_salt(), key_type).public_key_openssh


class BadInstanceName(ValueError):
    """``--instance-name`` is not a name the group's template gives (exit status 2)."""


def instance(template: str, name: str | None) -> tuple[str, int]:
    """The new instance's name and index: ``name`` checked against the server name ``template``
    (its index is the number in it), or the template's first name (index 1)."""
    from fleeting_openstack.config.identity import index_of, server_name

    if name is None:
        return server_name(template, 1), 1
    index = index_of(template, name)
    if index is None:
        raise BadInstanceName(
            f"--instance-name {name!r} is not a name of this group: server_spec.name {template!r} gives names "
            f"such as {server_name(template, 7)!r} (the number is the instance index)"
        )
    return name, index


def render_text(
    target: Target, *, name: str | None = None, check_cloud: bool = False, username: str | None = None
) -> tuple[str | None, list[str]]:
    """(the decoded user_data Nova receives or None, notes for stderr). ``username``: the login
    user to render for (``--username``), over the runner's connector_config."""
    from fleeting_openstack.host import default_manager
    from fleeting_openstack.host import render as userdata
    from fleeting_openstack.openstack.nova import create_request
    from fleeting_openstack.plugin.types import ImageInfo
    from fleeting_openstack.provider import initchecks
    from fleeting_openstack.provider.imageinfo import image_info

    cfg, connector = target.config, target.connector
    if username:
        connector = dataclasses.replace(connector, username=username)
    name, index = instance(cfg.server_spec.name_template, name)
    notes: list[str] = []
    region = ""
    if check_cloud:
        checks = initchecks.run(cfg, connector, keys="skip")
        try:
            if checks.fatal is not None:
                raise ValueError(f"{checks.fatal_key}: {checks.fatal}")
            if checks.problems:
                raise ValueError("Init would fail: " + "; ".join(checks.problems))
            strategy, res, cloud = checks.strategy, checks.resolved, checks.cloud
            assert strategy is not None and res is not None and cloud is not None  # no fatal, no problems
            image = image_info(res.image) or ImageInfo(id="")
            username, region = res.username, cloud.region
        finally:
            if checks.cloud is not None:
                checks.cloud.close()
    else:
        strategy = default_manager().strategy(cfg.strategy, cfg.strategy_options)
        image = ImageInfo(id=cfg.server_spec.image_ref or "")
        username = connector.username or strategy.default_username(image) or ""
        if not username and connector.protocol in ("", "ssh"):  # Init's own check (initchecks)
            raise ValueError(
                "no login user known offline: give it with --username NAME (the runner's "
                "connector_config.username), or use --check-cloud to read the image property "
                "os_admin_user as Init does"
            )
        notes.append("offline: the image was not looked up (--check-cloud does, as Init)")
    public_key = None
    if strategy.wants_generated_key and not connector.use_static_credentials:
        public_key = throwaway_key(strategy, cfg, image)
        notes.append("the SSH key is a throwaway one; each instance gets its own")
    text = userdata.render(
        strategy,
        cfg,
        name=name,
        index=index,
        region=region,
        image=image,
        username=username,
        public_key=public_key,
        password=connector.password,
    )
    request = create_request(cfg.server_spec.body, image_ref="image", flavor_ref="flavor", user_data=text)
    server = request["server"]
    encoded = server.get("user_data") if isinstance(server, dict) else None
    if not isinstance(encoded, str):
        return None, [*notes, "no user_data: Nova receives none"]
    return base64.b64decode(encoded).decode("utf-8"), notes


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from fleeting_openstack.cli.common import CommandError, load_target

    try:
        # Offline the clouds.yaml is not needed: it may be readable only by the runner's user.
        target = load_target(args.path, args.runner, clouds_file=args.check_cloud)
    except CommandError as exc:
        err.write(f"{PROG}: {exc}\n")
        return exc.code
    try:
        text, notes = render_text(target, name=args.instance_name, check_cloud=args.check_cloud, username=args.username)
    except BadInstanceName as exc:
        err.write(f"{PROG}: {exc}\n")
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - strategy, template or size problem: one line
        err.write(f"{PROG}: {exc}\n")
        return EXIT_PROBLEMS
    if text is not None:
        out.write(text)  # exactly what Nova gets: no newline added
    for note in notes:
        err.write(f"note: {note}\n")
    return EXIT_OK
