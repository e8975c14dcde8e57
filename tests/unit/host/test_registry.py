"""host/registry.py: strategy names, blocking and the load errors, on the Registry alone."""

from __future__ import annotations

import pytest

from fleeting_openstack.host.registry import (
    BLOCK_ENV,
    PluginLoadError,
    Registry,
    StrategyConflictError,
    blocked_by_env,
)


def test_add_keeps_the_strategy_with_its_plugin_until_registered():
    registry = Registry([])
    registry.source = "acme"
    strategy = object()
    registry.add("acme-os", strategy)
    assert registry.pending == [("acme-os", strategy, "acme")]


@pytest.mark.parametrize("bad", ["", "Upper", "-dash", "a b", "x" * 64, 3])
def test_invalid_names_are_refused_naming_the_plugin(bad):
    registry = Registry([])
    registry.source = "acme"
    with pytest.raises(PluginLoadError, match="plugin 'acme' registers an invalid strategy name"):
        registry.add(bad, object())


def test_a_class_is_refused():
    with pytest.raises(PluginLoadError, match="as a class; pass an instance"):
        Registry([]).add("acme", object)


def test_a_name_taken_pending_or_registered_is_a_conflict_naming_both_plugins():
    registry = Registry([])
    registry.source = "first"
    registry.add("os", object())
    registry.source = "second"
    with pytest.raises(StrategyConflictError, match="'first' and plugin 'second'"):
        registry.add("os", object())
    registry.pending.clear()
    registry.sources["os"] = "first"
    with pytest.raises(StrategyConflictError, match=BLOCK_ENV):
        registry.add("os", object())


def test_a_blocked_strategy_is_skipped():
    registry = Registry(["strategy:acme-os", "acme-os"])
    registry.add("acme-os", object())
    assert registry.pending == []


def test_blocked_by_env_splits_on_commas(monkeypatch):
    monkeypatch.setenv(BLOCK_ENV, " flatcar, ,strategy:acme ")
    assert blocked_by_env() == ["flatcar", "strategy:acme"]
    monkeypatch.delenv(BLOCK_ENV)
    assert blocked_by_env() == []
