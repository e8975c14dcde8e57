"""Nova's user_data limit and its one check: a leaf module (it imports nothing of the package).

Nova takes the base64 of the UTF-8 text and refuses more than
:data:`NOVA_USER_DATA_MAX` characters. The config rules check the configured
text at load, the strategy host the text a boot strategy renders for each
create (so ``validate``'s trial render reports it too), and the OpenStack
adapter encodes it into the create body: three layers, one definition, so it
lives below all of them.
"""

from __future__ import annotations

import base64

__all__ = [
    "CONFIGURED",
    "NOVA_USER_DATA_MAX",
    "RENDERED",
    "UserDataTooLarge",
    "check_user_data_size",
    "encode_user_data",
]

#: Nova's limit on ``user_data``, in bytes *after* base64 encoding.
NOVA_USER_DATA_MAX = 65535

#: The key named when the configured user_data cannot be encoded.
CONFIGURED = "server_spec.user_data"
#: The key named when the text the boot strategy rendered cannot be encoded.
RENDERED = "user_data (server_spec.user_data as rendered by the boot strategy)"


class UserDataTooLarge(ValueError):
    """The base64 form of a user_data text is longer than Nova accepts (``size``: its length)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"user_data is {size} bytes after base64 encoding; Nova's limit is {NOVA_USER_DATA_MAX}")
        self.size = size


def _utf8(text: str, key: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise ValueError(
            f"{key}: character {bad!r} at position {exc.start} cannot be encoded as UTF-8 "
            "(a lone surrogate: an escape such as \\ud800 in the config, or a strategy's "
            "output); Nova needs UTF-8 text"
        ) from None


def encode_user_data(text: str, key: str = CONFIGURED) -> str:
    """The ``user_data`` value sent to Nova for the plain text ``text``: its
    UTF-8 bytes in base64. A text that is not valid Unicode (a lone surrogate)
    raises ValueError naming ``key`` and the position. No size check: see
    :func:`check_user_data_size`."""
    return base64.b64encode(_utf8(text, key)).decode("ascii")


def check_user_data_size(text: str, key: str = CONFIGURED) -> int:
    """The length of ``text``'s base64 form (computed, not encoded); :class:`UserDataTooLarge`
    when Nova would refuse it, ValueError naming ``key`` when it is not valid Unicode."""
    size = 4 * ((len(_utf8(text, key)) + 2) // 3)
    if size > NOVA_USER_DATA_MAX:
        raise UserDataTooLarge(size)
    return size
