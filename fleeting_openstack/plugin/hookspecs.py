"""Hook specifications of fleeting-plugin-openstack's boot strategies.

Every hook is named ``fleeting_*`` and every plugin uses the markers below (or
``pluggy.HookimplMarker("fleeting_openstack")``, which is the same thing).

Mechanics: strategies are objects in a registry
-----------------------------------------------
A plugin (found through the entry-point group ``fleeting_openstack.strategies``)
implements :func:`fleeting_register_strategies` and adds *strategy objects* to
the registry under a name (``registry.add("cloud-init", CloudInitStrategy())``).
A strategy object implements the per-instance hooks below as ``@hookimpl``
methods. The host (:mod:`fleeting_openstack.host`, internal) registers each
strategy object with the plugin manager and, when it calls a per-instance hook,
leaves out every strategy object except the selected one. Plugins that are not
strategies ("site plugins", e.g. a company's customisation) always take part.

Why objects in a registry rather than hooks with a ``strategy`` name argument
that every implementation filters on:

* a strategy cannot answer for another one by forgetting an
  ``if strategy != "mine": return None`` guard (with firstresult hooks such a
  slip silently hijacks every other strategy);
* names are unique and checked at load (a duplicate is an error naming both
  plugins), and an unknown name can list the installed ones;
* a strategy is a plain class: it can keep state (compiled patterns) and be
  subclassed (``flatcar`` extends ``ignition``);
* pluggy still does the rest: signature validation at registration, tracing,
  blocking, ``tryfirst``/``trylast`` ordering.

Every per-instance hook still receives ``strategy`` (the selected name), so a
site plugin can act for some strategies only; strategy objects simply leave the
argument out of their signatures (pluggy passes only what an impl asks for).

Call order is pluggy's: ``tryfirst`` impls, then the most recently registered
first, then ``trylast``. Strategy objects are registered after the site plugin
entry points, so a site plugin that wants to *override* a strategy's
firstresult answer marks its impl ``tryfirst=True``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from fleeting_openstack.plugin.types import (
        ImageInfo,
        InstanceContext,
        InstanceCredentials,
        Observation,
        ReadinessResult,
        StrategyOptions,
    )

PROJECT_NAME = "fleeting_openstack"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class StrategyRegistry(Protocol):
    """What :func:`fleeting_register_strategies` receives."""

    def add(self, name: str, strategy: object) -> None:
        """Add ``strategy`` (an object with ``@hookimpl`` methods) as ``name``."""


# --------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------


@hookspec(historic=True)
def fleeting_register_strategies(registry: StrategyRegistry) -> None:
    """Add this plugin's boot strategies to ``registry``.

    Call ``registry.add(name, strategy_object)`` once per strategy. Names are
    lower-case words with dashes (``cloud-init``); a name already taken is an
    error at load; a strategy blocked as ``strategy:<name>`` in
    ``FLEETING_OPENSTACK_BLOCK_PLUGINS`` is skipped.

    Historic: the call is remembered and replayed for plugins registered
    later (``StrategyManager.register``, test plugins), so a late plugin's
    strategies are added exactly like those of an entry point. Not firstresult:
    every plugin gets to register its strategies.

    :param registry: the strategy registry; its only method is ``add``.
    """


# --------------------------------------------------------------------------
# Init: configuration checks and per-strategy policy
# --------------------------------------------------------------------------


@hookspec
def fleeting_check_config(user_data: str | None, options: StrategyOptions, strategy: str) -> list[str] | None:
    """Report every problem with the operator's user_data and options (at Init).

    Return a list of human-readable error messages (empty or None: no
    problem). Messages should say where the problem is (``user_data line 3:``,
    ``option 'key_type':``). Do not raise for configuration problems.

    Not firstresult: every implementation runs and all errors are collected,
    so the operator sees every problem at once instead of fixing them one
    restart at a time. The selected strategy checks its own options and
    rejects unknown ones; site plugins may add their own rules.

    :param user_data: the operator's user_data, templated with sample values
        (``{{fleeting.*}}`` placeholders already replaced), or None.
    :param options: the operator's strategy options.
    :param strategy: the selected strategy's name.
    """


@hookspec(firstresult=True)
def fleeting_default_username(image: ImageInfo, options: StrategyOptions, strategy: str) -> str | None:
    """Name the login user when the operator did not configure one.

    Return the user name, or None for "no opinion". The provider asks only
    when the connector's ``username`` is empty.

    firstresult: there is exactly one login user; the first answer wins (a site
    plugin overriding a strategy's guess uses ``tryfirst=True``).

    :param image: the image the instances boot from (``os_admin_user``,
        ``os_distro`` ...).
    :param options: the operator's strategy options.
    :param strategy: the selected strategy's name.
    """


@hookspec(firstresult=True)
def fleeting_wants_generated_key(options: StrategyOptions, strategy: str) -> bool | None:
    """Say whether the provider should generate a per-instance SSH key.

    True: the provider derives a key per instance (see
    the provider's key store) and hands its public half to
    :func:`fleeting_inject_credentials`. False: the strategy cannot put a key
    into the instance; the operator must supply static credentials (Nova
    keypair + ``key_path``, or a password). None: no opinion (default True).

    firstresult: one yes/no answer per strategy.

    :param options: the operator's strategy options.
    :param strategy: the selected strategy's name.
    """


@hookspec(firstresult=True)
def fleeting_key_type(image: ImageInfo, options: StrategyOptions, strategy: str) -> str | None:
    """Choose the generated key's type: ``"ed25519"`` or ``"rsa"``.

    None: no opinion (default ``ed25519``). RSA is for images whose sshd
    predates Ed25519 (OpenSSH < 6.5) or runs in FIPS mode.

    firstresult: one key type per instance.

    :param image: the image the instances boot from.
    :param options: the operator's strategy options.
    :param strategy: the selected strategy's name.
    """


# --------------------------------------------------------------------------
# Increase: user_data, in the order the host calls them
# (templating -> build -> customise -> inject)
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def fleeting_build_user_data(ctx: InstanceContext, strategy: str) -> str | None:
    """Build the base user_data of one instance from the operator's.

    ``ctx.user_data`` is the operator's user_data with the ``{{fleeting.*}}``
    placeholders already replaced. Return the base document (e.g. Ignition:
    parsed, an empty one made minimal; Flatcar: updates disabled), or None for
    "no opinion" (the templated operator user_data is used as is). Raise
    :class:`~fleeting_openstack.plugin.types.UserDataError` when the input
    cannot be used.

    firstresult: there is one base document; it is asked of the selected
    strategy (a site plugin may replace it with ``tryfirst=True``).

    :param ctx: the instance being created.
    :param strategy: the selected strategy's name.
    """


@hookspec
def fleeting_customize_user_data(ctx: InstanceContext, user_data: str | None, strategy: str) -> str | None:
    """Adapt the user_data for this site, whatever the strategy.

    Return the new user_data, or None to leave it unchanged.

    Chained, not firstresult: the host calls every implementation in pluggy
    order and hands each one the previous one's output, so several site
    plugins can each add their piece (a CA certificate, a proxy setting ...).
    Runs after :func:`fleeting_build_user_data` and before
    :func:`fleeting_inject_credentials`, so a customisation can never drop the
    login key. Implementations must be pure (the host's ``check()`` performs
    a trial render at Init).

    :param ctx: the instance being created.
    :param user_data: the user_data so far (base document plus previous
        customisations); None if there is none.
    :param strategy: the selected strategy's name, to act for some strategies only.
    """


@hookspec(firstresult=True)
def fleeting_inject_credentials(
    ctx: InstanceContext,
    user_data: str | None,
    credentials: InstanceCredentials,
    strategy: str,
) -> str | None:
    """Put the login user and its credentials into the user_data.

    Return the final user_data, or None to leave it unchanged (a strategy that
    cannot inject anything, like ``custom``). Only the public key is given;
    the password, if any, is the operator's static one.

    firstresult: exactly one party writes the credentials, the selected
    strategy (a site plugin may take over with ``tryfirst=True``).

    :param ctx: the instance being created.
    :param user_data: the customised user_data; None if there is none.
    :param credentials: login user, public key (OpenSSH one-line form) and/or
        password.
    :param strategy: the selected strategy's name.
    """


# --------------------------------------------------------------------------
# Update: readiness
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def fleeting_readiness(
    observation: Observation, options: StrategyOptions, strategy: str, user_data: str | None
) -> ReadinessResult | None:
    """Decide from what the cloud shows whether an ACTIVE server has booted.

    Asked only for ACTIVE servers (the host answers for other statuses).
    Return READY when the boot marker is in ``observation.console_tail``,
    FAILED when the console shows the boot failed, WAITING otherwise; None for
    "no opinion" (READY). Report what the console shows; do not apply
    ``boot_time``: when ``age_seconds`` exceeds it the provider decides what
    a WAITING server becomes.

    firstresult: one decision per observation; a site plugin recognising its
    own image's marker answers first with ``tryfirst=True`` and returns None
    for the rest.

    :param observation: status, age, boot_time, console tail and addresses.
    :param options: the operator's strategy options.
    :param strategy: the selected strategy's name.
    :param user_data: the operator's user_data as configured (``server_spec.user_data`` or the
        text of ``user_data_file``; None when unset), before templating and injection: what the
        instance was asked to print (cloud-init's ``final_message``, say) can be read from it.
    """
