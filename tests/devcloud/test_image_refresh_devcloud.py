"""Fresh images without a restart (issue 19 item 7) on the real Glance and Nova: the provider,
in-process and Init'ed once, boots the newest active image named ``image_name`` that has the
``image_properties``; an image rebuilt under the same name is used by the next create after
``image_refresh``; a deleted image gives way to the remaining newest, also at once when Nova
refuses a create because the image is gone. Servers already made keep their image."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devcloud.lifecycle import start  # noqa: E402

pytestmark = pytest.mark.usefixtures("cleanup_group")


@pytest.fixture()
def images(admin: Any) -> Iterator[list[str]]:
    """The ids of the images a test uploads (deleted afterwards, also when it fails)."""
    made: list[str] = []
    yield made
    for image_id in made:
        admin.image.delete_image(image_id, ignore_missing=True)


def upload(admin: Any, made: list[str], name: str, **properties: str) -> str:
    """A tiny raw public image called ``name``; its id. A second apart from the one before: Glance's
    created_at has whole seconds, and the newest must be told apart."""
    time.sleep(1.1)
    image = admin.image.create_image(name=name, disk_format="raw", container_format="bare", visibility="public",
                                     data=b"\0" * 16384, fleeting_e2e="true", os_admin_user="ubuntu",
                                     allow_duplicates=True,  # the point: one name, several images
                                     **properties)
    made.append(image.id)
    assert admin.image.get_image(image.id).status == "active"
    return str(image.id)


def booted_from(admin: Any, server_id: str) -> str:
    return str(admin.compute.get_server(server_id).image["id"])


def create_one(provider: Any, admin: Any, known: set[str]) -> str:
    """Increase by one; the new server's id (by the group's listing)."""
    assert provider.increase(1) == 1
    ids = {server_id for server_id, _ in provider.update()} - known
    assert len(ids) == 1, ids
    known |= ids
    return ids.pop()


def config(plugin_config: Any, name: str, refresh: str) -> dict[str, Any]:
    cfg = plugin_config(image_refresh=refresh, image_properties={"ci": "true"})
    del cfg["server_spec"]["imageRef"]
    cfg["server_spec"]["image_name"] = name
    return cfg


def status(cfg: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """``status --json`` for the group (a runner's config.toml naming ``cfg``)."""
    from devcloud.test_commands import run, runner_toml

    path = tmp_path / "config.toml"
    path.write_text(runner_toml(cfg, name="workers"))
    code, out, err = run("status", str(path), "--json")
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def test_a_newer_image_of_the_same_name_is_used_after_the_interval_and_a_deleted_one_gives_way(
    plugin_config, admin, group_name, images, tmp_path, plugin_logs
):
    name = f"{group_name}-ci"
    first = upload(admin, images, name, ci="true")
    upload(admin, images, name, ci="false")  # newer, same name, not selected by image_properties
    cfg = config(plugin_config, name, "2s")
    provider = start(cfg)
    known: set[str] = set()
    one = create_one(provider, admin, known)
    assert booted_from(admin, one) == first

    rebuilt = upload(admin, images, name, ci="true")  # tonight's build, same name: no restart
    time.sleep(2.5)  # image_refresh has passed
    two = create_one(provider, admin, known)
    assert booted_from(admin, two) == rebuilt
    assert booted_from(admin, one) == first  # what exists keeps its image
    seen = status(cfg, tmp_path)  # which image each server runs, which one new servers get
    assert seen["new_servers_image"] == {"id": rebuilt, "name": name}
    assert {row["id"]: row["image"]["id"] for row in seen["servers"]} == {one: first, two: rebuilt}

    admin.image.delete_image(rebuilt)
    time.sleep(2.5)
    three = create_one(provider, admin, known)
    assert booted_from(admin, three) == first  # the remaining newest ci=true image
    state = provider.state
    assert state is not None and state.creator.images is not None and state.creator.images.current.id == first
    seen = status(cfg, tmp_path)  # the deleted image is still what server two runs
    assert seen["new_servers_image"]["id"] == first
    assert {row["id"]: row["image"]["id"] for row in seen["servers"]} == {one: first, two: rebuilt, three: first}
    switches = [(e["old_image"], e["new_image"]) for e in plugin_logs.entries()
                if str(e.get("@message", "")).startswith("image switched")]
    assert switches == [(first, rebuilt), (rebuilt, first)]  # each switch once, with both ids
    provider.shutdown()


def test_a_create_nova_refuses_because_the_image_is_gone_looks_again_at_once(
    plugin_config, admin, group_name, images
):
    name = f"{group_name}-ci"
    first = upload(admin, images, name, ci="true")
    newest = upload(admin, images, name, ci="true")
    provider = start(config(plugin_config, name, "1h"))  # no periodic look within this test
    known: set[str] = set()
    one = create_one(provider, admin, known)
    assert booted_from(admin, one) == newest

    admin.image.delete_image(newest)
    two = create_one(provider, admin, known)  # Nova: "Image ... could not be found" -> look again, retry
    assert booted_from(admin, two) == first
    assert booted_from(admin, one) == newest
    provider.shutdown()
