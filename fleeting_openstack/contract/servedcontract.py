"""The contract being served: the discovered service with every method mapped, found once.

:class:`ServedContract` is a contract (:mod:`.discovery`) with each method's
messages mapped onto the model (:mod:`.mapping`) and the problems that stop it
from being served. :class:`ContractHolder` runs discovery once, on a thread of
its own right after the handshake, and makes the first RPC wait for it; a
failed discovery falls back to the built-in contract and never stops the plugin.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fleeting_openstack.contract.slots import OPTIONAL

if TYPE_CHECKING:
    from fleeting_openstack.contract import discovery
    from fleeting_openstack.contract.mapping import MethodMap
    from fleeting_openstack.jsontypes import JSONObject

__all__ = ["DISCOVERY_WAIT", "ContractHolder", "ServedContract"]

log = logging.getLogger("fleeting_openstack.service")  # the name operators know

#: How long the first RPC waits for discovery (it reads at most one binary).
DISCOVERY_WAIT = 60.0


@dataclass
class ServedContract:
    """A contract with every method mapped, ready to answer calls."""

    contract: discovery.Contract
    methods: dict[str, MethodMap] = field(default_factory=dict)
    #: full method path ("/pkg.Service/Name") -> canonical RPC, for every declared method.
    paths: dict[str, str | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, contract: discovery.Contract) -> ServedContract:
        from fleeting_openstack.contract import mapping

        served = cls(contract)
        for method in contract.service.methods:
            rpc = mapping.canonical_rpc(method.name)
            served.paths[f"/{contract.service.full_name}/{method.name}"] = rpc
            if rpc is None or rpc in served.methods:
                continue
            mm = mapping.map_method(rpc, method)
            if rpc in OPTIONAL and mm.problems:
                continue  # not served: answers Unimplemented, Init is not failed for it
            served.methods[rpc] = mm
            if rpc in mapping.MAPPED:
                served.problems.extend(mm.problems)
        return served

    def summary(self) -> JSONObject:
        from fleeting_openstack.contract import mapping

        c = self.contract
        return {
            "origin": c.origin,
            "source": c.path or "built-in (fleeting's contract)",
            "sha256": c.sha256[:12],
            "service": c.service.full_name,
            "methods": [m.name for m in c.service.methods],
            "mapping": {
                rpc: {
                    "method": mm.method.name,
                    "streamed": mm.streamed,
                    "request": {k: v for k, v in mapping.describe(mm.request).items()},
                    "response": {k: v for k, v in mapping.describe(mm.response).items()},
                }
                for rpc, mm in self.methods.items()
            },
        }

    def error_text(self) -> str:
        c = self.contract
        return (
            f"the runner's contract ({c.service.full_name} from {c.path or c.origin}) cannot be served: "
            + "; ".join(self.problems)
            + " (run `fleeting-plugin-openstack protocol <runner binary>` to see the whole contract)"
        )


def _discover_runner() -> discovery.Contract:
    from fleeting_openstack.contract import discovery

    return discovery.discover()


class ContractHolder:
    """Discovers the contract once, off the handshake's path, and hands it out."""

    def __init__(self, discover: Callable[[], discovery.Contract] | None = None) -> None:
        self._discover = discover or _discover_runner
        self._ready = threading.Event()
        self._served: ServedContract | None = None
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="contract-discovery", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        from fleeting_openstack.contract import discovery

        try:
            self._served = self._discover_and_map()
        except Exception as exc:  # noqa: BLE001 - discovery must never stop the plugin
            log.error(
                "contract discovery failed; serving the built-in contract",
                extra={"reason": f"{type(exc).__name__}: {exc}"},
            )
            self._served = ServedContract.of(discovery.builtin())
        finally:
            self._ready.set()

    def _discover_and_map(self) -> ServedContract:
        started = time.monotonic()
        contract = self._discover()
        served = ServedContract.of(contract)
        seconds = round(time.monotonic() - started, 4)
        summary = served.summary()
        if contract.origin == "builtin":
            log.warning(
                "no fleeting contract found in the runner; serving the built-in one (fleeting's)",
                extra={
                    "why": "; ".join(contract.notes) or "not looked for",
                    "seconds": seconds,
                    "service": summary["service"],
                },
            )
        else:
            log.info("serving the runner's contract", extra={**summary, "seconds": seconds})
        for rpc, mm in served.methods.items():
            for what, mmap_ in (("request", mm.request), ("response", mm.response)):
                if mmap_.unused:
                    log.debug(
                        "fields the plugin does not use",
                        extra={"rpc": rpc, "part": f"{what} {mmap_.desc.full_name}", "fields": mmap_.unused},
                    )
        return served

    def get(self, timeout: float = DISCOVERY_WAIT) -> ServedContract:
        self.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"contract discovery did not finish within {timeout:.0f} s")
        assert self._served is not None
        return self._served
