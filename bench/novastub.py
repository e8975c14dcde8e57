#!/usr/bin/env python3
"""An HTTP stand-in for Keystone + Nova's server API, for scale the devcloud cannot reach.

Own code on the standard library (ThreadingHTTPServer). openstacksdk talks to it
unmodified through a clouds.yaml entry (``v3password`` against its Keystone,
whose catalog names its compute, image and network endpoints). It serves:

* Keystone: ``POST /identity/v3/auth/tokens`` (any password) with a catalog;
* Nova 2.1 up to 2.93: ``GET /servers/detail`` with ``limit``/``marker`` paging
  (newest first, like Nova), ``tags``, ``name`` (regex), ``changes-since``
  (deleted servers included, tags of deleted servers dropped: Nova's
  behaviour), realistic ~1.5 KB server documents; ``GET/DELETE /servers/{id}``,
  ``POST /servers``, tags, console output and os-stop actions, flavors,
  server groups; Glance ``/v2/images/{id}``; Neutron ``/v2.0/networks/{id}``;
* servers go BUILD -> ACTIVE ``build_time`` seconds after their create.

Load model (all settable at run time with ``POST /_config``):
``latency`` seconds added to every answer (network round trip, holds no slot),
``service_time`` per request and ``create_time``/``delete_time`` per create/delete
spent holding one of ``concurrency`` server slots; requests beyond that wait
for a slot (``overload = "queue"``) or get 429 + Retry-After (``"429"``).

Admin endpoints (not counted): ``POST /_seed`` (add servers), ``POST /_clear`` (remove all), ``POST /_mutate``
(change a server behind the plugin's back), ``POST /_reset`` (zero the
counters), ``GET /_stats`` (requests and response bytes per kind, peak
concurrent creates/deletes seen, servers listed), ``POST /_config``.

    python3 bench/novastub.py --port 0   # prints "listening <url>" and serves
"""

from __future__ import annotations

import argparse
import heapq
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from novadocs import FLAVOR, IMAGE_ID, NETWORK_ID, clouds_yaml, iso, server_doc, token_doc  # noqa: F401

def parse_iso(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Gate:
    """``capacity`` server slots; settable while requests wait."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.busy = 0
        self.cond = threading.Condition()

    def enter(self, reject: bool) -> bool:
        with self.cond:
            if reject and self.busy >= self.capacity:
                return False
            while self.busy >= self.capacity:
                self.cond.wait()
            self.busy += 1
            return True

    def leave(self) -> None:
        with self.cond:
            self.busy -= 1
            self.cond.notify()


class World:
    """The servers and the load model."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.servers: dict[str, dict] = {}
        self.order: list[str] = []  # creation order
        self.pending: list[tuple[float, str]] = []  # (active_at, id)
        self.config = {"latency": 0.0, "service_time": 0.0, "create_time": 0.0, "delete_time": 0.0,
                       "build_time": 0.0, "overload": "queue"}
        self.gate = Gate(1000)
        self.reset()

    def reset(self) -> None:
        self.stats: dict = {"requests": {}, "bytes": {}, "peak": {}, "rejected": 0, "listed": 0}
        self.in_flight: dict[str, int] = {}

    def count(self, kind: str, nbytes: int) -> None:
        with self.lock:
            self.stats["requests"][kind] = self.stats["requests"].get(kind, 0) + 1
            self.stats["bytes"][kind] = self.stats["bytes"].get(kind, 0) + nbytes

    def arrive(self, kind: str, delta: int) -> None:
        with self.lock:
            n = self.in_flight.get(kind, 0) + delta
            self.in_flight[kind] = n
            self.stats["peak"][kind] = max(self.stats["peak"].get(kind, 0), n)

    def add(self, name: str, tags: list, metadata: dict, created: float, active_at: float) -> dict:
        sid = str(uuid.uuid4())
        rec = {"id": sid, "name": name, "status": "BUILD" if active_at > created else "ACTIVE",
               "tags": list(tags), "metadata": dict(metadata), "created": created,
               "updated": created if active_at > created else active_at, "deleted": False}
        self.servers[sid] = rec
        self.order.append(sid)
        if active_at > created:
            heapq.heappush(self.pending, (active_at, sid))
        return rec

    def settle(self, now: float) -> None:
        while self.pending and self.pending[0][0] <= now:
            at, sid = heapq.heappop(self.pending)
            rec = self.servers.get(sid)
            if rec and rec["status"] == "BUILD":
                rec["status"], rec["updated"] = "ACTIVE", at

    def touch(self, rec: dict, **changes) -> None:
        rec.update(changes)
        rec["updated"] = time.time()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    world: World
    port: int

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        import socket

        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- plumbing -------------------------------------------------------------
    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _send(self, status: int, doc=None, kind: str | None = None, headers: dict | None = None) -> None:
        data = b"" if doc is None else json.dumps(doc, separators=(",", ":")).encode()
        if kind:  # counted before the answer leaves: the client may ask for /_stats at once
            self.world.count(kind, len(data))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        # Headers and body in one write: two small writes meet Nagle + delayed ACK (40 ms).
        self._headers_buffer.extend([b"\r\n", data])
        self.flush_headers()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = url.path.rstrip("/") or "/", parse_qs(url.query)
        body = self._body() if method in ("POST", "PUT") else {}
        if path.startswith("/_"):
            return self._admin(method, path, body)
        kind = self._kind(method, path)
        w = self.world
        cfg = w.config
        if cfg["latency"]:
            time.sleep(cfg["latency"])
        w.arrive(kind, +1)
        try:
            if not w.gate.enter(reject=cfg["overload"] == "429"):
                with w.lock:
                    w.stats["rejected"] += 1
                status, doc, headers = 429, {"overLimit": {"code": 429, "message": "Over limit"}}, \
                    {"Retry-After": "1"}
            else:
                try:
                    cost = cfg["service_time"] + (cfg["create_time"] if kind == "create" else 0) \
                        + (cfg["delete_time"] if kind == "delete" else 0)
                    if cost:
                        time.sleep(cost)
                    status, doc, headers = self._route(method, path, query, body)
                finally:
                    w.gate.leave()
        finally:
            w.arrive(kind, -1)  # before the answer leaves, so a sequential client is seen as 1
        self._send(status, doc, kind, headers)

    @staticmethod
    def _kind(method: str, path: str) -> str:
        if path.endswith("/servers/detail"):
            return "list"
        if re.search(r"/servers$", path) and method == "POST":
            return "create"
        if re.search(r"/servers/[^/]+$", path):
            return {"GET": "show", "DELETE": "delete"}.get(method, "other")
        if path.startswith("/identity"):
            return "auth"
        return "other"

    # -- admin ----------------------------------------------------------------
    def _admin(self, method: str, path: str, body: dict) -> None:
        w = self.world
        if path == "/_stats":
            with w.lock:
                return self._send(200, {**w.stats, "servers": sum(not r["deleted"] for r in w.servers.values())})
        if path == "/_reset":
            w.reset()
            return self._send(200, {})
        if path == "/_clear":
            with w.lock:
                w.servers, w.order, w.pending = {}, [], []
            return self._send(200, {})
        if path == "/_config":
            w.config.update({k: v for k, v in body.items() if k != "concurrency"})
            if "concurrency" in body:
                with w.gate.cond:
                    w.gate.capacity = int(body["concurrency"])
                    w.gate.cond.notify_all()
            return self._send(200, {**w.config, "concurrency": w.gate.capacity})
        if path == "/_seed":  # {"count", "prefix", "tags", "metadata", "start"}
            now = time.time()
            with w.lock:
                for i in range(int(body["count"])):
                    meta = dict(body.get("metadata") or {})
                    if "fleeting-index" in meta:
                        meta["fleeting-index"] = str(int(body.get("start", 1)) + i)
                    w.add(f"{body['prefix']}{int(body.get('start', 1)) + i}", body.get("tags") or [],
                          meta, created=now - 3600, active_at=now - 3500)
            return self._send(200, {"seeded": int(body["count"])})
        if path == "/_mutate":  # {"id", "status"?, "remove_tag"?, "delete"?}
            with w.lock:
                rec = w.servers[body["id"]]
                if body.get("delete"):
                    w.touch(rec, status="DELETED", deleted=True, tags=[])
                if body.get("status"):
                    w.touch(rec, status=body["status"])
                if body.get("remove_tag"):
                    rec["tags"] = [t for t in rec["tags"] if t != body["remove_tag"]]  # like Nova: updated stays
            return self._send(200, {})
        return self._send(404, {"error": path})

    # -- the APIs -------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict, body: dict):
        base = f"http://127.0.0.1:{self.port}"
        if path == "/identity/v3/auth/tokens" and method == "POST":
            return 201, token_doc(base), {"X-Subject-Token": uuid.uuid4().hex}
        if path in ("/identity/v3", "/identity"):
            return 200, {"version": {"id": "v3.14", "status": "stable",
                                     "links": [{"rel": "self", "href": f"{base}/identity/v3/"}]}}, None
        if path in ("/compute", "/compute/v2.1"):
            version = {"id": "v2.1", "status": "CURRENT", "version": "2.93", "min_version": "2.1",
                       "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}]}
            return 200, ({"version": version} if path.endswith("v2.1") else {"versions": [version]}), None
        if path in ("/image", "/image/versions"):
            return 200, {"versions": [{"id": "v2.15", "status": "CURRENT",
                                       "links": [{"rel": "self", "href": f"{base}/image/v2/"}]}]}, None
        if path == "/network":
            return 200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                       "links": [{"rel": "self", "href": f"{base}/network/v2.0/"}]}]}, None
        if path.startswith("/image/v2/images"):
            image = {"id": IMAGE_ID, "name": "bench-image", "status": "active", "min_disk": 0,
                     "os_admin_user": "ubuntu", "os_type": "linux", "architecture": "x86_64",
                     "created_at": "2026-01-01T00:00:00Z", "visibility": "public"}
            if path.endswith(IMAGE_ID):
                return 200, image, None
            return (200, {"images": [image]}, None) if path.endswith("/images") else (404, {}, None)
        if path.startswith("/network/v2.0/networks"):
            if path.endswith(NETWORK_ID):
                return 200, {"network": {"id": NETWORK_ID, "name": "workers", "status": "ACTIVE"}}, None
            return (200, {"networks": []}, None) if path.endswith("/networks") else (404, {}, None)
        if path.startswith("/compute/v2.1/"):
            return self._nova(method, path[len("/compute/v2.1"):], query, body)
        return 404, {"itemNotFound": {"code": 404, "message": path}}, None

    def _nova(self, method: str, path: str, query: dict, body: dict):
        w = self.world
        now = time.time()
        if path == "/servers/detail":
            return 200, self._list(query, now), None
        if path == "/servers" and method == "POST":
            spec = body["server"]
            with w.lock:
                rec = w.add(spec.get("name", "server"), spec.get("tags") or [], spec.get("metadata") or {},
                            created=now, active_at=now + w.config["build_time"])
            return 202, {"server": {"id": rec["id"], "OS-DCF:diskConfig": "MANUAL", "adminPass": "x" * 12,
                                    "security_groups": [{"name": "default"}],
                                    "links": [{"rel": "self", "href": f"/servers/{rec['id']}"}]}}, None
        if path.startswith("/flavors/"):
            return (200, {"flavor": FLAVOR}, None) if path == "/flavors/1" else (404, {}, None)
        if path.startswith("/os-server-groups/"):
            return 404, {"itemNotFound": {"code": 404, "message": "no server group"}}, None
        m = re.fullmatch(r"/servers/([^/]+)(/tags/([^/]+)|/action)?", path)
        if not m:
            return 404, {"itemNotFound": {"code": 404, "message": path}}, None
        with w.lock:
            w.settle(now)
            rec = w.servers.get(m.group(1))
            if rec is None or rec["deleted"]:
                return 404, {"itemNotFound": {"code": 404, "message": "Instance could not be found."}}, None
            if m.group(3) is not None:
                if method == "PUT":
                    rec["tags"].append(m.group(3))
                elif method == "DELETE":
                    rec["tags"] = [t for t in rec["tags"] if t != m.group(3)]
                return 204, None, None
            if m.group(2) == "/action":
                if "os-getConsoleOutput" in body:
                    return 200, {"output": "login: \n"}, None
                if "os-stop" in body:
                    w.touch(rec, status="SHUTOFF")
                return 202, None, None
            if method == "DELETE":
                w.touch(rec, status="DELETED", deleted=True, tags=[])
                return 204, None, None
            return 200, {"server": server_doc(rec, self.port)}, None

    def _list(self, query: dict, now: float) -> dict:
        w = self.world
        one = {k: v[0] for k, v in query.items()}
        limit = min(int(one.get("limit", 1000)), 1000)
        since = parse_iso(one["changes-since"]) if "changes-since" in one else None
        tags = set(one["tags"].split(",")) if one.get("tags") else set()
        name = re.compile(one["name"]) if one.get("name") else None
        marker = one.get("marker")
        out = []
        with w.lock:
            w.settle(now)
            for sid in reversed(w.order):  # newest first, as Nova sorts
                if marker:
                    if sid == marker:
                        marker = None
                    continue
                rec = w.servers[sid]
                if rec["deleted"] and since is None:
                    continue
                if since is not None and int(rec["updated"]) < since:
                    continue
                if tags and not tags <= set(rec["tags"]):
                    continue
                if name and not name.search(rec["name"]):
                    continue
                out.append(server_doc(rec, self.port))
                if len(out) == limit:
                    break
        with w.lock:
            w.stats["listed"] += len(out)
        doc: dict = {"servers": out}
        if len(out) == limit:
            doc["servers_links"] = [{"rel": "next", "href": f"/servers/detail?marker={out[-1]['id']}"}]
        return doc


class _Server(ThreadingHTTPServer):
    # Class attributes: the constructor listens, with request_queue_size as the backlog
    # (set on the instance afterwards, it was 5: 20 connections opened at once lost SYNs
    # and waited 1 s for the retransmit).
    daemon_threads = True
    request_queue_size = 1024


def serve(port: int = 0) -> tuple[ThreadingHTTPServer, World]:
    world = World()
    server = _Server(("127.0.0.1", port), Handler)
    Handler.world = world
    Handler.port = server.server_address[1]
    return server, world


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server, _ = serve(args.port)
    print(f"listening http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
