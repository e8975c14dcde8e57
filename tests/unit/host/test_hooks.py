"""host/hooks.py: one typed method per hook, restricted to the selected strategy, answers checked."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pluggy
import pytest

import fleeting_openstack
from fleeting_openstack.host.hooks import PluggyHooks, StrategyHooks
from fleeting_openstack.plugin import (
    ImageInfo,
    InstanceContext,
    InstanceCredentials,
    Observation,
    ReadinessResult,
    StrategyError,
    hookimpl,
    hookspecs,
)

IMAGE = ImageInfo("img-1")
CTX = InstanceContext(name="n-0", group="g", index=0, cloud="c", region="r", image=IMAGE, user_data="u", username="me")
CREDS = InstanceCredentials("me", "ssh-ed25519 AAAA me")
SPEC_MARK = f"{hookspecs.PROJECT_NAME}_spec"
HOOKS = sorted(n for n, f in vars(hookspecs).items() if hasattr(f, SPEC_MARK))


class Answers:
    """A strategy answering every per-instance hook with what it was given at construction."""

    def __init__(self, tag: str, **answers: object) -> None:
        self.tag = tag
        self.answers = answers
        self.seen: list[tuple[str, dict[str, object]]] = []

    def _answer(self, hook: str, **kwargs: object) -> object:
        self.seen.append((hook, kwargs))
        return self.answers.get(hook)

    @hookimpl
    def fleeting_check_config(self, user_data, options):
        return self._answer("check_config", user_data=user_data, options=options)

    @hookimpl
    def fleeting_default_username(self, image, options):
        return self._answer("default_username", image=image, options=options)

    @hookimpl
    def fleeting_wants_generated_key(self, options):
        return self._answer("wants_generated_key", options=options)

    @hookimpl
    def fleeting_key_type(self, image, options):
        return self._answer("key_type", image=image, options=options)

    @hookimpl
    def fleeting_build_user_data(self, ctx):
        return self._answer("build_user_data", ctx=ctx)

    @hookimpl
    def fleeting_customize_user_data(self, ctx, user_data):
        answer = self._answer("customize_user_data", ctx=ctx, user_data=user_data)
        return None if answer is None else f"{user_data}+{answer}"

    @hookimpl
    def fleeting_inject_credentials(self, ctx, user_data, credentials):
        return self._answer("inject_credentials", ctx=ctx, user_data=user_data, credentials=credentials)

    @hookimpl
    def fleeting_readiness(self, observation, options, user_data):
        return self._answer("readiness", observation=observation, options=options, user_data=user_data)


def hooks_over(*site_plugins: object, **strategies: object) -> PluggyHooks:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for i, plugin in enumerate(site_plugins):
        pm.register(plugin, f"site-{i}")
    for name, obj in strategies.items():
        pm.register(obj, f"strategy:{name}")
    return PluggyHooks(pm, strategies)


def test_every_hook_has_one_typed_method_on_the_host():
    per_instance = [h for h in HOOKS if h != "fleeting_register_strategies"]
    protocol = {n for n, f in vars(StrategyHooks).items() if inspect.isfunction(f) and not n.startswith("_")}
    assert sorted(f"fleeting_{n}" for n in protocol) == per_instance
    for name in protocol:  # and the implementation has each, typed
        method = getattr(PluggyHooks, name)
        assert inspect.signature(method).return_annotation is not inspect.Signature.empty, name
    assert hasattr(PluggyHooks, "register_strategies")


def test_no_module_calls_a_hook_by_a_name_string():
    package = Path(fleeting_openstack.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in HOOKS:
                found.append(f"{path.relative_to(package)}:{node.lineno}: {node.value!r}")
    assert found == []


def test_the_name_string_check_sees_a_hook_name():
    tree = ast.parse('getattr(pm.hook, "fleeting_readiness")(observation=obs)')
    assert [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in HOOKS] == [
        "fleeting_readiness"
    ]


def test_only_the_selected_strategy_and_the_site_plugins_answer():
    mine = Answers("mine", default_username="mine")
    other = Answers("other", default_username="other")
    site = Answers("site", check_config=["site says no"])
    hooks = hooks_over(site, mine=mine, other=other)
    assert hooks.default_username("mine", image=IMAGE, options={}) == "mine"
    assert hooks.default_username("other", image=IMAGE, options={}) == "other"
    assert hooks.check_config("mine", user_data="x", options={"a": 1}) == ["site says no"]
    assert other.seen == [("default_username", {"image": IMAGE, "options": {}})]
    assert ("check_config", {"user_data": "x", "options": {"a": 1}}) in mine.seen


def test_check_config_collects_every_plugins_messages_and_refuses_a_bare_string():
    hooks = hooks_over(Answers("site", check_config=["b"]), s=Answers("s", check_config=("a",)))
    assert sorted(hooks.check_config("s", user_data=None, options={})) == ["a", "b"]
    with pytest.raises(StrategyError, match="fleeting_check_config"):
        hooks_over(s=Answers("s", check_config="not a list")).check_config("s", user_data=None, options={})


def test_typed_answers_pass_and_wrong_types_name_the_strategy_and_the_hook():
    good = Answers(
        "good", default_username="core", wants_generated_key=0, key_type="rsa", build_user_data="base",
        inject_credentials="final", readiness=ReadinessResult.waiting("no marker"),
    )
    hooks = hooks_over(good=good)
    assert hooks.default_username("good", image=IMAGE, options={}) == "core"
    assert hooks.wants_generated_key("good", options={}) is False
    assert hooks.key_type("good", image=IMAGE, options={}) == "rsa"
    assert hooks.build_user_data("good", ctx=CTX) == "base"
    assert hooks.inject_credentials("good", ctx=CTX, user_data="x", credentials=CREDS) == "final"
    obs = Observation("ACTIVE", 1.0)
    assert hooks.readiness("good", observation=obs, options={}, user_data=None) == ReadinessResult.waiting("no marker")

    bad = hooks_over(bad=Answers(
        "bad", default_username=1, key_type="dsa", build_user_data=b"bytes", inject_credentials=["x"], readiness="ready"
    ))
    with pytest.raises(StrategyError, match="strategy 'bad' returned int from fleeting_default_username"):
        bad.default_username("bad", image=IMAGE, options={})
    with pytest.raises(StrategyError, match="unsupported key type 'dsa'"):
        bad.key_type("bad", image=IMAGE, options={})
    with pytest.raises(StrategyError, match="fleeting_build_user_data"):
        bad.build_user_data("bad", ctx=CTX)
    with pytest.raises(StrategyError, match="fleeting_inject_credentials"):
        bad.inject_credentials("bad", ctx=CTX, user_data=None, credentials=CREDS)
    with pytest.raises(StrategyError, match="fleeting_readiness"):
        bad.readiness("bad", observation=obs, options={}, user_data=None)


def test_no_opinion_is_none():
    hooks = hooks_over(quiet=Answers("quiet"))
    assert hooks.default_username("quiet", image=IMAGE, options={}) is None
    assert hooks.wants_generated_key("quiet", options={}) is None
    assert hooks.key_type("quiet", image=IMAGE, options={}) is None
    assert hooks.build_user_data("quiet", ctx=CTX) is None
    assert hooks.customize_user_data("quiet", ctx=CTX, user_data="u") == "u"
    assert hooks.inject_credentials("quiet", ctx=CTX, user_data="u", credentials=CREDS) is None
    assert hooks.readiness("quiet", observation=Observation("ACTIVE", 1.0), options={}, user_data=None) is None


def test_customisation_is_chained_in_pluggy_order():
    # pluggy calls the most recently registered first: the strategy, then site-1, then site-0
    hooks = hooks_over(
        Answers("a", customize_user_data="a"), Answers("b", customize_user_data="b"),
        s=Answers("s", customize_user_data="s"),
    )
    assert hooks.customize_user_data("s", ctx=CTX, user_data="u") == "u+s+b+a"

    class Broken:
        @hookimpl
        def fleeting_customize_user_data(self, user_data):
            return 42

    with pytest.raises(StrategyError, match="plugin 'site-0' returned int from fleeting_customize_user_data"):
        hooks_over(Broken(), s=Answers("s")).customize_user_data("s", ctx=CTX, user_data="u")


def test_register_strategies_is_historic():
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    added: list[str] = []

    class Registry:
        def add(self, name: str, strategy: object) -> None:
            added.append(name)

    PluggyHooks(pm, {}).register_strategies(Registry())

    class Late:
        @hookimpl
        def fleeting_register_strategies(self, registry):
            registry.add("late", object())

    pm.register(Late())
    assert added == ["late"]
