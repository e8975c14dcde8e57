"""Hook tracing: every strategy hook call and its result, logged without secrets.

Switched on by ``FLEETING_OPENSTACK_TRACE_HOOKS=1`` (or ``trace=True`` when a
:class:`~fleeting_openstack.host.manager.StrategyManager` is loaded): pluggy's
hook-call monitoring calls :func:`before` and :func:`after`, which log through
the logger ``fleeting_openstack.strategies`` at DEBUG. Kept apart from the
manager because what may be logged is a security question of its own: private
key blocks, the operator's password (for the duration of :func:`hiding`) and
long texts never reach the log whole.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence

import pluggy

__all__ = ["TRACE_ENV", "after", "before", "enabled_by_env", "hiding", "redact"]

log = logging.getLogger("fleeting_openstack.strategies")  # the name operators know (before the move)

TRACE_ENV = "FLEETING_OPENSTACK_TRACE_HOOKS"

_PRIVATE_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|\Z)", re.DOTALL)
_TRACE_MAX = 2000
# Secret strings of the call in progress (the operator's password).
_secrets: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("fleeting_openstack_secrets", default=())


def enabled_by_env() -> bool:
    """True when ``FLEETING_OPENSTACK_TRACE_HOOKS`` asks for tracing (1, true, yes, on)."""
    return os.environ.get(TRACE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def redact(value: object) -> str:
    """``repr(value)`` with private keys and in-flight secrets removed, shortened."""
    text = value if isinstance(value, str) else repr(value)
    text = _PRIVATE_BLOCK.sub("<redacted private key>", text)
    for secret in _secrets.get():
        # as is, escaped inside a repr, and as YAML's single-quoted style writes it
        for form in {secret, repr(secret)[1:-1], secret.replace("'", "''")}:
            text = text.replace(form, "<redacted>")
    if len(text) > _TRACE_MAX:
        text = f"{text[:_TRACE_MAX]}...<{len(text) - _TRACE_MAX} more chars>"
    return text if not isinstance(value, str) else repr(text)


@contextlib.contextmanager
def hiding(*secrets: str | None) -> Iterator[None]:
    """Within the block, :func:`redact` also removes ``secrets`` (None and "" ignored)."""
    token = _secrets.set(_secrets.get() + tuple(s for s in secrets if s))
    try:
        yield
    finally:
        _secrets.reset(token)


def before(hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]) -> None:
    """pluggy's ``before`` monitor: the hook, its (redacted) arguments and who implements it."""
    args = ", ".join(f"{k}={redact(v)}" for k, v in kwargs.items())
    impls = ", ".join(i.plugin_name for i in hook_impls)
    log.debug("hook %s(%s) -> [%s]", hook_name, args, impls)


def after(
    outcome: pluggy.Result[object],
    hook_name: str,
    hook_impls: Sequence[pluggy.HookImpl],
    kwargs: Mapping[str, object],
) -> None:
    """pluggy's ``after`` monitor: the (redacted) result or exception."""
    if outcome.exception is not None:
        log.debug("hook %s raised %s", hook_name, redact(outcome.exception))
    else:
        log.debug("hook %s returned %s", hook_name, redact(outcome.get_result()))
