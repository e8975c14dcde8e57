"""host/bound.py: BoundStrategy on a recorded StrategyHooks (its constructor's seam), no pluggy."""

from __future__ import annotations

import pytest

from fleeting_openstack.host.bound import MAX_USER_DATA_BASE64, BoundStrategy, check_key
from fleeting_openstack.plugin import (
    ImageInfo,
    InstanceContext,
    InstanceCredentials,
    KeyType,
    Observation,
    ReadinessResult,
    ReadinessState,
    StrategyOptions,
    UserDataError,
)

IMAGE = ImageInfo("img-1")
CREDS = InstanceCredentials("me", "ssh-ed25519 AAAA me", password="s3cret")


class Recorded:
    """A StrategyHooks that records every call and answers what the test set."""

    def __init__(self, **answers: object) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, dict[str, object]]] = []

    def _call(self, hook: str, selected: str, **kwargs: object) -> object:
        self.calls.append((hook, selected, kwargs))
        return self.answers.get(hook)

    def check_config(self, selected: str, *, user_data: str | None, options: StrategyOptions) -> list[str]:
        answer = self._call("check_config", selected, user_data=user_data, options=options)
        return list(answer) if isinstance(answer, list) else []

    def default_username(self, selected: str, *, image: ImageInfo, options: StrategyOptions) -> str | None:
        answer = self._call("default_username", selected, image=image, options=options)
        return answer if isinstance(answer, str) else None

    def wants_generated_key(self, selected: str, *, options: StrategyOptions) -> bool | None:
        answer = self._call("wants_generated_key", selected, options=options)
        return answer if isinstance(answer, bool) else None

    def key_type(self, selected: str, *, image: ImageInfo, options: StrategyOptions) -> KeyType | None:
        answer = self._call("key_type", selected, image=image, options=options)
        return "rsa" if answer == "rsa" else None

    def build_user_data(self, selected: str, *, ctx: InstanceContext) -> str | None:
        answer = self._call("build_user_data", selected, ctx=ctx)
        return f"base({ctx.user_data})" if answer else None

    def customize_user_data(self, selected: str, *, ctx: InstanceContext, user_data: str | None) -> str | None:
        self._call("customize_user_data", selected, ctx=ctx, user_data=user_data)
        return f"custom({user_data})"

    def inject_credentials(
        self, selected: str, *, ctx: InstanceContext, user_data: str | None, credentials: InstanceCredentials
    ) -> str | None:
        answer = self._call("inject_credentials", selected, ctx=ctx, user_data=user_data, credentials=credentials)
        return answer if isinstance(answer, str) else f"inject({user_data})"

    def readiness(
        self, selected: str, *, observation: Observation, options: StrategyOptions, user_data: str | None
    ) -> ReadinessResult | None:
        answer = self._call("readiness", selected, observation=observation, options=options, user_data=user_data)
        return answer if isinstance(answer, ReadinessResult) else None


def ctx(user_data: str | None = "hello {{fleeting.instance_name}}") -> InstanceContext:
    return InstanceContext(name="web-3", group="g", index=3, cloud="c", region="r", image=IMAGE,
                           user_data=user_data, username="me")


def test_render_templates_then_builds_customises_and_injects_in_that_order():
    hooks = Recorded(build_user_data=True)
    text = BoundStrategy(hooks, "s", {}).render_user_data(ctx(), CREDS)
    assert text == "inject(custom(base(hello web-3)))"
    assert [(hook, selected) for hook, selected, _ in hooks.calls] == [
        ("build_user_data", "s"), ("customize_user_data", "s"), ("inject_credentials", "s")
    ]
    built_ctx = hooks.calls[0][2]["ctx"]
    assert isinstance(built_ctx, InstanceContext) and built_ctx.user_data == "hello web-3"


def test_render_without_a_base_uses_the_templated_operator_text():
    assert BoundStrategy(Recorded(), "s", {}).render_user_data(ctx(), CREDS) == "inject(custom(hello web-3))"


def test_render_refuses_more_than_novas_limit():
    big = Recorded(inject_credentials="x" * MAX_USER_DATA_BASE64)
    with pytest.raises(UserDataError, match=f"Nova's limit of {MAX_USER_DATA_BASE64}"):
        BoundStrategy(big, "s", {}).render_user_data(ctx(), CREDS)


def test_check_collects_placeholder_and_plugin_errors_before_a_trial_render():
    hooks = Recorded(check_config=["option 'x': bad"])
    errors = BoundStrategy(hooks, "s", {"x": 1}).check("{{fleeting.nope}}")
    assert errors[1:] == ["option 'x': bad"] and "fleeting.nope" in errors[0]
    assert [hook for hook, _, _ in hooks.calls] == ["check_config"]  # no trial render after errors

    fine = Recorded()
    assert BoundStrategy(fine, "s", {}).check("hi {{fleeting.index}}") == []
    assert fine.calls[0][2]["user_data"] == "hi 0"  # the sample values
    assert "inject_credentials" in [hook for hook, _, _ in fine.calls]  # the trial render


def test_check_turns_a_trial_render_failure_into_a_message():
    class Failing(Recorded):
        def build_user_data(self, selected: str, *, ctx: InstanceContext) -> str | None:
            raise UserDataError("cannot build")

    assert BoundStrategy(Failing(), "s", {}).check("x") == ["cannot build"]


def test_defaults_when_the_strategy_has_no_opinion():
    bound = BoundStrategy(Recorded(), "s", {"k": "v"})
    assert bound.key_type(IMAGE) == "ed25519"
    assert bound.wants_generated_key is True
    assert bound.default_username(IMAGE) is None
    answered = BoundStrategy(Recorded(key_type="rsa", wants_generated_key=False, default_username="core"), "s", {})
    assert (answered.key_type(IMAGE), answered.wants_generated_key, answered.default_username(IMAGE)) == (
        "rsa", False, "core"
    )


def test_readiness_asks_the_strategy_only_for_active_servers():
    hooks = Recorded(readiness=ReadinessResult.waiting("no marker"))
    bound = BoundStrategy(hooks, "s", {"o": 1}, user_data="#cloud-config\n")
    assert bound.readiness(Observation("ERROR", 1.0)).state is ReadinessState.FAILED
    assert bound.readiness(Observation("BUILD", 1.0)).state is ReadinessState.WAITING
    assert hooks.calls == []
    assert bound.readiness(Observation("ACTIVE", 1.0)) == ReadinessResult.waiting("no marker")
    assert hooks.calls[0][2]["user_data"] == "#cloud-config\n" and hooks.calls[0][2]["options"] == {"o": 1}
    silent = BoundStrategy(Recorded(), "s", {}).readiness(Observation("ACTIVE", 1.0))
    assert silent.state is ReadinessState.READY and "no boot marker" in silent.reason


@pytest.mark.parametrize(
    ("message", "key"),
    [
        ("option 'key_type' must be one of ed25519, rsa", "strategy_options.key_type"),
        ("strategy options must be a table, got list", "strategy_options"),
        ("user_data line 1: unknown template variable", "user_data_file"),
    ],
)
def test_check_key_names_the_configuration_key(message, key):
    assert check_key(message, "user_data_file") == key
