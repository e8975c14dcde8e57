"""Init's checks (provider/initchecks.py) as far as they go without a cloud: the boot strategy
is loaded and the operator's user_data checked (problems named by the key the operator wrote),
and a cloud that cannot be reached is fatal with the key to fix.

What follows authentication (resource resolution, the login user, the credentials and the
state directory) needs a Keystone: ``run`` connects with ``Cloud.connect`` itself and takes
no cloud, so those checks are covered by the devcloud tier (and, for the provider, by the
``checks=`` seam of OpenStackProvider that the other unit tests use)."""

from __future__ import annotations

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.contract.instancegroup import ConnectorConfig
from fleeting_openstack.provider import initchecks

SPEC = {"name": "g-%d", "imageRef": "11111111-1111-4111-8111-111111111111", "flavorRef": "f", "networks": "none"}
BROKEN_CLOUD_CONFIG = "#cloud-config\nruncmd: [\n"


def run(tmp_path, **settings: object) -> tuple[initchecks.InitChecks, list[str]]:
    settings.setdefault("clouds_config", str(tmp_path / "missing" / "clouds.yaml"))
    cfg = load_plugin_config({"name": "g", "cloud": "x", "server_spec": SPEC, **settings}).config
    said: list[str] = []
    return initchecks.run(cfg, ConnectorConfig(), say=said.append), said


def test_an_unknown_strategy_is_fatal_before_anything_else(tmp_path):
    out, said = run(tmp_path, strategy="nope")
    assert (
        out.fatal_key == "strategy" and out.fatal is not None and out.fatal.startswith("unknown boot strategy 'nope'")
    )
    assert "cloud-init" in out.fatal  # the installed ones are named
    assert said == ["loading boot strategy nope"] and out.cloud is None and out.problems == []


def test_a_clouds_yaml_that_cannot_be_read_is_fatal_with_its_key(tmp_path):
    out, said = run(tmp_path)
    assert out.fatal_key == "clouds_config" and out.fatal is not None and "cannot read" in out.fatal
    assert out.strategy is not None and out.strategy.name == "cloud-init"  # loaded before authenticating
    assert said == ["loading boot strategy cloud-init", "authenticating to cloud x"]
    assert out.cloud is None and out.resolved is None and out.keys is None


def test_a_cloud_clouds_yaml_does_not_define_is_fatal(tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  other:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n")
    out, _ = run(tmp_path, clouds_config=str(clouds))
    assert out.fatal_key == "cloud" and out.fatal is not None
    assert "'x' is not defined" in out.fatal and "other" in out.fatal


def test_user_data_problems_are_named_by_the_key_the_operator_wrote(tmp_path):
    out, _ = run(tmp_path, server_spec={**SPEC, "user_data": BROKEN_CLOUD_CONFIG})
    assert [p.split(": ", 1)[0] for p in out.problems] == ["server_spec.user_data"]
    assert "invalid YAML" in out.problems[0]
    user_data = tmp_path / "user-data.yaml"
    user_data.write_text(BROKEN_CLOUD_CONFIG)
    out, _ = run(tmp_path, user_data_file=str(user_data))
    assert [p.split(": ", 1)[0] for p in out.problems] == ["user_data_file"]
    assert out.fatal_key == "clouds_config"  # the problems found so far are kept beside the fatal one


def test_strategy_option_problems_are_named_by_the_option(tmp_path):
    out, _ = run(tmp_path, strategy_options={"bogus": 1})
    assert out.problems == [
        "strategy_options.bogus: option 'bogus' is not known to strategy 'cloud-init' (known: key_type)"
    ]


def test_a_good_user_data_is_no_problem(tmp_path):
    out, _ = run(tmp_path, server_spec={**SPEC, "user_data": "#cloud-config\nruncmd: [echo hi]\n"})
    assert out.problems == [] and out.fatal_key == "clouds_config"
