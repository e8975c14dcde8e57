"""A small in-memory InstanceGroup for transport tests (no cloud).

Served by the real plugin executable when FLEETING_OPENSTACK_PROVIDER is
``memory_provider:MemoryProvider`` and this directory is on PYTHONPATH.
plugin_config keys: ``name`` (required), ``max_size``, ``fail_init`` (an error
message Init raises), ``log_probe`` (log one line per hclog level at Init),
``expires`` (unix seconds ConnectInfo reports as the credentials' expiry), ``hang_increase`` (seconds
each Increase spends in a worker pool's thread first, as the real provider's creates do), ``noise`` (at Init, write
to stderr the ways libraries do: raw fd 2, print, a logger with its own
StreamHandler, warnings.warn).
"""

from __future__ import annotations

import json
import logging
import threading

from fleeting_openstack.contract.instancegroup import (
    ConnectInfo, InstanceUnhealthy, PartialError, ProviderInfo, Settings, State)

log = logging.getLogger("fleeting_openstack.memory")
KNOWN = {"name", "max_size", "fail_init", "log_probe", "expires", "noise", "hang_increase", "suspend_resume"}


class MemoryProvider:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.instances: dict[str, State] = {}
        self.counter = 0
        self.settings = Settings()
        self.max_size = 10
        self.expires: float | None = None
        self.hang_increase = 0.0

    def init(self, config: bytes, settings: Settings) -> ProviderInfo:
        cfg = json.loads(config or b"{}")
        unknown = sorted(set(cfg) - KNOWN)
        if unknown:
            raise ValueError(f"plugin_config: unknown key(s) {', '.join(unknown)}")
        if not cfg.get("name"):
            raise ValueError("plugin_config.name: required")
        if cfg.get("fail_init"):
            raise ValueError(cfg["fail_init"])
        if cfg.get("noise"):
            import os
            import sys
            import warnings

            os.write(2, b"E1203 raw line written to fd 2 (like grpc's C core)\n")
            print("a stray print to stderr", file=sys.stderr, flush=True)
            library = logging.getLogger("keystoneauth.session")
            library.addHandler(logging.StreamHandler(sys.stderr))  # a library's own handler
            library.warning("Failure: Unable to establish connection. Retrying in 0.5s.")
            warnings.warn("a library warning", UserWarning, stacklevel=1)
        if cfg.get("log_probe"):
            log.log(5, "probe trace")
            log.debug("probe debug")
            log.info("probe info", extra={"probe_field": "value-1"})
            log.warning("probe warn")
            log.error("probe error")
        self.settings = settings
        self.max_size = int(cfg.get("max_size", 10))
        self.expires = cfg.get("expires")
        self.hang_increase = float(cfg.get("hang_increase", 0))
        # Off unless asked for (``"suspend_resume": true``): Suspend/Resume then answer
        # Unimplemented and Init declares no capability, like the OpenStack provider with
        # suspend_mode = "off" (the Go conformance hosts check that path).
        self.suspend_resume = bool(cfg.get("suspend_resume"))
        return ProviderInfo(id=f"memory/{cfg['name']}", max_size=self.max_size, version="test",
                            capabilities=("suspend_resume",) if self.suspend_resume else ())

    def update(self):
        with self.lock:
            out = list(self.instances.items())
            for iid, state in out:
                if state is State.CREATING:
                    self.instances[iid] = State.RUNNING
                elif state is State.DELETING:
                    del self.instances[iid]
        return out

    def increase(self, delta: int) -> int:
        if self.hang_increase:
            import time
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=1) as pool:  # non-daemon workers, joined at exit
                pool.submit(time.sleep, self.hang_increase).result()
        with self.lock:
            room = max(0, self.max_size - len(self.instances))
            made = min(delta, room)
            for _ in range(made):
                self.counter += 1
                self.instances[f"mem-{self.counter}"] = State.CREATING
        if made < delta:
            raise PartialError(f"max_size {self.max_size} reached", made)
        return made

    def decrease(self, ids):
        done = []
        with self.lock:
            for iid in ids:
                if iid in self.instances:
                    self.instances[iid] = State.DELETING
                    done.append(iid)
        missing = [i for i in ids if i not in done]
        if missing:
            raise PartialError(f"no such instance: {', '.join(missing)}", done)
        return done

    def connect_info(self, instance_id: str) -> ConnectInfo:
        with self.lock:
            if instance_id not in self.instances:
                raise KeyError(f"instance {instance_id} not found")
        return ConnectInfo(id=instance_id, connector=self.settings.connector.merged(os="linux", protocol="ssh"),
                           internal_addr="192.0.2.10", external_addr="198.51.100.10",
                           expires=self.expires)

    def heartbeat(self, instance_id: str) -> None:
        with self.lock:
            state = self.instances.get(instance_id)
        if state is not State.RUNNING:
            raise InstanceUnhealthy(f"instance {instance_id} is {state.value if state else 'gone'}")

    def suspend(self, ids):
        """running -> suspended; an unknown id is refused (a partial result carrying the rest)."""
        return self._power(ids, State.RUNNING, State.SUSPENDED)

    def resume(self, ids):
        return self._power(ids, State.SUSPENDED, State.RUNNING)

    def _power(self, ids, source: State, target: State):
        if not self.suspend_resume:
            raise NotImplementedError("suspend_resume is off (no suspend_resume capability)")
        done = []
        with self.lock:
            for iid in ids:
                if self.instances.get(iid) in (source, target):
                    self.instances[iid] = target
                    done.append(iid)
        refused = [i for i in ids if i not in done]
        if refused:
            raise PartialError(f"refused: {', '.join(refused)}", done)
        return done

    def shutdown(self) -> None:
        log.info("memory provider shutdown")
