"""provider/cloud.py: each cloud call is declared once, composed into what each module needs."""

from __future__ import annotations

import inspect
from typing import Protocol

from support.fakecloud import FakeCloud

from fleeting_openstack.openstack.client import Cloud
from fleeting_openstack.provider import cloud as protocols

PROTOCOLS = {name: obj for name, obj in vars(protocols).items()
             if inspect.isclass(obj) and obj.__module__ == protocols.__name__ and issubclass(obj, Protocol)}


def declared(cls: type) -> set[str]:
    return {name for name in vars(cls) if not name.startswith("_")}


def calls(cls: type) -> set[str]:
    return set().union(*(declared(base) for base in cls.__mro__ if base in PROTOCOLS.values()))


def test_every_call_is_declared_once():
    seen: dict[str, str] = {}
    for name, cls in PROTOCOLS.items():
        for call in declared(cls):
            assert call not in seen, f"{call} declared in {seen[call]} and {name}"
            seen[call] = name
    assert seen  # the module declares calls at all


def test_the_compositions_declare_nothing_of_their_own():
    for name in ("ListingCloud", "DeleteCloud", "Tagger", "CreateCloud", "LeakCloud", "ProviderCloud"):
        assert declared(PROTOCOLS[name]) == set(), name


def test_the_provider_cloud_is_every_call_and_so_every_composition():
    everything = calls(PROTOCOLS["ProviderCloud"])
    assert everything == set().union(*(declared(cls) for cls in PROTOCOLS.values()))
    for name, cls in PROTOCOLS.items():
        assert calls(cls) <= everything, name


def test_the_adapter_and_the_fake_have_every_call():
    """mypy checks the signatures (initchecks assigns the adapter, fakecloud.py the fake); here: the names."""
    for call in calls(PROTOCOLS["ProviderCloud"]):
        assert hasattr(Cloud, call), call
        assert hasattr(FakeCloud(), call), call
