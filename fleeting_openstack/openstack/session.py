"""Authenticating to a cloud, and the raw calls every part of the adapter makes.

:func:`authenticate` turns a clouds.yaml entry (or the ``OS_*`` environment)
into an authenticated openstacksdk connection, with bounded timeouts and the
plugin's own error words. :class:`Session` holds that connection and sends
Nova and Neutron requests through it (raw REST bodies, Nova's configured
microversion on every request) and wraps openstacksdk lookups; idempotent
calls are retried within the :class:`~.retry.RetryPolicy` budget. The
resource calls (:mod:`.client`, :mod:`.nova`, :mod:`.neutron`, :mod:`.cinder`)
are built on these and never touch the connection otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fleeting_openstack.openstack.errors import CloudError, NotFound, error_text
from fleeting_openstack.openstack.retry import RetryPolicy, parse_retry_after

T = TypeVar("T")

#: Seconds any single OpenStack request may wait for an answer (read timeout)
#: when neither plugin_config nor clouds.yaml sets ``api_timeout``: no call can hang the plugin.
DEFAULT_API_TIMEOUT = 60.0
#: Seconds to establish a connection (connect timeout) unless plugin_config sets ``api_connect_timeout``.
DEFAULT_CONNECT_TIMEOUT = 10.0


def clouds_file_problem(clouds_config: str | None, cloud: str | None) -> tuple[str, str] | None:
    """(key, message) when ``clouds_config`` cannot be read, or does not define ``cloud``.

    The same words offline (``validate``) and at Init. None when the file is
    fine, or not configured (openstacksdk then searches its default paths).
    """
    if not clouds_config:
        return None
    import yaml

    try:
        text = open(clouds_config, encoding="utf-8").read()
    except OSError as exc:
        return "clouds_config", f"cannot read {clouds_config}: {exc.strerror or exc}"
    except UnicodeDecodeError:
        return "clouds_config", f"{clouds_config} is not UTF-8 text"
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return "clouds_config", f"{clouds_config} is not valid YAML: {str(exc).splitlines()[0]}"
    clouds = doc.get("clouds") if isinstance(doc, dict) else None
    if not isinstance(clouds, dict):
        return "clouds_config", f"{clouds_config} has no 'clouds:' mapping"
    if cloud and cloud not in clouds:
        defined = ", ".join(sorted(map(str, clouds))) or "none"
        return "cloud", f"cloud {cloud!r} is not defined in {clouds_config} (it defines: {defined})"
    return None


def authenticate(
    cloud: str | None, clouds_config: str | None, timeout: float | None, connect_timeout: float | None
) -> Any:
    """An authenticated openstacksdk connection (clouds.yaml entry, or ``OS_*`` env when
    ``cloud`` is empty), or CloudError in the plugin's words (``transient`` when trying
    again may help). ``Any``: openstacksdk's Connection carries no type information."""
    import openstack
    import openstack.config
    from keystoneauth1 import exceptions as ksa_exc

    from fleeting_openstack.openstack import redact

    redact.install()

    problem = clouds_file_problem(clouds_config, cloud)
    if problem is not None:
        raise CloudError(problem[1], key=problem[0])
    where = cloud or "(OS_* environment)"
    try:
        if clouds_config:
            config = openstack.config.OpenStackConfig(config_files=[clouds_config])
            region = config.get_one(cloud=cloud or None)
            conn = openstack.connection.Connection(config=region)
        else:
            conn = openstack.connect(cloud=cloud or None)
        read = timeout if timeout is not None else getattr(conn.session, "timeout", None) or DEFAULT_API_TIMEOUT
        timeouts = (connect_timeout or min(DEFAULT_CONNECT_TIMEOUT, read), read)
        conn.session.timeout = timeouts  # type: ignore[assignment]  # keystoneauth says float; requests takes (connect, read)

        from fleeting_openstack.provider import metrics

        metrics.instrument(conn)
        conn.authorize()
    except openstack.exceptions.ConfigException as exc:
        raise CloudError(f"cloud configuration: {exc}{_known_clouds(cloud)}") from exc
    except ksa_exc.Unauthorized as exc:
        raise CloudError(f"authentication failed for cloud {where}: the credentials were refused ({exc})") from exc
    except (ksa_exc.ConnectFailure, ksa_exc.DiscoveryFailure, ksa_exc.ConnectTimeout) as exc:
        error = CloudError(f"cannot reach the identity service of cloud {where}: {exc}")
        error.transient = True
        raise error from exc
    except ksa_exc.HttpError as exc:
        error = CloudError(
            f"the identity service of cloud {where} answered HTTP {exc.http_status}: {exc.message}", exc.http_status
        )
        error.transient = True
        raise error from exc
    except (ksa_exc.ClientException, openstack.exceptions.SDKException) as exc:
        # openstacksdk wraps keystoneauth errors from authorize() in SDKException.
        cause = exc.__cause__ or exc.__context__
        what = (
            "the credentials were refused"
            if isinstance(cause, ksa_exc.Unauthorized)
            else "the identity service is unreachable"
            if isinstance(cause, ksa_exc.ConnectFailure)
            else "authentication failed"
        )
        error = CloudError(f"cannot authenticate to cloud {where}: {what}: {exc}")
        error.transient = isinstance(cause, (ksa_exc.ConnectionError, ksa_exc.HttpError)) and not isinstance(
            cause, ksa_exc.Unauthorized
        )
        raise error from exc
    return conn


class Session:
    """An authenticated connection and the raw requests made through it.

    ``conn`` is openstacksdk's Connection (untyped, hence ``Any``); nothing
    outside the adapter uses it."""

    def __init__(self, conn: Any, microversion: str, cloud_name: str = "", *, retry: RetryPolicy | None = None) -> None:
        self.conn = conn
        self.retry = retry or RetryPolicy()
        self.microversion = microversion
        self.cloud_name = cloud_name
        #: The cloud's clock (unix seconds) from the Date header of the last Nova answer, if any.
        self.last_date: float | None = None

    @property
    def region(self) -> str:
        return str(self.conn.config.get_region_name("compute") or "")

    @property
    def project_id(self) -> str:
        """The project the credentials are scoped to."""
        project: str = self.conn.current_project_id
        return project

    def service_types(self) -> set[str]:
        """The service types in the cloud's catalog (``compute``, ``block-storage``, ...)."""
        return {str(entry.get("type")) for entry in (self.conn.service_catalog or [])}

    def widen_pool(self, size: int) -> None:
        """Keep up to ``size`` connections per host alive (requests keeps 10: more
        parallel calls would each open a new TCP/TLS connection and drop it)."""
        session = getattr(self.conn.session, "session", None)
        for adapter in {id(a): a for a in (session.adapters.values() if session else ())}.values():
            try:
                if adapter._pool_maxsize < size:
                    adapter._pool_maxsize = size
                    adapter.init_poolmanager(adapter._pool_connections, size, block=adapter._pool_block)
            except AttributeError:  # not a requests HTTPAdapter: leave it
                pass

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass

    # -- Nova ------------------------------------------------------------------
    def _nova(
        self, method: str, url: str, *, ok: Sequence[int] = (200,), idempotent: bool | None = None, **kwargs: Any
    ) -> Any:
        """One Nova call; idempotent ones (GET, DELETE unless told) retried within the budget.
        Returns the decoded JSON answer (None when empty)."""
        if idempotent is None:
            idempotent = method in ("GET", "DELETE")
        kwargs.setdefault("microversion", self.microversion)

        def once() -> Any:
            response = self._send(method, url, ok=ok, **kwargs)
            return response.json() if response.content else None

        return self.retry.run(once, f"{method} {url.split('?')[0]}") if idempotent else once()

    def _send(self, method: str, url: str, *, ok: Sequence[int], **kwargs: Any) -> Any:
        from keystoneauth1 import exceptions as ksa_exc

        where = f"Nova {method} {url.split('?')[0]}"
        try:
            response = self.conn.compute.request(url, method, raise_exc=False, **kwargs)
        except ksa_exc.HttpError as exc:  # from the identity service, while (re)authenticating
            error = CloudError(
                f"{where}: the identity service answered HTTP {exc.http_status} while authenticating: {exc.message}",
                exc.http_status,
            )
            error.retry_after = parse_retry_after(
                (exc.response.headers if exc.response is not None else {}).get("Retry-After")
            )
            raise error from None
        except (ksa_exc.ConnectionError, ksa_exc.DiscoveryFailure) as exc:
            raise CloudError(
                f"{where}: no answer ({type(exc).__name__}: {exc}); whether it was done is unknown", None
            ) from None
        date = response.headers.get("Date")
        if date:
            self.last_date = _http_date(date)
        if response.status_code == 404:
            raise NotFound(error_text(response), 404)
        if response.status_code not in ok:
            error = CloudError(f"{where}: HTTP {response.status_code}: {error_text(response)}", response.status_code)
            if response.status_code in (429, 503):
                error.retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if error.retry_after is None and response.status_code == 429:
                    error.retry_after = 1.0
            raise error
        return response

    # -- Neutron ---------------------------------------------------------------
    def _neutron(
        self, method: str, url: str, *, ok: Sequence[int] = (200,), idempotent: bool | None = None, **kwargs: Any
    ) -> Any:
        """One Neutron call (decoded JSON answer, ``{}`` when empty); idempotent ones retried."""
        from keystoneauth1 import exceptions as ksa_exc

        if idempotent is None:
            idempotent = method in ("GET", "DELETE")
        where = f"Neutron {method} {url.split('?')[0]}"

        def once() -> Any:
            try:
                response = self.conn.network.request(url, method, raise_exc=False, **kwargs)
            except (ksa_exc.ConnectionError, ksa_exc.DiscoveryFailure) as exc:
                raise CloudError(f"{where}: no answer ({type(exc).__name__}: {exc})", None) from None
            except ksa_exc.HttpError as exc:
                raise CloudError(
                    f"{where}: the identity service answered HTTP {exc.http_status}", exc.http_status
                ) from None
            if response.status_code == 404:
                raise NotFound(f"{where}: {error_text(response)}", 404)
            if response.status_code not in ok:
                error = CloudError(
                    f"{where}: HTTP {response.status_code}: {error_text(response)}", response.status_code
                )
                error.retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise error
            return response.json() if response.content else {}

        return self.retry.run(once, where) if idempotent else once()

    # -- openstacksdk ----------------------------------------------------------
    def _sdk(self, fn: Callable[[], T], what: str) -> T:
        """An openstacksdk call (Glance, Neutron, Cinder, flavors, keypairs), retried like any
        idempotent call; SDK errors become CloudError / NotFound."""
        import openstack.exceptions as sdk_exc
        from keystoneauth1 import exceptions as ksa_exc

        def once() -> T:
            try:
                return fn()
            except sdk_exc.NotFoundException as exc:
                raise NotFound(f"{what}: {exc}", 404) from None
            except sdk_exc.HttpException as exc:
                raise CloudError(f"{what}: HTTP {exc.status_code}: {exc}", exc.status_code) from None
            except (ksa_exc.ConnectionError, ksa_exc.DiscoveryFailure) as exc:
                raise CloudError(f"{what}: no answer ({type(exc).__name__}: {exc})", None) from None

        return self.retry.run(once, what)


def _http_date(text: str) -> float | None:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return None


def _known_clouds(cloud: str | None) -> str:
    """For an unknown cloud: the clouds openstacksdk's search path does define."""
    if not cloud:
        return ""
    try:
        import openstack.config

        config = openstack.config.OpenStackConfig()
        names = sorted(config.get_cloud_names())
        found = config.config_filename
        searched = list(dict.fromkeys(getattr(config, "_config_files", None) or openstack.config.loader.CONFIG_FILES))
    except Exception:  # noqa: BLE001 - only a hint
        return ""
    if not found:
        return f" (no clouds.yaml found; searched: {', '.join(searched)}; set clouds_config to its path)"
    return f" (clouds defined in {found}: {', '.join(names) or 'none'})"
