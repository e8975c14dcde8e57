"""Authenticating to a cloud, and the raw calls every part of the adapter makes.

:func:`authenticate` turns a clouds.yaml entry (or the ``OS_*`` environment)
into an authenticated openstacksdk connection, with bounded timeouts and the
plugin's own error words; the caller's :class:`~.recording.Recorder` is
told of every HTTP request. :class:`Session` holds that connection and sends
Nova, Neutron, Glance and Cinder requests through it: raw REST bodies (no
SDK resource, no ``find_*``: see :mod:`.sdk`; :meth:`Session._find` does
what ``find_*`` did), Nova's configured microversion on every Nova request,
each answered Nova call told to the observers of :meth:`Session.observe_nova`.
Idempotent calls are retried within the :class:`~.retry.RetryPolicy` budget.
The resource calls (:mod:`.client`, :mod:`.nova`, :mod:`.neutron`,
:mod:`.cinder`) are built on these and never touch the connection otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from urllib.parse import quote

from fleeting_openstack.jsontypes import JSONObject, JSONValue
from fleeting_openstack.openstack.errors import CloudError, NotFound, error_text
from fleeting_openstack.openstack.recording import NO_RECORDER, NovaCall, NovaObserver, Recorder, ServiceMap, instrument
from fleeting_openstack.openstack.retry import RetryPolicy, parse_retry_after
from fleeting_openstack.openstack.sdk import Connection, Response, ServiceClient

#: The services the adapter calls, by catalog type, with the names its messages use.
SERVICES = {"compute": "Nova", "network": "Neutron", "image": "Glance", "block-storage": "Cinder"}

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
        with open(clouds_config, encoding="utf-8") as file:
            text = file.read()
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
    cloud: str | None,
    clouds_config: str | None,
    timeout: float | None,
    connect_timeout: float | None,
    recorder: Recorder = NO_RECORDER,
) -> Connection:
    """An authenticated openstacksdk connection (clouds.yaml entry, or ``OS_*`` env when
    ``cloud`` is empty), or CloudError in the plugin's words (``transient`` when trying
    again may help). ``recorder`` is told of every HTTP request, Keystone's included."""
    from fleeting_openstack.openstack import lightsdk, redact

    lightsdk.load_sdk_package()  # openstack.config, not openstack.connection (lightsdk's docstring)
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import exceptions as sdk_exc

    redact.install()

    problem = clouds_file_problem(clouds_config, cloud)
    if problem is not None:
        raise CloudError(problem[1], key=problem[0])
    where = cloud or "(OS_* environment)"
    try:
        conn = lightsdk.LightConnection(lightsdk.cloud_region(cloud, clouds_config))
        read = timeout if timeout is not None else conn.session.timeout or DEFAULT_API_TIMEOUT
        timeouts = (connect_timeout or min(DEFAULT_CONNECT_TIMEOUT, read), read)
        conn.session.timeout = timeouts  # type: ignore[assignment]  # keystoneauth says float; requests takes (connect, read)
        http = conn.session.session
        services = ServiceMap(lambda: _token_catalog(conn.session))
        http.send = instrument(http.send, services, recorder)  # type: ignore[method-assign, assignment]  # the one wrap of every request
        conn.authorize()
    except sdk_exc.ConfigException as exc:
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
    except (ksa_exc.ClientException, sdk_exc.SDKException) as exc:
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


def _token_catalog(session: object) -> list[Mapping[str, object]]:
    """The catalog of the token in hand (none before authenticating): asking makes no request."""
    auth_ref = getattr(getattr(session, "auth", None), "auth_ref", None)
    catalog = getattr(getattr(auth_ref, "service_catalog", None), "catalog", None)
    return [entry for entry in catalog if isinstance(entry, Mapping)] if isinstance(catalog, list) else []


def as_object(value: JSONValue) -> JSONObject:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_objects(value: JSONValue) -> list[JSONObject]:
    """The objects of a JSON list (anything else: none)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


class Session:
    """An authenticated connection and the raw requests made through it.

    ``conn``: openstacksdk's Connection, as far as :mod:`.sdk` types it;
    nothing outside the adapter uses it."""

    def __init__(
        self, conn: Connection, microversion: str, cloud_name: str = "", *, retry: RetryPolicy | None = None
    ) -> None:
        self.conn = conn
        self.retry = retry or RetryPolicy()
        self.microversion = microversion
        self.cloud_name = cloud_name
        #: The cloud's clock (unix seconds) from the Date header of the last Nova answer, if any.
        self.last_date: float | None = None
        self._observers: list[NovaObserver] = []
        self._flavor_sizes: dict[str, dict[str, int]] = {}  # flavor id -> vcpus, ram (NovaExtras.flavor_size)

    @property
    def region(self) -> str:
        return str(self.conn.config.get_region_name("compute") or "")

    @property
    def project_id(self) -> str:
        """The project the credentials are scoped to."""
        return self.conn.current_project_id or ""

    def service_types(self) -> set[str]:
        """The service types in the cloud's catalog (``compute``, ``block-storage``, ...)."""
        return {str(entry.get("type")) for entry in (self.conn.service_catalog or [])}

    def observe_nova(self, observer: NovaObserver) -> Callable[[], None]:
        """Tell ``observer`` of every answered Nova call from now on (in the calling thread,
        before the caller sees the answer); returns the function that stops it."""
        self._observers = [*self._observers, observer]

        def stop() -> None:
            self._observers = [o for o in self._observers if o is not observer]

        return stop

    def widen_pool(self, size: int) -> None:
        """Keep up to ``size`` connections per host alive (requests keeps 10: more
        parallel calls would each open a new TCP/TLS connection and drop it)."""
        from requests.adapters import HTTPAdapter

        adapters = self.conn.session.session.adapters.values()
        for adapter in {id(a): a for a in adapters}.values():
            if isinstance(adapter, HTTPAdapter) and adapter._pool_maxsize < size:
                # requests offers no public way to grow a mounted adapter's pool
                adapter._pool_maxsize = size
                adapter.init_poolmanager(adapter._pool_connections, size, block=adapter._pool_block)

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass

    # -- raw requests ----------------------------------------------------------------
    def _client(self, service: str) -> ServiceClient:
        if service == "compute":
            return self.conn.compute
        if service == "network":
            return self.conn.network
        if service == "image":
            return self.conn.image
        return self.conn.block_storage

    def _send(
        self,
        service: str,
        method: str,
        url: str,
        *,
        ok: Sequence[int],
        params: Mapping[str, str] | None = None,
        json: JSONValue = None,
        microversion: str | None = None,
    ) -> Response:
        """One request, once; the answer when its status is in ``ok``, else CloudError (NotFound for 404)."""
        from keystoneauth1 import exceptions as ksa_exc

        where = f"{SERVICES[service]} {method} {url.split('?')[0]}"
        try:
            response = self._client(service).request(
                url, method, raise_exc=False, params=params, json=json, microversion=microversion
            )
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
        if service == "compute":
            date = response.headers.get("Date")
            if date:
                self.last_date = _http_date(date)
        if response.status_code == 404:
            raise NotFound(error_text(response) if service == "compute" else f"{where}: {error_text(response)}", 404)
        if response.status_code not in ok:
            error = CloudError(f"{where}: HTTP {response.status_code}: {error_text(response)}", response.status_code)
            if response.status_code in (429, 503):
                error.retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if error.retry_after is None and response.status_code == 429:
                    error.retry_after = 1.0
            raise error
        return response

    def _call(
        self,
        service: str,
        method: str,
        url: str,
        *,
        ok: Sequence[int] = (200,),
        idempotent: bool | None = None,
        params: Mapping[str, str] | None = None,
        json: JSONValue = None,
    ) -> JSONObject:
        """One call's decoded answer (``{}`` when empty or not an object); idempotent ones (GET,
        DELETE unless told) retried within the budget. Nova's carry the configured microversion."""
        if idempotent is None:
            idempotent = method in ("GET", "DELETE")
        microversion = self.microversion if service == "compute" else None

        def once() -> JSONObject:
            response = self._send(service, method, url, ok=ok, params=params, json=json, microversion=microversion)
            answer: JSONValue = _decoded(response)
            if service == "compute":
                call = NovaCall(method, url.split("?")[0], dict(params or {}), answer)
                for observer in self._observers:
                    observer(call)
            return as_object(answer)

        return self.retry.run(once, f"{SERVICES[service]} {method} {url.split('?')[0]}") if idempotent else once()

    def _nova(
        self,
        method: str,
        url: str,
        *,
        ok: Sequence[int] = (200,),
        idempotent: bool | None = None,
        params: Mapping[str, str] | None = None,
        json: JSONValue = None,
    ) -> JSONObject:
        """One Nova call (the configured microversion on it)."""
        return self._call("compute", method, url, ok=ok, idempotent=idempotent, params=params, json=json)

    def _neutron(
        self,
        method: str,
        url: str,
        *,
        ok: Sequence[int] = (200,),
        idempotent: bool | None = None,
        params: Mapping[str, str] | None = None,
        json: JSONValue = None,
    ) -> JSONObject:
        """One Neutron call."""
        return self._call("network", method, url, ok=ok, idempotent=idempotent, params=params, json=json)

    def _delete(self, service: str, url: str) -> None:
        """DELETE ``url``; one already gone counts as deleted."""
        try:
            self._call(service, "DELETE", url, ok=(200, 202, 204))
        except NotFound:
            pass

    def _find(self, service: str, path: str, ref: str, *, one: str | None, many: str) -> JSONObject | None:
        """What openstacksdk's ``find_*`` does, in raw requests: ``GET path/ref`` (the answer's
        ``one`` key; None: the answer is the resource), else the one resource listed under
        ``many`` with that name. None when there is none; CloudError when several share it."""
        try:
            doc = self._call(service, "GET", f"{path}/{quote(ref, safe='')}")
            return as_object(doc.get(one)) if one else doc
        except NotFound:
            pass
        listed = self._call(service, "GET", path, params={"name": ref}).get(many)
        named = [item for item in as_objects(listed) if item.get("name") == ref]
        if len(named) > 1:
            raise CloudError(f"{SERVICES[service]}: {len(named)} {many} are named {ref!r}: use the id")
        return named[0] if named else None


def _decoded(response: Response) -> JSONValue:
    """The JSON of an answer (None when it has no body)."""
    if not response.content:
        return None
    try:
        doc = response.json()
    except ValueError:
        return None
    return doc if isinstance(doc, (dict, list, str, int, float, bool)) else None  # json.loads gives JSON values


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
        from fleeting_openstack.openstack import lightsdk

        lightsdk.load_sdk_package()
        from openstack.config import loader

        config = loader.OpenStackConfig()
        names = sorted(config.get_cloud_names())
        found = config.config_filename
        searched = list(dict.fromkeys(getattr(config, "_config_files", None) or loader.CONFIG_FILES))
    except Exception:  # noqa: BLE001 - only a hint
        return ""
    if not found:
        return f" (no clouds.yaml found; searched: {', '.join(searched)}; set clouds_config to its path)"
    return f" (clouds defined in {found}: {', '.join(names) or 'none'})"
