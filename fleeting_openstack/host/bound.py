"""One boot strategy bound to the operator's options: what the provider and the commands call.

:class:`BoundStrategy` turns the hook calls into the steps of an instance's
life: ``check`` at Init (every error at once, then a trial render),
``render_user_data`` at Increase (templating, the strategy's base, site
plugins, credential injection, Nova's size limit) and ``readiness`` at Update.
It calls the hooks through :class:`~fleeting_openstack.host.hooks.StrategyHooks`
(one typed method per hook, restricted to the site plugins plus the selected strategy).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from fleeting_openstack.host import trace
from fleeting_openstack.host.hooks import StrategyHooks
from fleeting_openstack.plugin import templating
from fleeting_openstack.plugin.types import (
    ImageInfo,
    InstanceContext,
    InstanceCredentials,
    KeyType,
    Observation,
    ReadinessResult,
    StrategyOptions,
    UserDataError,
)
from fleeting_openstack.userdata_limit import NOVA_USER_DATA_MAX, RENDERED, UserDataTooLarge, check_user_data_size

__all__ = ["MAX_USER_DATA_BASE64", "BoundStrategy", "check_key"]

#: Nova refuses user_data whose base64 form is longer than this (fleeting_openstack/userdata_limit.py).
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


class BoundStrategy:
    """One strategy, bound to the operator's options: what the provider calls."""

    def __init__(self, hooks: StrategyHooks, name: str, options: StrategyOptions, user_data: str | None = None) -> None:
        self._hooks = hooks
        self.name = name
        self.options: StrategyOptions = options
        #: the operator's user_data as configured (readiness may look for what it makes the server print)
        self.user_data = user_data

    def __repr__(self) -> str:
        return f"BoundStrategy({self.name!r})"

    # -- Init -----------------------------------------------------------------

    def check(self, user_data: str | None, options: StrategyOptions | None = None) -> list[str]:
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
        errors.extend(self._hooks.check_config(self.name, user_data=sample, options=opts))
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
        return self._hooks.default_username(self.name, image=image, options=self.options)

    @property
    def wants_generated_key(self) -> bool:
        """True: generate a per-instance key; False: static credentials required."""
        answer = self._hooks.wants_generated_key(self.name, options=self.options)
        return True if answer is None else answer

    def key_type(self, image: ImageInfo) -> KeyType:
        """``"ed25519"`` (default) or ``"rsa"``."""
        answer = self._hooks.key_type(self.name, image=image, options=self.options)
        return "ed25519" if answer is None else answer

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
            text = ctx.user_data
            if text is not None:
                text = templating.render(text, templating.values_for(ctx))
            ctx = replace(ctx, user_data=text)
            base = self._hooks.build_user_data(self.name, ctx=ctx)
            if base is not None:
                text = base
            text = self._hooks.customize_user_data(self.name, ctx=ctx, user_data=text)
            injected = self._hooks.inject_credentials(self.name, ctx=ctx, user_data=text, credentials=credentials)
            if injected is not None:
                text = injected
        if text is not None:
            try:  # the one size check of each create (userdata_limit.py); the adapter trusts it
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
        result = self._hooks.readiness(
            self.name, observation=observation, options=self.options, user_data=self.user_data
        )
        if result is None:
            return ReadinessResult.ready(f"strategy {self.name!r} has no boot marker; ACTIVE is ready")
        return result
