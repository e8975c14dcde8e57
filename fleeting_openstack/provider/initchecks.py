"""Every check Init runs, in one function: Init and ``validate --check-cloud`` both call it.

:func:`run` loads the boot strategy and checks the operator's user_data,
authenticates exactly as the plugin does (clouds.yaml entry or ``OS_*``
environment, the microversion checked against the cloud), resolves every
resource ``server_spec`` references, finds the login user and checks the
credentials: the state directory that holds the key material included. So
the two cannot drift: a config ``validate --check-cloud`` passes is one Init
accepts (the runner's connector_config being the same).

``keys`` says what happens to the state directory: ``"open"`` (Init: create
it and the master secret, refuse unsafe ones), ``"check"`` (validate: the same
refusals, nothing created), ``"skip"`` (``status``/``reap``: read-only, no key
material touched).

``connect`` is how :func:`run` authenticates: :meth:`Cloud.connect
<fleeting_openstack.openstack.client.Cloud.connect>` unless a caller passes
another :class:`Connect` (Init and ``validate --check-cloud`` never do; a unit
test passes one that answers with its in-memory cloud, so the checks after
authentication run without a Keystone). Whatever it returns is a
:class:`CheckedCloud`: every call the provider makes (it is handed on to the
provider) and the lookups :func:`~fleeting_openstack.openstack.resources.resolve_resources`
makes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from fleeting_openstack.config import PluginConfig
    from fleeting_openstack.contract.instancegroup import ConnectorConfig
    from fleeting_openstack.host import BoundStrategy
    from fleeting_openstack.openstack.recording import Recorder
    from fleeting_openstack.openstack.resources import Resolved
    from fleeting_openstack.openstack.retry import RetryPolicy
    from fleeting_openstack.provider.keys import KeyStore

from fleeting_openstack.openstack.resources import ResourceLookups
from fleeting_openstack.provider.cloud import ProviderCloud


class CheckedCloud(ProviderCloud, ResourceLookups, Protocol):
    """What Init's checks ask of the cloud they authenticate to: every call of the provider (the cloud is
    handed on to it) and :func:`~fleeting_openstack.openstack.resources.resolve_resources`'s lookups.
    The adapter (``Cloud``) is one; ``tests/support/fakecloud.FakeCloud`` another (mypy checks both)."""


class Connect(Protocol):
    """How :func:`run` authenticates: :meth:`Cloud.connect
    <fleeting_openstack.openstack.client.Cloud.connect>`'s signature (the default). Raises
    :class:`~fleeting_openstack.openstack.errors.CloudError` when the cloud cannot be reached
    (its ``key``: the plugin_config key to fix)."""

    def __call__(
        self,
        cloud: str | None,
        clouds_config: str | None,
        microversion: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        recorder: Recorder = ...,
    ) -> CheckedCloud: ...


@dataclass
class InitChecks:
    """What the checks found. ``fatal`` (with ``fatal_key``): Init cannot go on at all
    (unknown strategy, the cloud cannot be reached); ``problems``: ``"path: message"``
    lines, each enough to fail Init; ``resolved``: (path, what it resolved to, with ids)."""

    strategy: BoundStrategy | None = None
    cloud: ProviderCloud | None = None  # the adapter (a test's InitCheckRunner: its fake)
    resolved: Resolved | None = None
    keys: KeyStore | None = None  # when keys == "open"
    problems: list[str] = field(default_factory=list)
    fatal: str | None = None
    fatal_key: str = ""
    summary: list[tuple[str, str]] = field(default_factory=list)
    #: ``"path: message"`` lines of what works differently or not at all but does not stop Init
    #: (suspend_mode's caveats): ``validate --check-cloud`` shows them as warnings.
    warnings: list[str] = field(default_factory=list)


class InitCheckRunner(Protocol):
    """:func:`run`'s signature: Init gets its cloud, strategy, key store and resolved
    resources from one (the default is :func:`run`; a test passes its own, with a fake cloud)."""

    def __call__(self, cfg: PluginConfig, connector: ConnectorConfig, *, keys: str = "open") -> InitChecks: ...


def run(
    cfg: PluginConfig,
    connector: ConnectorConfig,
    *,
    keys: str = "open",
    say: Callable[[str], None] = lambda text: None,
    connect: Connect | None = None,
) -> InitChecks:
    """Run Init's checks for ``cfg`` with the runner's ``connector`` config; ``connect``: how to
    authenticate (default :meth:`Cloud.connect <fleeting_openstack.openstack.client.Cloud.connect>`)."""
    from fleeting_openstack.host import UnknownStrategyError, check_key, default_manager
    from fleeting_openstack.openstack.client import Cloud, CloudError

    out = InitChecks()
    say(f"loading boot strategy {cfg.strategy}")
    try:
        out.strategy = default_manager().strategy(cfg.strategy, cfg.strategy_options, cfg.server_spec.user_data)
    except UnknownStrategyError as exc:
        out.fatal, out.fatal_key = str(exc), "strategy"
        return out
    user_data_key = "user_data_file" if cfg.user_data_file else "server_spec.user_data"
    out.problems += [f"{check_key(e, user_data_key)}: {e}" for e in out.strategy.check(cfg.server_spec.user_data)]

    where = cfg.cloud or "(OS_* environment)"
    say(f"authenticating to cloud {where}")
    try:
        from fleeting_openstack.openstack.retry import RetryPolicy
        from fleeting_openstack.provider import metrics

        authenticate: Connect = connect if connect is not None else Cloud.connect  # mypy: the adapter is a Connect
        cloud = authenticate(
            None if cfg.auth_from_env else cfg.cloud,
            None if cfg.auth_from_env else cfg.clouds_config,
            cfg.nova_microversion,
            timeout=cfg.api_timeout,
            connect_timeout=cfg.api_connect_timeout,
            retry=RetryPolicy(budget=cfg.retry_budget),
            recorder=metrics,
        )
    except CloudError as exc:
        out.fatal, out.fatal_key = str(exc), exc.key
        return out
    out.cloud = cloud
    out.summary.append(("cloud", f"{where}: authenticated, Nova offers microversion {cfg.nova_microversion}"))
    say("resolving the image, flavor, networks, security groups, keypair, server group")
    _resolve(out, cloud, cfg, connector, keys, say)
    return out


def _resolve(
    out: InitChecks,
    cloud: CheckedCloud,
    cfg: PluginConfig,
    connector: ConnectorConfig,
    keys: str,
    say: Callable[[str], None],
) -> None:
    from fleeting_openstack.openstack.resources import Resolved, resolve_resources
    from fleeting_openstack.provider.imageinfo import image_info
    from fleeting_openstack.provider.keys import KeyStore, KeyStoreError

    problems = out.problems
    assert out.strategy is not None  # run() returned before otherwise
    found = resolve_resources(
        cloud,
        cfg.server_spec.body,
        problems,
        out.summary,
        internal_network=cfg.address.internal_network,
        external_network=cfg.address.external_network,
        image_properties=cfg.image_properties,
    )
    image, strategy = found.image, out.strategy

    info = image_info(image)
    from_strategy = strategy.default_username(info) if info else None
    username = connector.username or from_strategy or (info.os_admin_user if info else None) or ""
    source = (
        "connector_config.username"
        if connector.username
        else f"strategy {strategy.name} for this image"
        if from_strategy
        else "image property os_admin_user"
    )
    if not username and connector.protocol in ("", "ssh"):
        problems.append(
            "no login user: set connector_config.username, or the image property "
            "os_admin_user, or use a strategy that names one"
        )
    elif username:
        out.summary.append(("connector_config.username", f"login user {username!r} ({source})"))
    if connector.use_static_credentials:
        if not connector.key and not connector.password:
            problems.append(
                "use_static_credentials = true needs connector_config.key_path "
                "(the private key of server_spec.key_name) or password"
            )
    elif strategy.wants_generated_key:
        say(f"checking the state directory {cfg.credentials.state_dir}")
        try:
            if keys == "open":
                out.keys = KeyStore(cfg.credentials.state_dir)
            elif keys == "check":
                KeyStore.check(cfg.credentials.state_dir)
            if keys != "skip":
                out.summary.append(("credentials.state_dir", f"{cfg.credentials.state_dir}: usable for key material"))
        except KeyStoreError as exc:
            problems.append(f"credentials.state_dir: {exc}")
    else:
        problems.append(
            f"strategy {strategy.name!r} injects no credentials: set "
            "connector_config.use_static_credentials = true with key_path or password"
        )
    from fleeting_openstack.provider.suspends import caveats

    warned, notes = caveats(
        cfg.suspend_mode,
        boots_from_volume=cfg.server_spec.boots_from_volume,
        image_properties=image.properties if image is not None else {},
    )
    out.warnings += warned
    out.summary += [("suspend_mode", note) for note in notes]
    out.resolved = Resolved(
        image=image,
        image_ref=found.image_ref,
        flavor_ref=found.flavor_ref,
        username=username,
        internal_network=found.internal_network,
        external_network=found.external_network,
    )
