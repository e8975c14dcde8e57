"""openstacksdk's config loader and service discovery, without the rest of the SDK.

``import openstack`` runs ``openstack/__init__.py``, which imports
``openstack.connection``: every service proxy and every resource class of every
service the SDK knows (some 450 modules, about 11 MiB of the plugin's RSS). The
plugin uses none of them: it sends raw REST through the authenticated service
clients (:mod:`.sdk`). This module loads only what it does use, from the SDK
itself, so clouds.yaml, ``OS_*`` variables, auth plugins, version discovery and
endpoint overrides behave exactly as with ``openstack.connect``:

* ``openstack.config`` (``OpenStackConfig``, ``CloudRegion``): clouds.yaml and
  ``OS_*`` handling, and the keystoneauth session built from them;
* ``openstack.service_description.ServiceDescription``: the SDK's own endpoint
  and version discovery, given the base ``openstack.proxy.Proxy`` class (the
  per-service subclasses only add resource methods; ``request`` is the base's).

Assumptions, named (tests/unit/openstack/test_lightsdk.py checks each):

* ``openstack/__init__.py`` only imports ``openstack.config`` and
  ``openstack.connection`` and defines ``connect``/``enable_logging``: so the
  package can be registered without running it (:func:`load_sdk_package`), and
  it is run the first time anyone asks the package for a name it lacks
  (``openstack.connect``): other code in the process sees the real package.
* a Connection as ``ServiceDescription`` and ``Proxy.request`` use it has
  ``config``, ``_proxies``, ``_strict_proxies``, ``_global_request_id``,
  ``cache_enabled``, ``_api_cache_keys`` and ``name`` (openstacksdk 4.x).
* ``openstack.config.cloud_region`` imports ``prometheus_client`` when installed
  (it is: the plugin's own metrics use it) only to report API calls into a
  ``CollectorRegistry`` handed to ``CloudRegion`` in code, which neither the
  loader nor the plugin ever does: the module is loaded with that import
  failing (2.4 MiB saved; the plugin's metrics import it when metrics are on).
* ``requests`` imports ``charset_normalizer`` (2.6 MiB) and only calls it to guess
  the encoding of a body that has none (``apparent_encoding``): OpenStack's
  answers are JSON (UTF-8); it is registered deferred with its ``__version__``
  (all requests reads at import) and runs on first use. ``openstack.proxy``
  imports ``jmespath`` (1 MiB) for the deprecated ``jmespath_filters`` only: deferred too.
* the service types and versions are the SDK's own for the four services the
  plugin calls (compute 2; network 2; image 1, 2; block-storage 2, 3).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from keystoneauth1.session import Session as KeystoneSession

    from fleeting_openstack.openstack.sdk import RegionConfig, ServiceClient

__all__ = ["LightConnection", "cloud_region", "load_sdk_package"]


_RUN_LOCK = threading.RLock()


class _Deferred(types.ModuleType):
    """A module registered in ``sys.modules`` before its code runs: the code runs
    (in this very module object) the first time someone asks it for a name it lacks."""

    _fleeting_also: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") and name not in self._fleeting_also:
            raise AttributeError(name)
        if name not in self._fleeting_also and self.__dict__.get("__path__") is not None:
            # ``from pkg import sub`` asks for the submodule as an attribute first:
            # that is left to the import system, it does not need the package's code.
            if importlib.util.find_spec(f"{self.__name__}.{name}") is not None:
                raise AttributeError(name)
        with _RUN_LOCK:
            if not self.__dict__.get("_fleeting_ran"):
                self.__dict__["_fleeting_ran"] = True
                spec = self.__spec__
                if spec is not None and spec.loader is not None:
                    spec.loader.exec_module(self)
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(name) from None


def _defer(name: str, presets: dict[str, object] | None = None, also: tuple[str, ...] = ()) -> bool:
    """Register module ``name`` deferred (see :class:`_Deferred`); False when it is
    imported already or not installed."""
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return False
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Deferred
    module.__dict__.update(presets or {})
    module.__dict__["_fleeting_also"] = also
    sys.modules[name] = module
    return True


def defer_unused_imports() -> None:
    """Before requests and openstacksdk are imported: defer what they import but the
    plugin does not use (the module docstring names each); a no-op once they are."""
    from importlib import metadata

    try:
        version = metadata.version("charset-normalizer")
    except metadata.PackageNotFoundError:
        version = None
    if version is not None:
        _defer("charset_normalizer", {"__version__": version})
    _defer("jmespath")


def load_sdk_package() -> None:
    """Register the ``openstack`` package without importing ``openstack.connection``.

    No-op when ``openstack`` is imported already (as a whole, or deferred)."""
    defer_unused_imports()
    if not _defer("openstack", also=("__all__", "connection")):
        return
    if "prometheus_client" in sys.modules or "openstack.config.cloud_region" in sys.modules:
        return
    sys.modules["prometheus_client"] = None  # type: ignore[assignment]  # makes its import fail (module docstring)
    try:
        import openstack.config.cloud_region  # noqa: F401 - imported for its side effect: loaded without prometheus_client
    finally:
        del sys.modules["prometheus_client"]


def cloud_region(cloud: str | None, clouds_config: str | None) -> object:
    """The SDK's CloudRegion for ``cloud`` (clouds.yaml entry), from ``clouds_config``
    when given, else from the SDK's search path and ``OS_*`` variables: what
    ``openstack.connect(cloud=...)`` builds (``get_cloud_region`` without argparse)."""
    load_sdk_package()
    from openstack.config.loader import OpenStackConfig

    config = OpenStackConfig(config_files=[clouds_config]) if clouds_config else OpenStackConfig()
    return config.get_one(cloud=cloud or None)


def _describe(service_type: str, versions: Sequence[str], proxy: type, aliases: Sequence[str] = ()) -> object:
    from openstack.service_description import ServiceDescription

    return ServiceDescription(service_type, {v: proxy for v in versions}, list(aliases))


class LightConnection:
    """What :class:`~.session.Session` uses of an openstacksdk Connection
    (:class:`.sdk.Connection`), from the SDK's config and discovery alone."""

    def __init__(self, region: object) -> None:
        load_sdk_package()
        from openstack import proxy

        class ImageProxy(proxy.Proxy):
            retriable_status_codes = [503]  # noqa: RUF012 - as openstack.image.v2._proxy.Proxy declares it

        self.config = cast("RegionConfig", region)
        self._region = region
        self.name = getattr(region, "name", None)
        self._proxies: dict[str, object] = {}
        self._strict_proxies = False
        self._global_request_id: str | None = None
        self.cache_enabled = False
        self._api_cache_keys: set[str] = set()
        self._session: KeystoneSession | None = None
        self._services = {
            "compute": _describe("compute", ["2"], proxy.Proxy),
            "network": _describe("network", ["2"], proxy.Proxy),
            "image": _describe("image", ["1", "2"], ImageProxy),
            "block-storage": _describe("block-storage", ["2", "3"], proxy.Proxy, ["volume", "block-store"]),
        }

    def _proxy(self, service_type: str) -> ServiceClient:
        description = self._services[service_type]
        return cast("ServiceClient", description.__get__(self, type(self)))  # type: ignore[attr-defined]  # the SDK's descriptor

    @property
    def compute(self) -> ServiceClient:
        return self._proxy("compute")

    @property
    def network(self) -> ServiceClient:
        return self._proxy("network")

    @property
    def image(self) -> ServiceClient:
        return self._proxy("image")

    @property
    def block_storage(self) -> ServiceClient:
        return self._proxy("block-storage")

    @property
    def session(self) -> KeystoneSession:
        if self._session is None:
            import weakref

            self._session = cast("KeystoneSession", self._region.get_session())  # type: ignore[attr-defined]  # CloudRegion
            self._session._sdk_connection = weakref.proxy(self)  # type: ignore[attr-defined]  # as the SDK's Connection does
        return self._session

    def authorize(self) -> str:
        """A token (authenticates unless one is in hand); SDKException as openstack.connection does."""
        from keystoneauth1 import exceptions as ksa_exc
        from openstack import exceptions

        try:
            return str(self.session.get_token())
        except ksa_exc.ClientException as exc:
            raise exceptions.SDKException(str(exc)) from exc

    @property
    def current_project_id(self) -> str | None:
        project = self.session.get_project_id()
        return str(project) if project else None

    @property
    def service_catalog(self) -> Sequence[Mapping[str, object]]:
        auth = self.session.auth
        if auth is None:
            return []
        access = auth.get_access(self.session)  # type: ignore[attr-defined]  # an identity plugin
        catalog = access.service_catalog.catalog
        return cast("Sequence[Mapping[str, object]]", catalog or [])

    def close(self) -> None:
        session, self._session = self._session, None
        try:
            self._region.set_auth_cache()  # type: ignore[attr-defined]  # CloudRegion (keyring, if configured)
        finally:
            if session is not None:
                session.session.close()
