"""host/render.py: one instance's user_data from the group's configuration, as Increase and render-user-data build it."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleeting_openstack.host import StrategyManager
from fleeting_openstack.host.render import render
from fleeting_openstack.plugin import ImageInfo, InstanceContext, InstanceCredentials, hookimpl


@dataclass(frozen=True)
class Spec:
    user_data: str | None


@dataclass(frozen=True)
class Group:
    """The part of config.PluginConfig that render() reads."""

    name: str = "ci"
    cloud: str | None = None
    server_spec: Spec = Spec("#x {{fleeting.instance_name}} {{fleeting.index}} {{fleeting.cloud}}|")
    strategy_options: dict[str, object] = field(default_factory=lambda: {"flavour": "plain"})


class Echo:
    """A strategy that writes what it was given into the user_data."""

    def __init__(self) -> None:
        self.seen: list[tuple[InstanceContext, InstanceCredentials]] = []

    @hookimpl
    def fleeting_inject_credentials(self, ctx, user_data, credentials):
        self.seen.append((ctx, credentials))
        return f"{user_data}{credentials.username}:{credentials.public_key_openssh}"


class Provides:
    """The plugin that adds the strategy."""

    def __init__(self, strategy: Echo) -> None:
        self.strategy = strategy

    @hookimpl
    def fleeting_register_strategies(self, registry):
        registry.add("echo", self.strategy)


def load(echo: Echo) -> StrategyManager:
    return StrategyManager.load(entry_point_group="none", blocked=[], trace=False, extra_plugins=[Provides(echo)])


def test_render_builds_the_context_and_credentials_from_the_configuration():
    echo = Echo()
    strategy = load(echo).strategy("echo", {"flavour": "plain"})
    text = render(strategy, Group(), name="ci-7", index=7, region="r1", image=ImageInfo("img"), username="core",
                  public_key="ssh-ed25519 AAAA", password="")
    assert text == "#x ci-7 7 |core:ssh-ed25519 AAAA"
    ctx, creds = echo.seen[0]
    assert (ctx.group, ctx.cloud, ctx.region, ctx.index, dict(ctx.options)) == ("ci", "", "r1", 7, {"flavour": "plain"})
    assert creds.password is None  # an empty password is none


def test_render_without_user_data():
    echo = Echo()
    strategy = load(echo).strategy("echo")
    text = render(strategy, Group(cloud="prod", server_spec=Spec(None)), name="ci-0", index=0, region="",
                  image=ImageInfo("img"), username="u", public_key=None, password="pw")
    assert text == "Noneu:None"  # the strategy got None and answered for it
    assert echo.seen[0][0].cloud == "prod" and echo.seen[0][1].password == "pw"
