"""The strategy host end to end through StrategyManager: loading, registry, blocking, tracing, hook semantics."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import logging
import sys
import textwrap

import pytest
import yaml

from fleeting_openstack.plugin import hookimpl
from fleeting_openstack.host import (
    BLOCK_ENV,
    MAX_USER_DATA_BASE64,
    TRACE_ENV,
    PluginInfo,
    PluginLoadError,
    StrategyConflictError,
    StrategyManager,
    UnknownStrategyError,
    default_manager,
)
from fleeting_openstack.plugin.types import (
    ImageInfo,
    InstanceContext,
    InstanceCredentials,
    Observation,
    ReadinessResult,
    ReadinessState,
    StrategyError,
    UserDataError,
)
from strategy_kit import KEY

BUILTINS = ["cloud-init", "custom", "flatcar", "ignition"]
IMAGE = ImageInfo("img-1", "acme-linux", {"os_version": "9"}, os_distro="acme")


def ctx(user_data=None, username="acme", options=None, **kw) -> InstanceContext:
    base = dict(name="runner-4", group="ci", index=4, cloud="prod", region="r1", image=IMAGE,
                user_data=user_data, username=username, options=options or {})
    base.update(kw)
    return InstanceContext(**base)


# --------------------------------------------------------------------------
# Test plugins: a third-party strategy package and site plugins
# --------------------------------------------------------------------------


class AcmeStrategy:
    """A third-party strategy with a toy user_data format."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def fleeting_check_config(self, user_data, options):
        self.calls.append("check")
        errors = [f"option {k!r} is unknown" for k in options if k != "flavour"]
        if user_data and "BROKEN" in user_data:
            errors.append("user_data: BROKEN is not allowed")
        return errors

    @hookimpl
    def fleeting_default_username(self, image):
        return "acme"

    @hookimpl
    def fleeting_key_type(self, image, options):
        return "rsa" if image.properties.get("os_version") == "5" else None

    @hookimpl
    def fleeting_build_user_data(self, ctx):
        self.calls.append("build")
        if ctx.user_data and "EXPLODE" in ctx.user_data:
            raise UserDataError("user_data: EXPLODE cannot be built")
        return f"acme-config\nname={ctx.name}\noperator={ctx.user_data}\n"

    @hookimpl
    def fleeting_inject_credentials(self, user_data, credentials):
        self.calls.append("inject")
        return f"{user_data}login={credentials.username} {credentials.public_key_openssh}\n"

    @hookimpl
    def fleeting_readiness(self, observation):
        if "ACME READY" in (observation.console_tail or ""):
            return ReadinessResult.ready("acme marker")
        return ReadinessResult.waiting("no acme marker")


class AcmePlugin:
    """What a third-party package's entry point would load."""

    name = "acme"
    __version__ = "2.0.1"

    def __init__(self, *names):
        self.strategies = {n: AcmeStrategy() for n in (names or ("acme-os",))}

    @hookimpl
    def fleeting_register_strategies(self, registry):
        for name, strategy in self.strategies.items():
            registry.add(name, strategy)


class AppendLine:
    """A site plugin customising every strategy's user_data."""

    def __init__(self, name, line):
        self.name, self.line, self.seen = name, line, []

    @hookimpl
    def fleeting_customize_user_data(self, ctx, user_data, strategy):
        self.seen.append((strategy, user_data))
        return f"{user_data}{self.line}\n"


def load(*plugins, blocked=(), trace=False) -> StrategyManager:
    return StrategyManager.load(blocked=blocked, trace=trace, extra_plugins=plugins)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv(TRACE_ENV, raising=False)
    monkeypatch.delenv(BLOCK_ENV, raising=False)


# --------------------------------------------------------------------------
# Loading through entry points
# --------------------------------------------------------------------------


def test_builtins_are_loaded_through_the_entry_point_group():
    manager = StrategyManager.load()
    assert manager.strategy_names() == BUILTINS
    version = importlib.metadata.version("fleeting-plugin-openstack")
    infos = {i.name: i for i in manager.installed()}
    assert set(infos) == set(BUILTINS)
    for name, info in infos.items():
        assert isinstance(info, PluginInfo)
        assert info.version == version
        assert info.strategies == (name,)
        assert "fleeting_register_strategies" in info.hooks
        assert "fleeting_readiness" in info.hooks
    assert "fleeting_inject_credentials" in infos["cloud-init"].hooks
    assert "fleeting_inject_credentials" not in infos["custom"].hooks


def _write_dist(root, dist, version, module, source, ep_name):
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[fleeting_openstack.strategies]\n{ep_name} = {module}\n")


def test_third_party_package_is_found_by_its_entry_point(tmp_path, monkeypatch):
    _write_dist(tmp_path, "acme_fleeting", "1.2.3", "acme_fleeting_strategy", '''
        from fleeting_openstack.plugin import hookimpl

        class Acme:
            @hookimpl
            def fleeting_default_username(self, image):
                return "acme-user"

        @hookimpl
        def fleeting_register_strategies(registry):
            registry.add("acme-os", Acme())
        ''', "acme")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_fleeting_strategy", raising=False)
    manager = StrategyManager.load()
    assert manager.strategy_names() == sorted(BUILTINS + ["acme-os"])
    (acme,) = [i for i in manager.installed() if i.name == "acme"]
    assert acme.version == "1.2.3"
    assert acme.strategies == ("acme-os",)
    assert manager.strategy("acme-os").default_username(IMAGE) == "acme-user"


def test_broken_entry_point_names_the_plugin_and_how_to_block_it(tmp_path, monkeypatch):
    _write_dist(tmp_path, "broken_fleeting", "0.1", "broken_fleeting_strategy", "raise ImportError('no such thing')\n", "broken")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "broken_fleeting_strategy", raising=False)
    with pytest.raises(PluginLoadError) as err:
        StrategyManager.load()
    assert "'broken'" in str(err.value) and f"{BLOCK_ENV}=broken" in str(err.value)
    # ... and blocking it works
    monkeypatch.setenv(BLOCK_ENV, "broken")
    assert StrategyManager.load().strategy_names() == BUILTINS


def test_default_manager_loads_the_plugins_once_per_process(monkeypatch):
    first = default_manager()
    assert first.strategy_names() == BUILTINS
    assert default_manager() is first  # Init, validate, plugins ... share it
    # the environment it was loaded with is honoured: another one, another manager
    monkeypatch.setenv(BLOCK_ENV, "flatcar")
    blocked = default_manager()
    assert blocked is not first and "flatcar" not in blocked.strategy_names()
    assert default_manager() is blocked
    monkeypatch.delenv(BLOCK_ENV)
    assert default_manager() is first


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------


def test_third_party_strategy_via_test_plugin_object():
    plugin = AcmePlugin()
    manager = load(plugin)
    assert "acme-os" in manager.strategy_names()
    (info,) = [i for i in manager.installed() if i.name == "acme"]
    assert info.version == "2.0.1" and info.strategies == ("acme-os",)
    assert "fleeting_build_user_data" in info.hooks
    out = manager.strategy("acme-os").render_user_data(ctx("hello"), InstanceCredentials("acme", KEY))
    assert out == f"acme-config\nname=runner-4\noperator=hello\nlogin=acme {KEY}\n"


def test_late_registration_is_historic():
    manager = load()
    assert "acme-os" not in manager.strategy_names()
    manager.register(AcmePlugin())
    assert "acme-os" in manager.strategy_names()


def test_only_the_selected_strategy_answers():
    plugin = AcmePlugin("acme-os", "acme-two")
    manager = load(plugin)
    manager.strategy("acme-os").render_user_data(ctx("x"), InstanceCredentials("acme", KEY))
    assert plugin.strategies["acme-os"].calls == ["build", "inject"]
    assert plugin.strategies["acme-two"].calls == []
    # cloud-init's hooks were not asked either: the output is acme's format
    out = manager.strategy("cloud-init").render_user_data(ctx(None), InstanceCredentials("acme", KEY))
    assert out.startswith("#cloud-config") and plugin.strategies["acme-os"].calls == ["build", "inject"]


def test_duplicate_strategy_name_is_a_conflict_naming_both_plugins():
    class Impostor:
        name = "impostor"

        @hookimpl
        def fleeting_register_strategies(self, registry):
            registry.add("cloud-init", AcmeStrategy())

    with pytest.raises(StrategyConflictError) as err:
        load(Impostor())
    assert "'cloud-init'" in str(err.value) and "'impostor'" in str(err.value) and BLOCK_ENV in str(err.value)


def test_blocking_the_builtin_entry_point_lets_a_third_party_replace_it():
    class Replacement:
        name = "better-cloud-init"

        @hookimpl
        def fleeting_register_strategies(self, registry):
            registry.add("cloud-init", AcmeStrategy())

    manager = load(Replacement(), blocked=["cloud-init"])
    out = manager.strategy("cloud-init").render_user_data(ctx("x"), InstanceCredentials("acme", KEY))
    assert out.startswith("acme-config")
    assert [i.name for i in manager.installed() if "cloud-init" in i.strategies] == ["better-cloud-init"]


@pytest.mark.parametrize("bad", ["Has Caps", "", "x" * 80, "-leading"])
def test_invalid_strategy_names_are_refused(bad):
    class Bad:
        name = "bad"

        @hookimpl
        def fleeting_register_strategies(self, registry):
            registry.add(bad, AcmeStrategy())

    with pytest.raises(PluginLoadError, match="invalid strategy name"):
        load(Bad())


def test_registering_a_class_instead_of_an_instance_is_refused():
    class Bad:
        name = "bad"

        @hookimpl
        def fleeting_register_strategies(self, registry):
            registry.add("bad-os", AcmeStrategy)

    with pytest.raises(PluginLoadError, match="pass an instance"):
        load(Bad())


def test_misspelt_hook_is_refused_at_load():
    class Typo:
        name = "typo"

        @hookimpl
        def fleeting_customise_user_data(self, user_data):  # British spelling: no such hook
            return user_data

    with pytest.raises(PluginLoadError) as err:
        load(Typo())
    assert "fleeting_customise_user_data" in str(err.value)


def test_strategy_with_wrong_hook_arguments_is_refused():
    class WrongArgs:
        @hookimpl
        def fleeting_readiness(self, observation, console):  # "console" is not an argument
            return None

    class Provider:
        name = "wrong"

        @hookimpl
        def fleeting_register_strategies(self, registry):
            registry.add("wrong-os", WrongArgs())

    with pytest.raises(PluginLoadError) as err:
        load(Provider())
    assert "'wrong-os'" in str(err.value) and "console" in str(err.value)


def test_unknown_strategy_lists_the_installed_ones():
    manager = load(AcmePlugin())
    with pytest.raises(UnknownStrategyError) as err:
        manager.strategy("coreos")
    assert isinstance(err.value, ValueError)
    for name in BUILTINS + ["acme-os"]:
        assert name in str(err.value)


# --------------------------------------------------------------------------
# Environment: block and trace
# --------------------------------------------------------------------------


def test_block_env_var_blocks_named_plugins(monkeypatch):
    monkeypatch.setenv(BLOCK_ENV, "flatcar, custom")
    manager = StrategyManager.load()
    assert manager.strategy_names() == ["cloud-init", "ignition"]
    assert {i.name for i in manager.installed()} == {"cloud-init", "ignition"}
    with pytest.raises(UnknownStrategyError) as err:
        manager.strategy("flatcar")
    message = str(err.value)
    assert "blocked" in message and "cloud-init" in message and "ignition" in message


def test_block_env_var_blocks_one_strategy_of_a_package(monkeypatch):
    monkeypatch.setenv(BLOCK_ENV, "strategy:acme-two")
    manager = StrategyManager.load(extra_plugins=[AcmePlugin("acme-os", "acme-two")])
    assert "acme-os" in manager.strategy_names() and "acme-two" not in manager.strategy_names()


def test_explicit_blocked_argument_overrides_env(monkeypatch):
    monkeypatch.setenv(BLOCK_ENV, "cloud-init")
    assert StrategyManager.load(blocked=[]).strategy_names() == BUILTINS


PRIVATE_PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def test_trace_env_var_logs_every_hook_call_without_secrets(monkeypatch, caplog):
    monkeypatch.setenv(TRACE_ENV, "1")
    caplog.set_level(logging.DEBUG, logger="fleeting_openstack.strategies")
    manager = StrategyManager.load(extra_plugins=[AppendLine("site", "# site")])
    strategy = manager.strategy("cloud-init")
    password = "'s3cr3t: pa'ss"
    user_data = "#cloud-config\nwrite_files:\n- path: /root/key\n  content: |\n" + "".join(
        f"    {line}\n" for line in PRIVATE_PEM.splitlines()
    )
    out = strategy.render_user_data(ctx(user_data), InstanceCredentials("acme", KEY, password))
    cfg = yaml.safe_load(out)
    assert cfg["users"][-1]["plain_text_passwd"] == password  # cloud-init does put it into the user_data ...
    assert cfg["write_files"][0]["content"] == PRIVATE_PEM
    strategy.readiness(Observation("ACTIVE", 10, 600, "Cloud-init v. 24.1 finished at X. Datasource DataSourceOpenStack [net,ver=2]."))
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "fleeting_openstack.strategies")
    for hook in ("fleeting_register_strategies", "fleeting_build_user_data", "fleeting_customize_user_data",
                 "fleeting_inject_credentials", "fleeting_readiness"):
        assert f"hook {hook}(" in logged, hook
    assert "returned" in logged
    assert password not in logged and "s3cr3t" not in logged  # ... but the trace never shows it
    assert "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ" not in logged
    assert "<redacted" in logged
    assert all(r.levelno == logging.DEBUG for r in caplog.records if r.name == "fleeting_openstack.strategies")


def test_no_trace_without_the_env_var(caplog):
    caplog.set_level(logging.DEBUG, logger="fleeting_openstack.strategies")
    manager = StrategyManager.load()
    manager.strategy("cloud-init").render_user_data(ctx(None), InstanceCredentials("acme", KEY))
    assert not [r for r in caplog.records if r.getMessage().startswith("hook ")]


# --------------------------------------------------------------------------
# Hook semantics
# --------------------------------------------------------------------------


def test_customisation_is_chained_and_runs_between_build_and_inject():
    first, second = AppendLine("first", "# first"), AppendLine("second", "# second")
    manager = load(AcmePlugin(), first, second)
    out = manager.strategy("acme-os").render_user_data(ctx("op"), InstanceCredentials("acme", KEY))
    base = "acme-config\nname=runner-4\noperator=op\n"
    # pluggy order: the last registered is called first; each sees the previous output
    assert second.seen == [("acme-os", base)]
    assert first.seen == [("acme-os", base + "# second\n")]
    assert out == base + "# second\n# first\n" + f"login=acme {KEY}\n"
    assert KEY not in second.seen[0][1] + first.seen[0][1]  # injection comes last


def test_customisation_order_follows_tryfirst():
    class Early(AppendLine):
        @hookimpl(tryfirst=True)
        def fleeting_customize_user_data(self, ctx, user_data, strategy):
            return f"{user_data}{self.line}\n"

    manager = load(AcmePlugin(), Early("early", "# early"), AppendLine("late", "# late"))
    out = manager.strategy("acme-os").render_user_data(ctx("op"), InstanceCredentials("acme", KEY))
    assert out.index("# early") < out.index("# late")


def test_customiser_returning_none_leaves_user_data_and_can_filter_by_strategy():
    class OnlyCloudInit:
        name = "only-ci"

        @hookimpl
        def fleeting_customize_user_data(self, user_data, strategy):
            return user_data + "bootcmd: [echo ci-only]\n" if strategy == "cloud-init" else None

    manager = load(AcmePlugin(), OnlyCloudInit())
    acme = manager.strategy("acme-os").render_user_data(ctx("op"), InstanceCredentials("acme", KEY))
    assert "ci-only" not in acme
    ci = manager.strategy("cloud-init").render_user_data(ctx("#cloud-config\n"), InstanceCredentials("acme", KEY))
    assert ci.startswith("#cloud-config") and "ci-only" in ci and KEY in ci


def test_templating_happens_before_build():
    manager = load(AcmePlugin())
    out = manager.strategy("acme-os").render_user_data(
        ctx("host={{fleeting.instance_name}} idx={{ fleeting.index }}"), InstanceCredentials("acme", KEY)
    )
    assert "operator=host=runner-4 idx=4" in out


def test_bad_placeholder_at_render_is_a_user_data_error():
    manager = load(AcmePlugin())
    with pytest.raises(UserDataError, match="fleeting.nope"):
        manager.strategy("acme-os").render_user_data(ctx("{{fleeting.nope}}"), InstanceCredentials("acme", KEY))


def test_site_plugin_overrides_firstresult_hooks_with_tryfirst():
    class Site:
        name = "site"

        @hookimpl(tryfirst=True)
        def fleeting_default_username(self, image, strategy):
            return "site-user" if image.os_distro == "acme" else None

        @hookimpl(tryfirst=True)
        def fleeting_readiness(self, observation):
            if "SITE-MARKER" in (observation.console_tail or ""):
                return ReadinessResult.ready("site marker")
            return None

    manager = load(Site())
    ci = manager.strategy("cloud-init")
    assert ci.default_username(IMAGE) == "site-user"
    assert ci.default_username(ImageInfo("x", os_distro="debian")) == "debian"  # strategy answers
    assert ci.readiness(Observation("ACTIVE", 5, 600, "SITE-MARKER")).reason == "site marker"
    assert ci.readiness(Observation("ACTIVE", 5, 600, "booting")).state is ReadinessState.WAITING


def test_check_collects_every_error_at_once():
    class SitePolicy:
        name = "site-policy"

        @hookimpl
        def fleeting_check_config(self, user_data, options, strategy):
            return ["site: user_data must mention 'proxy'"] if "proxy" not in (user_data or "") else []

    manager = load(AcmePlugin(), SitePolicy())
    errors = manager.strategy("acme-os").check("BROKEN {{fleeting.nope}}", {"colour": "red"})
    assert any("fleeting.nope" in e for e in errors)  # templating
    assert "option 'colour' is unknown" in errors  # strategy options
    assert "user_data: BROKEN is not allowed" in errors  # strategy user_data
    assert "site: user_data must mention 'proxy'" in errors  # site plugin
    assert manager.strategy("acme-os", {"flavour": "x"}).check("proxy") == []


def test_check_sees_placeholders_replaced_with_sample_values():
    seen = []

    class Spy:
        name = "spy"

        @hookimpl
        def fleeting_check_config(self, user_data):
            seen.append(user_data)

    load(Spy()).strategy("custom").check('{"name": "{{fleeting.instance_name}}", "n": {{fleeting.index}}}')
    assert seen == ['{"name": "fleeting-sample-0", "n": 0}']


def test_check_trial_render_turns_build_failures_into_config_errors():
    manager = load(AcmePlugin())
    assert manager.strategy("acme-os").check("EXPLODE") == ["user_data: EXPLODE cannot be built"]


def test_check_rejects_non_string_user_data_and_non_table_options():
    strategy = load().strategy("cloud-init")
    assert strategy.check(b"#cloud-config") and strategy.check(None, ["x"])


def test_oversized_user_data_is_refused_with_nova_limit():
    manager = load(AcmePlugin())
    with pytest.raises(UserDataError, match=str(MAX_USER_DATA_BASE64)):
        manager.strategy("acme-os").render_user_data(ctx("x" * 60000), InstanceCredentials("acme", KEY))
    assert any(str(MAX_USER_DATA_BASE64) in e for e in manager.strategy("acme-os").check("x" * 60000))


def test_readiness_answers_for_non_active_servers_without_asking_strategies():
    manager = load(AcmePlugin())
    acme = manager.strategy("acme-os")
    assert acme.readiness(Observation("ERROR", 5)).state is ReadinessState.FAILED
    for status in ("BUILD", "REBUILD", "SHUTOFF"):
        result = acme.readiness(Observation(status, 5, 600, "ACME READY"))
        assert result.state is ReadinessState.WAITING and status in result.reason
    assert acme.readiness(Observation("ACTIVE", 5, 600, "ACME READY")).state is ReadinessState.READY


def test_readiness_without_opinion_is_ready_and_bad_answers_are_errors():
    class Silent:
        @hookimpl
        def fleeting_readiness(self, observation):
            return None

    class Weird:
        @hookimpl
        def fleeting_readiness(self, observation):
            return "ready"

    class Provider:
        name = "p"

        @hookimpl
        def fleeting_register_strategies(self, registry):
            registry.add("silent", Silent())
            registry.add("weird", Weird())

    manager = load(Provider())
    assert manager.strategy("silent").readiness(Observation("ACTIVE", 1, 600, "")).state is ReadinessState.READY
    with pytest.raises(StrategyError):
        manager.strategy("weird").readiness(Observation("ACTIVE", 1, 600, ""))


def test_key_type_and_wants_generated_key():
    manager = load(AcmePlugin())
    acme = manager.strategy("acme-os")
    assert acme.key_type(IMAGE) == "ed25519"  # no opinion -> default
    assert acme.key_type(ImageInfo("old", properties={"os_version": "5"})) == "rsa"
    assert acme.wants_generated_key is True  # no opinion -> default
    assert manager.strategy("custom").wants_generated_key is False
    assert manager.strategy("cloud-init", {"key_type": "rsa"}).key_type(IMAGE) == "rsa"

    class Bogus:
        name = "bogus"

        @hookimpl(tryfirst=True)
        def fleeting_key_type(self):
            return "dsa"

    with pytest.raises(StrategyError, match="dsa"):
        load(Bogus()).strategy("cloud-init").key_type(IMAGE)


# --------------------------------------------------------------------------
# Context types
# --------------------------------------------------------------------------


def test_context_types_are_frozen_and_read_only():
    c = ctx("x", options={"a": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.user_data = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        c.options["a"] = 2  # type: ignore[index]
    with pytest.raises(TypeError):
        IMAGE.properties["os_version"] = "1"  # type: ignore[index]
    obs = Observation("ACTIVE", 1, None, None, {"net": ["10.0.0.1"]})
    with pytest.raises(TypeError):
        obs.addresses["other"] = []  # type: ignore[index]


def test_credentials_repr_hides_the_password():
    creds = InstanceCredentials("core", KEY, "hunter2")
    assert "hunter2" not in repr(creds) and "hunter2" not in str(creds) and KEY in repr(creds)


def test_fleeting_wants_generated_key_hook_answers_for_the_selected_strategy():
    class PasswordOnly:
        @hookimpl
        def fleeting_wants_generated_key(self, options):
            return bool(options.get("keys"))

    class Provider:
        name = "pw"

        @hookimpl
        def fleeting_register_strategies(self, registry):
            registry.add("password-only", PasswordOnly())

    manager = load(Provider())
    assert manager.strategy("password-only").wants_generated_key is False
    assert manager.strategy("password-only", {"keys": True}).wants_generated_key is True
    assert manager.strategy("cloud-init").wants_generated_key is True  # not asked of other strategies

    class SiteStatic:
        name = "site-static"

        @hookimpl(tryfirst=True)
        def fleeting_wants_generated_key(self, strategy):
            return False if strategy == "cloud-init" else None

    manager = load(Provider(), SiteStatic())
    assert manager.strategy("cloud-init").wants_generated_key is False
    assert manager.strategy("ignition").wants_generated_key is True
