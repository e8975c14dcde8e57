"""The plugin's model: every value of every fleeting RPC (a :class:`Slot`), its kind and the names it may go by.

The table the mapping (:mod:`.mapping`) matches onto whatever messages the runner's contract uses;
it knows no protobuf.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleeting_openstack.contract.kinds import BOOL, DURATION, INT, JSON, KEY, RECORDS, STATE, STR, STRLIST, TIMESTAMP

__all__ = ["MAPPED", "OPTIONAL", "RECORD_SLOTS", "RPCS", "STATES", "Slot", "canonical_rpc", "norm", "slot_kinds"]

STATES = ("creating", "running", "deleting", "deleted", "timeout")


def norm(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


@dataclass(frozen=True)
class Slot:
    """One value of the plugin's model and the names it may go by."""

    key: str
    names: tuple[str, ...]
    kind: str
    required: bool = False
    #: normalised names of a parent message that make a match more likely.
    groups: tuple[str, ...] = ()
    #: may take the one unclaimed leaf of its type when no name matches.
    by_type: bool = False


def _connector(required: bool = False) -> tuple[Slot, ...]:
    groups = ("connectorconfig", "connector", "settings", "connectorsettings")
    spec: list[tuple[str, tuple[str, ...], str]] = [
        ("os", ("os", "operatingsystem"), STR),
        ("arch", ("arch", "architecture"), STR),
        ("protocol", ("protocol",), STR),
        ("protocol_port", ("protocolport", "port"), INT),
        ("username", ("username", "user"), STR),
        ("password", ("password",), STR),
        ("key", ("key", "privatekey", "sshkey", "keypem"), KEY),
        ("use_static_credentials", ("usestaticcredentials", "staticcredentials"), BOOL),
        ("keepalive", ("keepalive",), DURATION),
        ("timeout", ("timeout",), DURATION),
    ]
    return tuple(
        Slot(f"connector.{key}", names, kind, groups=groups, required=required and key in ("username", "key"))
        for key, names, kind in spec
    )


_ID = ("id", "instanceid", "instance", "instancename")
_ERROR = Slot("error", ("error", "err", "message", "reason"), STR)
RECORD_SLOTS = (Slot("id", _ID, STR, required=True), Slot("state", ("state", "status"), STATE, required=True))

#: canonical RPC -> (method name synonyms, request slots, response slots).
RPCS: dict[str, tuple[tuple[str, ...], tuple[Slot, ...], tuple[Slot, ...]]] = {
    "Init": (
        ("init", "initialize", "initialise", "configure"),
        (
            Slot(
                "config",
                ("config", "pluginconfig", "configuration", "providerconfig", "configjson"),
                JSON,
                required=True,
                by_type=True,
            ),
            *_connector(),
        ),
        (
            Slot("id", ("id", "providerid", "name"), STR, required=True, groups=("info", "providerinfo")),
            Slot("max_size", ("maxsize", "maxinstances", "max"), INT, required=True),
            Slot("version", ("version",), STR),
            Slot("build_info", ("buildinfo", "build"), STR),
            Slot("capabilities", ("capabilities", "caps", "features"), STRLIST),
        ),
    ),
    "Update": (
        ("update", "list", "instances", "poll"),
        (),
        (Slot("instances", ("instances", "instance", "items", "states"), RECORDS, required=True, by_type=True),),
    ),
    "Increase": (
        ("increase", "scaleup", "grow", "create"),
        (
            Slot(
                "delta",
                ("delta", "count", "n", "amount", "number", "num", "increase", "by"),
                INT,
                required=True,
                by_type=True,
            ),
        ),
        (
            Slot(
                "succeeded",
                ("succeeded", "created", "count", "n", "increased", "done", "requested"),
                INT,
                required=True,
                by_type=True,
            ),
            _ERROR,
        ),
    ),
    "Decrease": (
        ("decrease", "scaledown", "shrink", "delete", "remove"),
        (Slot("instances", ("instances", "ids", "instanceids", "instance"), STRLIST, required=True, by_type=True),),
        (
            Slot(
                "succeeded",
                ("succeeded", "deleted", "removed", "done", "ids", "instances"),
                STRLIST,
                required=True,
                by_type=True,
            ),
            _ERROR,
        ),
    ),
    "ConnectInfo": (
        ("connectinfo", "getconnectinfo", "connect", "connection"),
        (Slot("id", _ID, STR, required=True, by_type=True),),
        (
            Slot("id", _ID, STR),
            Slot(
                "internal_addr",
                ("internaladdr", "internaladdress", "privateaddr", "privateaddress", "internalip", "internal"),
                STR,
                required=True,
            ),
            Slot(
                "external_addr",
                ("externaladdr", "externaladdress", "publicaddr", "publicaddress", "externalip", "external"),
                STR,
            ),
            Slot("expires", ("expires", "expiry", "expiration", "expiresat"), TIMESTAMP),
            *_connector(required=True),
        ),
    ),
    "Heartbeat": (("heartbeat",), (Slot("id", _ID, STR, required=True, by_type=True),), ()),
    "Shutdown": (("shutdown", "close", "stop"), (), ()),
    "Suspend": (
        ("suspend", "park"),
        (Slot("instances", ("instances", "ids", "instanceids", "instance"), STRLIST, required=True, by_type=True),),
        (
            Slot(
                "succeeded",
                ("succeeded", "suspended", "done", "ids", "instances"),
                STRLIST,
                required=True,
                by_type=True,
            ),
        ),
    ),
    "Resume": (
        ("resume", "unpark", "wake"),
        (Slot("instances", ("instances", "ids", "instanceids", "instance"), STRLIST, required=True, by_type=True),),
        (
            Slot(
                "succeeded",
                ("succeeded", "resumed", "done", "ids", "instances"),
                STRLIST,
                required=True,
                by_type=True,
            ),
        ),
    ),
}
#: RPCs whose messages the plugin fills or reads (Suspend/Resume answer Unimplemented when
#: the provider has no suspend_mode: its NotImplementedError).
#: Of those, the ones a contract may have in a shape the plugin cannot map without failing Init:
#: they answer Unimplemented (what fleeting's client reads as "not supported").
OPTIONAL = ("Suspend", "Resume")
MAPPED = ("Init", "Update", "Increase", "Decrease", "ConnectInfo", "Heartbeat", "Shutdown", "Suspend", "Resume")


def canonical_rpc(method_name: str) -> str | None:
    wanted = norm(method_name)
    for rpc, (names, _, _) in RPCS.items():
        if wanted in names:
            return rpc
    return None


def slot_kinds(rpc: str) -> tuple[Mapping[str, str], Mapping[str, str]]:
    _, request_slots, response_slots = RPCS[rpc]
    return ({s.key: s.kind for s in request_slots}, {s.key: s.kind for s in response_slots})
