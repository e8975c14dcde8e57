"""No secret in any log line written by the libraries the plugin uses.

keystoneauth logs every request and response (headers and bodies) at debug
level, openstacksdk some more; a create's body holds ``user_data`` (which may
carry a connector password) and Nova's answer an ``adminPass``. The plugin's
own logging never contains them, and :func:`install` makes sure the
libraries' does not either, at any level: every record of a library logger
(``keystoneauth*``, ``openstack*``, ``urllib3*``, ``requests*``) has the
values of secret-bearing keys replaced by ``***`` before any handler sees it.
It is a log-record factory, so it works whatever handlers hclog or a test
attaches, and whatever level is set.
"""

from __future__ import annotations

import logging
import re
import threading

#: Keys whose values are secret in OpenStack request and response bodies and headers.
SECRET_KEYS = (
    "adminPass",
    "admin_pass",
    "user_data",
    "password",
    "secret",
    "application_credential_secret",
    "token",
    "X-Auth-Token",
    "X-Subject-Token",
    "X-Service-Token",
    "private_key",
    "key_pair",
    "personality",
    "contents",
    "authorization",
)
_LIBRARIES = ("keystoneauth", "openstack", "urllib3", "requests", "stevedore", "os_service_types")

_KEYS = "|".join(re.escape(k) for k in SECRET_KEYS)
# "key": "value"  /  'key': 'value'  (JSON and Python reprs; escaped quotes inside values)
_QUOTED = re.compile(rf"""(["']?(?:{_KEYS})["']?\s*[:=]\s*)(["'])((?:\\.|(?!\2).)*)\2""", re.IGNORECASE | re.DOTALL)
# header style: "X-Auth-Token: value" up to the end of the header value
_HEADER = re.compile(rf"""((?:-H\s+)?["']?(?:{_KEYS}):\s*)([^"'\s]+)""", re.IGNORECASE)
# a "token" object in Keystone's answers: {"token": {...}} is left to its inner keys; ids of tokens:
_TOKEN_ID = re.compile(r"""(["']id["']\s*:\s*["'])(gAAAA[A-Za-z0-9_\-=]+)(["'])""")

_installed = False
_lock = threading.Lock()


def redact(text: str) -> str:
    text = _QUOTED.sub(lambda m: f"{m.group(1)}{m.group(2)}***{m.group(2)}", text)
    text = _HEADER.sub(lambda m: m.group(1) + ("***" if not m.group(2).startswith("{SHA256}") else m.group(2)), text)
    return _TOKEN_ID.sub(r"\1***\3", text)


def _is_library(name: str) -> bool:
    return name.split(".", 1)[0] in _LIBRARIES


def install() -> None:
    """Redact library log records from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _is_library(record.name):
                try:
                    message = record.getMessage()
                except Exception:  # noqa: BLE001 - a broken record stays as it is
                    return record
                cleaned = redact(message)
                if cleaned != message or record.args:
                    record.msg, record.args = cleaned, None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
