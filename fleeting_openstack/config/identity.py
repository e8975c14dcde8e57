"""The group's identity in the cloud: how the plugin marks, names and recognises its servers.

Everything an operator (or the Go plugin before us) can see on a server that
ties it to a group lives here, once: the metadata keys the plugin writes, the
Nova tag, how a server name is rendered from ``server_spec.name`` and the
pattern that recognises the names of a group's servers (also after Nova has
dropped their metadata and tags, for deleted servers and leaked keypairs).
Changing any value here changes what existing clouds contain: don't, unless
old values are still recognised.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "GROUP_METADATA_KEY",
    "META_CLUSTER",
    "META_INDEX",
    "META_KEY_CHECK",
    "META_KEY_TYPE",
    "META_REQUEST",
    "META_SALT",
    "META_SUSPEND",
    "PLUGIN_METADATA",
    "TAG_PREFIX",
    "group_tag",
    "index_of",
    "keypair_name",
    "name_pattern",
    "name_prefix",
    "render_name",
    "server_name",
]

#: Metadata ``fleeting-cluster=<group>``: the server is a member of the group.
#: Kept from the Go plugin so that servers it created are still recognised.
META_CLUSTER = "fleeting-cluster"
#: Metadata: the instance index (the ``%d`` of its name); the name counter is raised past it.
META_INDEX = "fleeting-index"
#: Metadata: the non-secret salt the instance's SSH key is derived from.
META_SALT = "fleeting-key-salt"
#: Metadata: the type of the instance's SSH key (``ed25519`` or ``rsa``).
META_KEY_TYPE = "fleeting-key-type"
#: Metadata: the UUID of the create request (finds a half-created server after a 5xx).
META_REQUEST = "fleeting-request"
#: Metadata: a check value of the master secret (HMAC of the salt): tells a lost or replaced state dir.
META_KEY_CHECK = "fleeting-key-check"
#: Metadata: the server was suspended by the plugin (Suspend): ``suspended <unix time> <action>``,
#: then ``resuming <unix time> <action>`` from Resume until the plugin sees it ready again (removed
#: then). A SHUTOFF/SUSPENDED/SHELVED server without it is unusable (deleted); with it, suspended.
META_SUSPEND = "fleeting-suspend"

#: The metadata key that marks group membership (the name config's rules use).
GROUP_METADATA_KEY = META_CLUSTER
#: Every metadata key the plugin itself sets on a server (counts against Nova's limits).
PLUGIN_METADATA: tuple[str, ...] = (
    META_CLUSTER,
    META_INDEX,
    META_REQUEST,
    META_SALT,
    META_KEY_TYPE,
    META_KEY_CHECK,
    META_SUSPEND,
)

#: The Nova tag of a group's servers is this prefix followed by the group name.
TAG_PREFIX = "fleeting:"
#: Nova's limit on the length of a tag.
NOVA_TAG_MAX = 60


def group_tag(name: str) -> str:
    """The Nova tag marking the group's servers (Nova: <= 60 chars, no '/' or ',')."""
    tag = f"{TAG_PREFIX}{name}"
    if len(tag) <= NOVA_TAG_MAX:
        return tag
    return f"{TAG_PREFIX}{name[:34]}~{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def keypair_name(group: str) -> str:
    """The keypair name that belongs to the group (``fleeting-<group>``; ``-*`` suffixes too)."""
    return f"fleeting-{group}"


def render_name(template: str, index: int) -> str:
    """``template`` with its (single) ``%d`` replaced by ``index``."""
    return template.replace("%d", str(int(index)), 1)


def server_name(template: str, index: int) -> str:
    """The name the plugin gives instance ``index``: the ``%d`` replaced, else ``<template>-<index>``."""
    if "%d" in template:
        return render_name(template, index)
    return f"{template}-{index}"


def name_prefix(template: str) -> str:
    """The literal start of a server name template (everything before ``%d``)."""
    return template.split("%d", 1)[0] if "%d" in template else template


def name_pattern(template: str) -> re.Pattern[str]:
    """The names :func:`server_name` gives this group's servers (use with ``fullmatch``)."""
    if "%d" in template:
        before, _, after = template.partition("%d")
        return re.compile(re.escape(before) + r"[0-9]+" + re.escape(after))
    return re.compile(re.escape(template) + r"-[0-9]+")


def index_of(template: str, name: str) -> int | None:
    """The instance index in ``name`` when it is a name :func:`server_name` gives (None: it is not)."""
    if "%d" in template:
        before, _, after = template.partition("%d")
    else:
        before, after = template + "-", ""
    m = re.fullmatch(re.escape(before) + r"([0-9]+)" + re.escape(after), name)
    return int(m.group(1)) if m else None
