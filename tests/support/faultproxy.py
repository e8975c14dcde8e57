"""A fault-injecting HTTP proxy in front of the real devcloud's Keystone, Nova,
Neutron and Glance (our own code; the cloud behind it is real).

Each :class:`Proxy` listens on a loopback port and forwards to one upstream.
Rules, checked in order for every request, decide what happens instead of a
plain forward:

* ``status``      answer ``code`` (with ``headers``) without forwarding: nothing was done;
* ``reset``       close the client connection with a TCP RST without forwarding;
* ``delay``       wait ``seconds``, then forward;
* ``hang``        hold the request until the rule is cleared (or 120 s), then reset;
* ``status_after`` forward (the cloud does it), then answer ``code`` instead: a lost answer;
* ``reset_after`` forward, then reset the connection: the answer is lost.

A rule applies ``times`` times (None: until removed). Every request is
recorded (method, path, status, response bytes, time, fault). Upstream URLs
in answers (version documents, catalogs) are rewritten to the proxy's, so a
client never bypasses it. :class:`FaultyCloud` starts one proxy per service
and writes a clouds.yaml whose auth_url and endpoint overrides point at them.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}


class _Listener(ThreadingHTTPServer):
    """The proxy's socket. socketserver's listen backlog is 5: on a loaded machine the
    accepting thread falls behind the plugin's concurrent connections, the kernel drops
    SYNs and a client sees a ConnectTimeout the test never injected (seen once in CI on
    the lost-create test). A deep backlog keeps injected faults the only faults."""

    request_queue_size = 128
    daemon_threads = True


@dataclass
class Rule:
    action: str
    method: str | None = None  # None: any
    path: str | None = None  # regex searched in the path (with query)
    times: int | None = None
    code: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    hits: int = 0
    cleared: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str) -> bool:
        if self.cleared.is_set() or (self.times is not None and self.hits >= self.times):
            return False
        if self.method and self.method != method:
            return False
        return not self.path or re.search(self.path, path) is not None


@dataclass
class Record:
    method: str
    path: str
    status: int | None
    bytes: int
    at: float
    fault: str = ""
    request_body: bytes = b""
    response_body: bytes = b""
    response_headers: dict[str, str] = field(default_factory=dict)


class Proxy:
    def __init__(self, name: str, upstream: str) -> None:
        self.name = name
        self.upstream = upstream.rstrip("/")
        parts = urlsplit(self.upstream)
        self.up_host, self.up_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.rules: list[Rule] = []
        self.records: list[Record] = []
        self.in_flight = 0  # requests being handled (a forwarded one finishes even if its client died)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _any

        self.server = _Listener(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"proxy-{name}", daemon=True)
        self.thread.start()

    # -- rules --------------------------------------------------------------
    def add(self, action: str, **kwargs: Any) -> Rule:
        rule = Rule(action, **kwargs)
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            for rule in self.rules:
                rule.cleared.set()
            self.rules = []

    def requests(self, method: str | None = None, path: str | None = None) -> list[Record]:
        with self.lock:
            return [r for r in self.records if (method is None or r.method == method)
                    and (path is None or re.search(path, r.path))]

    def close(self) -> None:
        self.clear()
        self.server.shutdown()
        self.server.server_close()

    # -- handling -----------------------------------------------------------
    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    return rule
        return None

    def _record(self, rec: Record) -> None:
        with self.lock:
            self.records.append(rec)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.in_flight += 1
        try:
            self._handle_one(h)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _handle_one(self, h: BaseHTTPRequestHandler) -> None:
        method, path = h.command, h.path
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        rule = self._rule_for(method, path)
        action = rule.action if rule else ""
        if action == "status":
            payload = json.dumps({"error": {"message": f"injected HTTP {rule.code}", "code": rule.code}}).encode()
            self._answer(h, rule.code, {"Content-Type": "application/json", **rule.headers}, payload)
            self._record(Record(method, path, rule.code, len(payload), time.time(), "status", body))
            return
        if action == "reset":
            self._record(Record(method, path, None, 0, time.time(), "reset", body))
            self._reset(h)
            return
        if action == "hang":
            self._record(Record(method, path, None, 0, time.time(), "hang", body))
            rule.cleared.wait(120)
            self._reset(h)
            return
        if action == "delay":
            time.sleep(rule.seconds)
        try:
            status, headers, payload = self._forward(method, path, h.headers, body)
        except OSError:
            self._record(Record(method, path, None, 0, time.time(), "upstream-down", body))
            self._reset(h)
            return
        if action == "reset_after":
            self._record(Record(method, path, None, 0, time.time(), "reset_after", body, payload, headers))
            self._reset(h)
            return
        if action == "status_after":
            self._record(Record(method, path, rule.code, len(payload), time.time(), "status_after", body,
                                payload, headers))
            fake = json.dumps({"error": {"message": f"injected HTTP {rule.code} after the cloud acted"}}).encode()
            self._answer(h, rule.code, {"Content-Type": "application/json", **rule.headers}, fake)
            return
        self._record(Record(method, path, status, len(payload), time.time(), action, body, payload, headers))
        self._answer(h, status, headers, payload)

    def _forward(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.up_host, self.up_port, timeout=120)
        try:
            out = {k: v for k, v in headers.items() if k.lower() not in _HOP}
            out["Host"] = f"{self.up_host}:{self.up_port}"
            conn.request(method, path, body=body or None, headers=out)
            resp = conn.getresponse()
            payload = resp.read()
            answer = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP}
            if payload and self.upstream.encode() in payload:
                payload = payload.replace(self.upstream.encode(), self.url.encode())
            for k, v in list(answer.items()):
                if self.upstream in v:
                    answer[k] = v.replace(self.upstream, self.url)
            return resp.status, answer, payload
        finally:
            conn.close()

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes) -> None:
        try:
            h.send_response_only(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            if payload and h.command != "HEAD":
                h.wfile.write(payload)
            h.wfile.flush()
        except OSError:
            pass

    @staticmethod
    def _reset(h: BaseHTTPRequestHandler) -> None:
        try:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        h.close_connection = True
        try:
            h.connection.close()
        except OSError:
            pass


def _catalog_endpoints(clouds_yaml: str, cloud: str) -> dict[str, str]:
    """Service type -> public endpoint root (scheme://host:port) from the real catalog."""
    import openstack
    import openstack.config

    region = openstack.config.OpenStackConfig(config_files=[clouds_yaml]).get_one(cloud=cloud)
    conn = openstack.connection.Connection(config=region)
    try:
        out = {}
        for service in ("compute", "network", "image"):
            url = conn.session.get_endpoint(service_type=service, interface="public")
            out[service] = url
        return out
    finally:
        conn.close()


class FaultyCloud:
    """Proxies for Keystone, Nova, Neutron and Glance, and a clouds.yaml that uses them."""

    def __init__(self, devcloud: dict[str, Any], directory: Path, cloud: str = "devcloud-demo") -> None:
        import yaml

        real = yaml.safe_load(Path(devcloud["clouds_yaml"]).read_text())
        entry = dict(real["clouds"][cloud])
        auth_url = entry["auth"]["auth_url"]
        parts = urlsplit(auth_url)
        self.keystone = Proxy("keystone", f"{parts.scheme}://{parts.netloc}")
        endpoints = _catalog_endpoints(devcloud["clouds_yaml"], cloud)
        self.proxies = {"keystone": self.keystone}
        for service, name in (("compute", "nova"), ("network", "neutron"), ("image", "glance")):
            ep = urlsplit(endpoints[service])
            proxy = Proxy(name, f"{ep.scheme}://{ep.netloc}")
            self.proxies[name] = proxy
            entry[f"{service}_endpoint_override"] = proxy.url + ep.path
        self.nova, self.neutron, self.glance = self.proxies["nova"], self.proxies["neutron"], self.proxies["glance"]
        entry["auth"] = dict(entry["auth"], auth_url=self.keystone.url + parts.path)
        self.cloud = "faulty"
        self.clouds_yaml = directory / "clouds-faulty.yaml"
        self.clouds_yaml.write_text(yaml.safe_dump({"clouds": {"faulty": entry}}))

    def clear(self) -> None:
        for proxy in self.proxies.values():
            proxy.clear()

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()

    def all_records(self) -> list[Record]:
        out: list[Record] = []
        for proxy in self.proxies.values():
            out.extend(proxy.requests())
        return out


def when(predicate: Callable[[], bool], timeout: float = 60.0, step: float = 0.5) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
