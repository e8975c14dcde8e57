"""The one place that talks to OpenStack: a small adapter over openstacksdk.

Nova is called through the SDK's authenticated session with raw REST bodies,
so the operator's ``server_spec`` reaches Nova with Nova's own key names and
the configured microversion on every request (the original plugin silently
replaced it). Results come back as plain dataclasses: the provider never sees
an SDK object, and the strategies never see the provider's.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from fleeting_openstack.config.units import microversion_tuple
from fleeting_openstack.openstack.neutron import LimitsAndFloatingIPs

log = logging.getLogger("fleeting_openstack.openstack")

#: Seconds any single OpenStack request may wait for an answer (read timeout)
#: when neither plugin_config nor clouds.yaml sets ``api_timeout``: no call can hang the plugin.
DEFAULT_API_TIMEOUT = 60.0
#: Seconds to establish a connection (connect timeout) unless plugin_config sets ``api_connect_timeout``.
DEFAULT_CONNECT_TIMEOUT = 10.0

#: What may appear in an id the plugin puts into a URL path (uuids, flavor ids, names of tags).
_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:~-]{0,254}")


def checked_id(value: str, what: str = "id") -> str:
    """``value`` if it can go into a URL path as is; ValueError naming it otherwise."""
    if not isinstance(value, str) or not _SAFE_ID.fullmatch(value) or ".." in value:
        raise InvalidId(f"{what} {value!r} is not a valid OpenStack id (letters, digits, '-', '_', '.', ':' "
                         f"only): refusing to put it into a request URL")
    return value


class CloudError(Exception):
    """A request to the cloud failed; the message carries Nova's own words.

    ``key``: the plugin_config key the problem is about (``cloud``, or
    ``clouds_config`` when that file is missing or unreadable)."""

    def __init__(self, message: str, status: int | None = None, key: str = "cloud") -> None:
        super().__init__(message)
        self.status = status  # None: no answer at all (refused, reset, timeout)
        self.key = key
        self.retry_after: float | None = None  # seconds, from a 429's or 503's Retry-After

    @property
    def outcome_unknown(self) -> bool:
        """The cloud may or may not have done it: no answer, or a 5xx."""
        return self.status is None or self.status >= 500


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


class NotFound(CloudError):
    pass


class InvalidId(ValueError):
    """An id that must not go into a URL (``../flavors/1``); nothing was sent."""


@dataclass(frozen=True)
class Address:
    network: str
    ip: str
    version: int
    kind: str  # "fixed" | "floating"


@dataclass(frozen=True)
class Server:
    """The part of a Nova server the plugin reasons about."""

    id: str
    name: str
    status: str
    task_state: str | None
    created: float  # unix seconds
    metadata: Mapping[str, str]
    tags: Sequence[str]
    addresses: Sequence[Address]
    image_id: str | None
    flavor: str | None
    access_ipv4: str = ""
    access_ipv6: str = ""
    fault: str = ""
    key_name: str | None = None

    def age(self, now: float | None = None) -> float:
        return (now or time.time()) - self.created


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    properties: Mapping[str, str] = field(default_factory=dict)
    min_disk: int = 0


def parse_time(text: str | None) -> float:
    """Nova timestamps: ``2026-11-29T18:30:00Z`` (or with an offset)."""
    if not text:
        return time.time()
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _server(doc: Mapping[str, Any]) -> Server:
    addresses = []
    for network, entries in sorted((doc.get("addresses") or {}).items()):
        for entry in entries:
            addresses.append(Address(network=network, ip=entry.get("addr", ""),
                                     version=int(entry.get("version", 4)),
                                     kind=entry.get("OS-EXT-IPS:type", "fixed")))
    image = doc.get("image") or {}
    flavor = doc.get("flavor") or {}
    fault = doc.get("fault") or {}
    return Server(
        id=doc["id"], name=doc.get("name", ""), status=doc.get("status", "UNKNOWN"),
        task_state=doc.get("OS-EXT-STS:task_state"), created=parse_time(doc.get("created")),
        metadata=dict(doc.get("metadata") or {}), tags=list(doc.get("tags") or []),
        addresses=addresses, image_id=image.get("id") if isinstance(image, dict) else None,
        flavor=flavor.get("original_name") or flavor.get("id"),
        access_ipv4=doc.get("accessIPv4") or "", access_ipv6=doc.get("accessIPv6") or "",
        fault=(fault.get("message") or "") if isinstance(fault, dict) else "",
        key_name=doc.get("key_name"))


class Cloud(LimitsAndFloatingIPs):
    """An authenticated connection and the handful of calls the plugin makes."""

    def __init__(self, conn: Any, microversion: str, cloud_name: str = "", *, retry: Any = None) -> None:
        from fleeting_openstack.openstack.retry import RetryPolicy

        self.conn = conn
        self.retry = retry or RetryPolicy()
        self.microversion = microversion
        self.cloud_name = cloud_name
        #: The cloud's clock (unix seconds) from the Date header of the last Nova answer, if any.
        self.last_date: float | None = None

    # -- connection -------------------------------------------------------
    @classmethod
    def connect(cls, cloud: str | None, clouds_config: str | None, microversion: str, *,
                timeout: float | None = None, connect_timeout: float | None = None,
                retry: Any = None) -> "Cloud":
        """Authenticate (clouds.yaml entry, or ``OS_*`` env when ``cloud`` is empty)
        and check that Nova offers ``microversion``.

        ``timeout`` (read) / ``connect_timeout``: plugin_config's ``api_timeout`` /
        ``api_connect_timeout``; unset, clouds.yaml's ``api_timeout`` or the defaults
        apply. ``retry``: the :class:`~fleeting_openstack.openstack.retry.RetryPolicy` of idempotent calls."""
        from fleeting_openstack.openstack.retry import RetryPolicy

        retry = retry or RetryPolicy()
        for attempt in range(1000):
            try:
                return cls._connect_once(cloud, clouds_config, microversion, timeout, connect_timeout, retry)
            except CloudError as exc:
                from fleeting_openstack.openstack.retry import retriable

                if not (retriable(exc) and getattr(exc, "transient", False)) or attempt >= 3:
                    raise
                time.sleep(retry.delay(attempt))
        raise AssertionError("unreachable")

    @classmethod
    def _connect_once(cls, cloud: str | None, clouds_config: str | None, microversion: str,
                      timeout: float | None, connect_timeout: float | None, retry: Any) -> "Cloud":
        import openstack
        import openstack.config
        from keystoneauth1 import exceptions as ksa_exc

        from fleeting_openstack.openstack import redact

        redact.install()

        problem = clouds_file_problem(clouds_config, cloud)
        if problem is not None:
            raise CloudError(problem[1], key=problem[0])
        try:
            kwargs: dict[str, Any] = {}
            if clouds_config:
                config = openstack.config.OpenStackConfig(config_files=[clouds_config])
                region = config.get_one(cloud=cloud or None)
                conn = openstack.connection.Connection(config=region)
            else:
                conn = openstack.connect(cloud=cloud or None, **kwargs)
            read = timeout if timeout is not None else getattr(conn.session, "timeout", None) or DEFAULT_API_TIMEOUT
            conn.session.timeout = (connect_timeout or min(DEFAULT_CONNECT_TIMEOUT, read), read)

            from fleeting_openstack.provider import metrics

            metrics.instrument(conn)
            conn.authorize()
        except openstack.exceptions.ConfigException as exc:
            raise CloudError(f"cloud configuration: {exc}{_known_clouds(cloud)}") from exc
        except ksa_exc.Unauthorized as exc:
            raise CloudError(f"authentication failed for cloud {cloud or '(OS_* environment)'}: "
                             f"the credentials were refused ({exc})") from exc
        except (ksa_exc.ConnectFailure, ksa_exc.DiscoveryFailure, ksa_exc.ConnectTimeout) as exc:
            error = CloudError(f"cannot reach the identity service of cloud "
                               f"{cloud or '(OS_* environment)'}: {exc}")
            error.transient = True  # type: ignore[attr-defined]
            raise error from exc
        except ksa_exc.HttpError as exc:
            error = CloudError(f"the identity service of cloud {cloud or '(OS_* environment)'} answered "
                               f"HTTP {exc.http_status}: {exc.message}", exc.http_status)
            error.transient = True  # type: ignore[attr-defined]
            raise error from exc
        except (ksa_exc.ClientException, openstack.exceptions.SDKException) as exc:
            # openstacksdk wraps keystoneauth errors from authorize() in SDKException.
            cause = exc.__cause__ or exc.__context__
            what = "the credentials were refused" if isinstance(cause, ksa_exc.Unauthorized) else \
                "the identity service is unreachable" if isinstance(cause, ksa_exc.ConnectFailure) else \
                "authentication failed"
            error = CloudError(f"cannot authenticate to cloud {cloud or '(OS_* environment)'}: "
                               f"{what}: {exc}")
            error.transient = isinstance(cause, (ksa_exc.ConnectionError, ksa_exc.HttpError)) and \
                not isinstance(cause, ksa_exc.Unauthorized)  # type: ignore[attr-defined]
            raise error from exc
        self = cls(conn, microversion, cloud or "", retry=retry)
        self._check_microversion()
        return self

    def _check_microversion(self) -> None:
        response = self.retry.run(lambda: self._send("GET", "/", ok=(200, 300), microversion=None),
                                  "GET /")
        versions = response.json().get("version") or {}
        if not versions:  # GET / may list all versions
            versions = next((v for v in response.json().get("versions", []) if v.get("id") == "v2.1"), {})
        low, high = versions.get("min_version") or "2.1", versions.get("version") or "2.1"
        want = microversion_tuple(self.microversion)
        if not microversion_tuple(low) <= want <= microversion_tuple(high):
            raise CloudError(f"nova_microversion {self.microversion} is not offered by this cloud's "
                             f"compute API (it supports {low} to {high})")

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

    @property
    def region(self) -> str:
        return self.conn.config.get_region_name("compute") or ""

    # -- raw Nova ----------------------------------------------------------
    def _nova(self, method: str, url: str, *, ok: Sequence[int] = (200,), idempotent: bool | None = None,
              **kwargs: Any) -> Any:
        """One Nova call; idempotent ones (GET, DELETE unless told) retried within the budget."""
        if idempotent is None:
            idempotent = method in ("GET", "DELETE")
        kwargs.setdefault("microversion", self.microversion)

        def once() -> Any:
            response = self._send(method, url, ok=ok, **kwargs)
            return response.json() if response.content else None

        return self.retry.run(once, f"{method} {url.split('?')[0]}") if idempotent else once()

    def _send(self, method: str, url: str, *, ok: Sequence[int], **kwargs: Any) -> Any:
        from keystoneauth1 import exceptions as ksa_exc

        from fleeting_openstack.openstack.retry import parse_retry_after

        where = f"Nova {method} {url.split('?')[0]}"
        try:
            response = self.conn.compute.request(url, method, raise_exc=False, **kwargs)
        except ksa_exc.HttpError as exc:  # from the identity service, while (re)authenticating
            error = CloudError(f"{where}: the identity service answered HTTP {exc.http_status} "
                               f"while authenticating: {exc.message}", exc.http_status)
            error.retry_after = parse_retry_after((exc.response.headers if exc.response is not None
                                                   else {}).get("Retry-After"))
            raise error from None
        except (ksa_exc.ConnectionError, ksa_exc.DiscoveryFailure) as exc:
            raise CloudError(f"{where}: no answer ({type(exc).__name__}: {exc}); "
                             "whether it was done is unknown", None) from None
        date = response.headers.get("Date")
        if date:
            self.last_date = _http_date(date)
        if response.status_code == 404:
            raise NotFound(_error_text(response), 404)
        if response.status_code not in ok:
            error = CloudError(f"{where}: HTTP {response.status_code}: {_error_text(response)}",
                               response.status_code)
            if response.status_code in (429, 503):
                error.retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if error.retry_after is None and response.status_code == 429:
                    error.retry_after = 1.0
            raise error
        return response

    def _sdk(self, fn: Any, what: str) -> Any:
        """An openstacksdk lookup (Glance, Neutron, flavors), retried like any idempotent call."""
        from keystoneauth1 import exceptions as ksa_exc
        import openstack.exceptions as sdk_exc

        def once() -> Any:
            try:
                return fn()
            except sdk_exc.NotFoundException as exc:
                raise NotFound(f"{what}: {exc}", 404) from None
            except sdk_exc.HttpException as exc:
                raise CloudError(f"{what}: HTTP {exc.status_code}: {exc}", exc.status_code) from None
            except (ksa_exc.ConnectionError, ksa_exc.DiscoveryFailure) as exc:
                raise CloudError(f"{what}: no answer ({type(exc).__name__}: {exc})", None) from None

        return self.retry.run(once, what)

    def list_servers(self, filters: Mapping[str, str], page_size: int = 1000) -> Iterator[Server]:
        """All servers matching ``filters`` (server-side), page by page."""
        params = dict(filters)
        params["limit"] = str(page_size)
        while True:
            doc = self._nova("GET", "/servers/detail", params=params)
            servers = doc.get("servers", [])
            for item in servers:
                yield _server(item)
            if not doc.get("servers_links") or not servers:
                return
            params["marker"] = servers[-1]["id"]

    def get_server(self, server_id: str) -> Server:
        return _server(self._nova("GET", f"/servers/{checked_id(server_id, 'server id')}")["server"])

    def create_server(self, request: Mapping[str, Any]) -> str:
        """POST /servers with a complete request (``server`` + ``os:scheduler_hints``)."""
        doc = self._nova("POST", "/servers", ok=(202, 200), json=dict(request))
        return doc["server"]["id"]

    def delete_server(self, server_id: str) -> None:
        self._nova("DELETE", f"/servers/{checked_id(server_id, 'server id')}", ok=(204, 202))

    def add_tag(self, server_id: str, tag: str) -> None:
        from urllib.parse import quote

        self._nova("PUT", f"/servers/{checked_id(server_id, 'server id')}/tags/{quote(tag, safe='')}",
                   ok=(201, 204), idempotent=True)

    def console_tail(self, server_id: str, lines: int) -> str:
        doc = self._nova("POST", f"/servers/{checked_id(server_id, 'server id')}/action",
                         json={"os-getConsoleOutput": {"length": lines}}, idempotent=True)
        return doc.get("output") or ""

    # -- lookups (Init) ------------------------------------------------------
    def image(self, ref: str | None = None, name: str | None = None) -> Image:
        if ref:
            if not _lookup_safe(ref):
                raise NotFound(f"image {ref!r} is not a valid image id or name (nothing was sent)")
            found = self._sdk(lambda: self.conn.image.find_image(ref, ignore_missing=True), "Glance image lookup")
        else:
            images = self._sdk(lambda: list(self.conn.image.images(name=name)), "Glance image lookup")
            images = [i for i in images if i.status == "active"] or images
            found = max(images, key=lambda i: i.created_at or "") if images else None
        if not found:
            raise NotFound(f"image {ref or name!r} not found")
        props = {k: str(v) for k, v in (found.properties or {}).items()}
        for attr in ("os_admin_user", "os_type", "os_distro", "os_version", "architecture",
                     "hw_architecture"):
            value = getattr(found, attr, None)
            if value:
                props[attr] = str(value)
        return Image(id=found.id, name=found.name or "", properties=props, min_disk=found.min_disk or 0)

    def flavor_id(self, ref: str | None = None, name: str | None = None) -> str:
        if ref:
            if not _lookup_safe(ref):
                raise NotFound(f"flavor {ref!r} is not a valid flavor id (nothing was sent)")
            found = self._sdk(lambda: self.conn.compute.find_flavor(ref, ignore_missing=True), "flavor lookup")
        elif _lookup_safe(name or ""):
            found = self._sdk(lambda: self.conn.compute.find_flavor(name, ignore_missing=True), "flavor lookup")
        else:  # a name that cannot go into a URL: search the list
            found = next((f for f in self._sdk(lambda: list(self.conn.compute.flavors()), "flavor lookup")
                          if f.name == name), None)
        if not found:
            raise NotFound(f"flavor {ref or name!r} not found")
        return found.id

    def network_exists(self, ref: str) -> bool:
        if not _lookup_safe(ref):
            return False
        return self._sdk(lambda: self.conn.network.find_network(ref, ignore_missing=True), "network lookup") is not None

    def network_name(self, ref: str) -> str | None:
        if not _lookup_safe(ref):
            return None
        found = self._sdk(lambda: self.conn.network.find_network(ref, ignore_missing=True), "network lookup")
        return found.name if found else None

    def port_exists(self, ref: str) -> bool:
        if not _lookup_safe(ref):
            return False
        return self._sdk(lambda: self.conn.network.find_port(ref, ignore_missing=True), "port lookup") is not None

    def security_group_exists(self, ref: str) -> bool:
        if not _lookup_safe(ref):
            return False
        found = self._sdk(lambda: self.conn.network.find_security_group(ref, ignore_missing=True),
                          "security group lookup")
        return found is not None

    def keypair_exists(self, name: str) -> bool:
        return _lookup_safe(name) and self._sdk(
            lambda: self.conn.compute.find_keypair(name, ignore_missing=True) is not None, "keypair lookup")

    def server_group_exists(self, ref: str) -> bool:
        if not _lookup_safe(ref):
            return False
        try:
            self._nova("GET", f"/os-server-groups/{ref}")
            return True
        except NotFound:
            return False

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass


def _lookup_safe(ref: str) -> bool:
    """A name or id openstacksdk may put into a URL path (find_* tries GET /<ref> first)."""
    return bool(ref) and ".." not in ref and not any(c in ref for c in "/\\?#%") and ref.isprintable()


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
        where = config.config_filename or "no clouds.yaml found"
    except Exception:  # noqa: BLE001 - only a hint
        return ""
    return f" (clouds defined in {where}: {', '.join(names) or 'none'})"


def _error_text(response: Any) -> str:
    try:
        doc = response.json()
    except ValueError:
        return (response.text or "").strip()[:500]
    if isinstance(doc, dict) and len(doc) == 1:
        inner = next(iter(doc.values()))
        if isinstance(inner, dict) and "message" in inner:
            return str(inner["message"])
    return str(doc)[:500]
