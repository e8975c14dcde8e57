"""The group's identity in the cloud as the provider writes it: metadata keys, the Nova tag, server names.

To be replaced by ``config/identity.py`` (the one module for group identity) once
that is on main; until then the provider's copy lives here, and only here.
"""

from __future__ import annotations

import hashlib

META_CLUSTER = "fleeting-cluster"
META_INDEX = "fleeting-index"
META_SALT = "fleeting-key-salt"
META_KEY_TYPE = "fleeting-key-type"
META_REQUEST = "fleeting-request"
#: A check value of the master secret (HMAC of the salt): tells a lost or replaced state dir.
META_KEY_CHECK = "fleeting-key-check"


def group_tag(name: str) -> str:
    """The Nova tag marking the group's servers (Nova: <= 60 chars, no '/' or ',')."""
    tag = f"fleeting:{name}"
    if len(tag) <= 60:
        return tag
    return f"fleeting:{name[:34]}~{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def server_name(template: str, index: int) -> str:
    """The name of the server with ``index``: ``%d`` replaced, else ``-<index>`` appended."""
    if "%d" in template:
        return template.replace("%d", str(int(index)), 1)
    return f"{template}-{index}"
