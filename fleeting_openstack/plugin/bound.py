"""One boot strategy bound to the operator's options: what the provider and the commands call.

:class:`BoundStrategy` turns the hook calls into the steps of an instance's
life: ``check`` at Init (every error at once, then a trial render),
``render_user_data`` at Increase (templating, the strategy's base, site
plugins, credential injection, Nova's size limit) and ``readiness`` at Update.
It gets the hooks from the manager through :class:`HookDispatcher`, which
restricts every call to the site plugins plus the selected strategy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Protocol, cast

from fleeting_openstack.plugin import templating, trace
from fleeting_openstack.plugin.types import (
    ImageInfo,
    InstanceContext,
    InstanceCredentials,
    KeyType,
    Observation,
    ReadinessResult,
    StrategyError,
    UserDataError,
    is_key_type,
)
from fleeting_openstack.userdata_limit import NOVA_USER_DATA_MAX, RENDERED, UserDataTooLarge, check_user_data_size

__all__ = ["MAX_USER_DATA_BASE64", "BoundStrategy", "HookDispatcher", "check_key"]

#: Nova refuses user_data whose base64 form is longer than this (the limit lives in openstack/nova.py).
MAX_USER_DATA_BASE64 = NOVA_USER_DATA_MAX

# A syntactically valid public key for the trial render in check().
_SAMPLE_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMFleetingOpenstackSampleKeyForChecks0000 fleeting-check"


_OPTION_MESSAGE = re.compile(r"^option '([^']+)'")


def check_key(message: str, user_data_key: str = "server_spec.user_data") -> str:
    """The plugin_config key a :meth:`BoundStrategy.check` message is about: ``strategy_options.<name>``
    for a strategy option (the built-ins' "option 'name' ..."), ``strategy_options`` for the table
    itself, else the user_data, which the operator wrote at ``user_data_key`` (``user_data_file``
    when the text came from that file)."""
    m = _OPTION_MESSAGE.match(message)
    if m:
        return f"strategy_options.{m.group(1)}"
    if message.startswith("strategy options "):
        return "strategy_options"
    return user_data_key


class HookDispatcher(Protocol):
    """Calls hooks for one selected strategy (the manager implements it).

    Results are what plugins returned: not checked by pluggy, so ``object``.
    """

    def call_hook(self, hook: str, selected: str, **kwargs: object) -> object:
        """``hook`` on the site plugins plus the strategy ``selected``."""

    def chain_hook(self, hook: str, selected: str, value_arg: str, **kwargs: object) -> object:
        """``hook`` one implementation at a time, each fed the previous result as ``value_arg``."""


class BoundStrategy:
    """One strategy, bound to the operator's options: what the provider calls."""

    def __init__(
        self, manager: HookDispatcher, name: str, options: Mapping[str, Any], user_data: str | None = None
    ) -> None:
        self._manager = manager
        self.name = name
        self.options: Mapping[str, Any] = options
        #: the operator's user_data as configured (readiness may look for what it makes the server print)
        self.user_data = user_data

    def __repr__(self) -> str:
        return f"BoundStrategy({self.name!r})"

    def _call(self, hook: str, **kwargs: object) -> object:
        return self._manager.call_hook(hook, self.name, strategy=self.name, **kwargs)

    # -- Init -----------------------------------------------------------------

    def check(self, user_data: str | None, options: Mapping[str, Any] | None = None) -> list[str]:
        """Every configuration error of ``user_data`` and ``options`` (empty: fine).

        Checks the ``{{fleeting.*}}`` placeholders, asks every plugin
        (``fleeting_check_config``), and, if that found nothing, performs a
        trial render with sample values so that a user_data the strategy
        cannot process fails here rather than at the first create.
        """
        opts: object = self.options if options is None else options
        if not isinstance(opts, Mapping):
            return [f"strategy options must be a table, got {type(opts).__name__}"]
        given: object = user_data  # callers with unchecked configuration get a message, not a crash
        if given is not None and not isinstance(given, str):
            return [f"user_data must be a string, got {type(given).__name__}"]
        errors = templating.find_errors(user_data)
        sample = templating.render(user_data, templating.SAMPLE_VALUES, strict=False) if user_data else user_data
        # not firstresult: one list (or None) per plugin
        answers = self._call("fleeting_check_config", user_data=sample, options=opts)
        for found in cast("list[Iterable[str] | None]", answers):
            errors.extend(found or ())
        if errors:
            return errors
        ctx = InstanceContext(
            name=templating.SAMPLE_VALUES["instance_name"],
            group=templating.SAMPLE_VALUES["group"],
            index=0,
            cloud=templating.SAMPLE_VALUES["cloud"],
            region=templating.SAMPLE_VALUES["region"],
            image=ImageInfo(id="sample-image"),
            user_data=user_data,
            username=templating.SAMPLE_VALUES["username"],
            options=opts,
        )
        try:
            self.render_user_data(ctx, InstanceCredentials(ctx.username, _SAMPLE_PUBLIC_KEY))
        except UserDataError as exc:
            errors.append(str(exc))
        return errors

    def default_username(self, image: ImageInfo) -> str | None:
        """The login user to use when the connector sets none (None: unknown)."""
        return cast("str | None", self._call("fleeting_default_username", image=image, options=self.options))

    @property
    def wants_generated_key(self) -> bool:
        """True: generate a per-instance key; False: static credentials required."""
        answer = self._call("fleeting_wants_generated_key", options=self.options)
        return True if answer is None else bool(answer)

    def key_type(self, image: ImageInfo) -> KeyType:
        """``"ed25519"`` (default) or ``"rsa"``."""
        answer = self._call("fleeting_key_type", image=image, options=self.options)
        if answer is None:
            return "ed25519"
        if not is_key_type(answer):
            raise StrategyError(f"strategy {self.name!r} asked for unsupported key type {answer!r}")
        return answer

    # -- Increase ---------------------------------------------------------------

    def render_user_data(self, ctx: InstanceContext, credentials: InstanceCredentials) -> str | None:
        """The user_data to create ``ctx``'s server with (None: no user_data).

        Order: templating, base build (``fleeting_build_user_data``), site
        customisation (``fleeting_customize_user_data``, chained), credential
        injection (``fleeting_inject_credentials``).

        :raises UserDataError: the user_data cannot be produced (bad
            placeholder, unusable operator content, result too large for Nova).
        """
        with trace.hiding(credentials.password):
            text: object = ctx.user_data
            if ctx.user_data is not None:
                text = templating.render(ctx.user_data, templating.values_for(ctx))
            ctx = replace(ctx, user_data=cast("str | None", text))
            base = self._call("fleeting_build_user_data", ctx=ctx)
            if base is not None:
                text = base
            text = self._manager.chain_hook(
                "fleeting_customize_user_data", self.name, "user_data", ctx=ctx, user_data=text, strategy=self.name
            )
            injected = self._call("fleeting_inject_credentials", ctx=ctx, user_data=text, credentials=credentials)
            if injected is not None:
                text = injected
        if text is not None and not isinstance(text, str):
            raise StrategyError(f"strategy {self.name!r} produced user_data of type {type(text).__name__}")
        if text is not None:
            try:  # the one size check of each create (openstack/nova.py); create_request trusts it
                check_user_data_size(text, RENDERED)
            except UserDataTooLarge as exc:
                raise UserDataError(
                    f"user_data is {exc.size} bytes in base64, more than Nova's limit of {MAX_USER_DATA_BASE64}"
                ) from None
        return text

    # -- Update -------------------------------------------------------------------

    def readiness(self, observation: Observation) -> ReadinessResult:
        """Whether the server has booted, from what the cloud shows.

        Non-ACTIVE servers are answered here (ERROR: FAILED, others: WAITING);
        for ACTIVE ones the strategy reads the console. WAITING means "marker
        not seen"; applying ``boot_time`` is the provider's job.
        """
        status = (observation.status or "").upper()
        if status == "ERROR":
            return ReadinessResult.failed("server status is ERROR")
        if status != "ACTIVE":
            return ReadinessResult.waiting(f"server status is {status or 'unknown'}")
        result = self._call(
            "fleeting_readiness", observation=observation, options=self.options, user_data=self.user_data
        )
        if result is None:
            return ReadinessResult.ready(f"strategy {self.name!r} has no boot marker; ACTIVE is ready")
        if not isinstance(result, ReadinessResult):
            raise StrategyError(f"strategy {self.name!r} returned {result!r} from fleeting_readiness")
        return result
