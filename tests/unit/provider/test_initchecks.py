"""Init's checks (provider/initchecks.py): the boot strategy is loaded and the operator's user_data
checked (problems named by the key the operator wrote); a cloud that cannot be reached is fatal with
the key to fix (a real ``Cloud.connect`` to a clouds.yaml that cannot be read or lacks the cloud).

What follows authentication (resource resolution, the login user, static credentials, the state
directory for ``keys`` = open / check / skip) runs through ``run``'s ``connect`` seam on FakeCloud
(``support.fakecloud.connect_to``), which also records that ``run`` authenticates with the config's
own values (what Init and ``validate --check-cloud``, which pass no ``connect``, hand ``Cloud.connect``)."""

from __future__ import annotations

import stat

from support.fakecloud import FLAVOR, IMAGE, NETWORK, FakeCloud, connect_to, plugin_config

from fleeting_openstack.config import load_plugin_config
from fleeting_openstack.contract.instancegroup import ConnectorConfig
from fleeting_openstack.openstack.client import CloudError, Image, Keypair, Port
from fleeting_openstack.provider import initchecks, metrics
from fleeting_openstack.provider.keys import MASTER_FILE, KeyStore

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


# -- after authentication: through run's connect seam, on FakeCloud ------------------------------------------

UBUNTU = Image(IMAGE, "ubuntu-24.04", {"os_distro": "ubuntu"})


def cloud(*images: Image) -> FakeCloud:
    return FakeCloud(images=images or (UBUNTU,), flavors={"small": FLAVOR}, networks={NETWORK: "workers"})


def checked(tmp_path, fake: FakeCloud, connector: ConnectorConfig | None = None, *, keys: str = "check",
            connections: list | None = None, env: dict[str, str] | None = None,
            **settings: object) -> tuple[initchecks.InitChecks, list[str]]:
    doc = {"cloud": "x", "clouds_config": str(tmp_path / "clouds.yaml"),
           **plugin_config(state_dir=str(tmp_path / "state")), **settings}
    cfg = load_plugin_config(doc, env=env or {}).config
    said: list[str] = []
    out = initchecks.run(cfg, connector or ConnectorConfig(), keys=keys, say=said.append,
                         connect=connect_to(fake, connections))
    return out, said


def test_run_authenticates_with_the_configs_own_values_and_hands_the_cloud_on(tmp_path):
    fake, connections = cloud(), []
    out, said = checked(tmp_path, fake, connections=connections, api_timeout="7s", api_connect_timeout="3s",
                        retry_budget="11s", nova_microversion="2.79")
    [made] = connections
    assert (made.cloud, made.clouds_config, made.microversion) == ("x", str(tmp_path / "clouds.yaml"), "2.79")
    assert (made.timeout, made.connect_timeout) == (7.0, 3.0)
    assert made.retry is not None and made.retry.budget == 11.0 and made.recorder is metrics
    assert out.fatal is None and out.problems == [] and out.cloud is fake
    assert said == ["loading boot strategy cloud-init", "authenticating to cloud x",
                    "resolving the image, flavor, networks, security groups, keypair, server group",
                    f"checking the state directory {tmp_path / 'state'}"]
    assert dict(out.summary) == {
        "cloud": "x: authenticated, Nova offers microversion 2.79",
        "server_spec.image": f"image 'ubuntu-24.04' ({IMAGE})",
        "server_spec.flavor": f"flavor '{FLAVOR}' ({FLAVOR})",
        "server_spec.networks[0].uuid": f"network {NETWORK}",
        "connector_config.username": "login user 'ubuntu' (strategy cloud-init for this image)",
        "credentials.state_dir": f"{tmp_path / 'state'}: usable for key material",
        "suspend_mode": "suspend_mode 'stop': Nova's os-stop and the wake action; the cloud's policy cannot be "
                        "read without acting (rules os_compute_api:servers:stop, os_compute_api:servers:start, "
                        "os_compute_api:server-metadata:create, os_compute_api:server-metadata:delete): the first "
                        "Suspend shows a refusal as HTTP 403 naming the rule",
    }
    assert out.warnings == []  # nothing suspend_mode "stop" cannot do with this image
    resolved = out.resolved
    assert resolved is not None and resolved.image == UBUNTU and resolved.image_ref == IMAGE
    assert (resolved.flavor_ref, resolved.username) == (FLAVOR, "ubuntu")


def test_auth_from_env_connects_without_a_clouds_yaml_entry(tmp_path):
    connections: list = []
    out, said = checked(tmp_path, cloud(), connections=connections, auth_from_env=True)
    assert [(c.cloud, c.clouds_config) for c in connections] == [(None, None)]
    assert out.fatal is None and out.cloud is not None


def test_a_cloud_that_cannot_be_reached_is_fatal_with_the_key_its_error_names(tmp_path):
    error = CloudError("cannot read clouds.yaml", key="clouds_config")
    cfg = load_plugin_config({"cloud": "x", **plugin_config(state_dir=str(tmp_path / "state"))}, env={}).config
    out = initchecks.run(cfg, ConnectorConfig(), keys="open", connect=connect_to(cloud(), error=error))
    assert (out.fatal, out.fatal_key) == ("cannot read clouds.yaml", "clouds_config")
    assert out.cloud is None and out.resolved is None and out.keys is None
    assert not (tmp_path / "state").exists()  # nothing after a failed authentication


def test_every_reference_not_found_is_a_problem_named_by_its_key(tmp_path):
    spec = {"name": "g-%d", "imageRef": "99999999-9999-4999-8999-999999999999", "flavorRef": "nope",
            "networks": [{"uuid": "44444444-4444-4444-8444-444444444444"},
                         {"port": "55555555-5555-4555-8555-555555555555"}],
            "security_groups": [{"name": "web"}], "key_name": "k",
            "scheduler_hints": {"group": "66666666-6666-4666-8666-666666666666"}}
    out, _ = checked(tmp_path, cloud(), server_spec=spec,
                     address={"internal_network": "inside", "external_network": "outside"})
    assert out.fatal is None
    assert [p.split(": ", 1)[0] for p in out.problems] == [
        "server_spec.imageRef", "server_spec.flavorRef", "server_spec.networks[0].uuid", "server_spec.networks[1].port",
        "server_spec.security_groups[0]", "server_spec.key_name", "server_spec.scheduler_hints.group",
        "address.internal_network", "address.external_network", "no login user"]
    assert out.problems[-1].startswith("no login user: set connector_config.username")
    # nothing resolved is summarised (suspend_mode's policy note is not a resolution)
    assert [k for k, _ in out.summary] == ["cloud", "credentials.state_dir", "suspend_mode"]
    resolved = out.resolved
    assert resolved is not None and resolved.image is None and resolved.flavor_ref == "" and resolved.username == ""


def test_found_references_are_summarised_with_what_they_resolved_to(tmp_path):
    fake = cloud()
    fake.security_groups, fake.server_groups = {"web"}, {"66666666-6666-4666-8666-666666666666"}
    fake.keypair_list, fake.ports = [Keypair("k")], [Port("55555555-5555-4555-8555-555555555555", "", "", "")]
    spec = {"name": "g-%d", "image_name": "ubuntu-24.04", "flavor_name": "small",
            "networks": [{"uuid": NETWORK}, {"port": "55555555-5555-4555-8555-555555555555"}],
            "security_groups": [{"name": "web"}], "key_name": "k",
            "scheduler_hints": {"group": "66666666-6666-4666-8666-666666666666"}}
    out, _ = checked(tmp_path, fake, server_spec=spec, address={"internal_network": "workers"})
    assert out.problems == []
    said = dict(out.summary)
    assert said["server_spec.flavor"] == f"flavor 'small' ({FLAVOR})"
    assert said["server_spec.networks[1].port"] == "port 55555555-5555-4555-8555-555555555555"
    assert said["server_spec.security_groups[0]"] == "security group 'web'"
    assert said["server_spec.key_name"] == "keypair 'k'"
    assert said["server_spec.scheduler_hints.group"] == "server group 66666666-6666-4666-8666-666666666666"
    assert said["address.internal_network"] == "network 'workers'"
    assert out.resolved is not None and out.resolved.internal_network == "workers"
    assert out.resolved.image_ref == IMAGE and out.resolved.flavor_ref == FLAVOR


def test_the_login_user_is_the_runners_then_the_strategys_for_the_image(tmp_path):
    out, _ = checked(tmp_path, cloud(), ConnectorConfig(username="admin"))
    assert dict(out.summary)["connector_config.username"] == "login user 'admin' (connector_config.username)"
    assert out.resolved is not None and out.resolved.username == "admin"

    admin_user = Image(IMAGE, "custom", {"os_admin_user": "core"})
    out, _ = checked(tmp_path, cloud(admin_user))
    assert dict(out.summary)["connector_config.username"] == "login user 'core' (strategy cloud-init for this image)"


def test_no_login_user_is_a_problem_only_for_ssh(tmp_path):
    bare = Image(IMAGE, "bare")
    out, _ = checked(tmp_path, cloud(bare))
    assert [p for p in out.problems if p.startswith("no login user")] != []
    out, _ = checked(tmp_path, cloud(bare), ConnectorConfig(protocol="ssh"))
    assert [p for p in out.problems if p.startswith("no login user")] != []
    out, _ = checked(tmp_path, cloud(bare), ConnectorConfig(protocol="winrm"))
    assert out.problems == [] and "connector_config.username" not in dict(out.summary)
    assert out.resolved is not None and out.resolved.username == ""


def test_static_credentials_need_a_key_or_a_password_and_leave_the_state_dir_alone(tmp_path):
    out, _ = checked(tmp_path, cloud(), ConnectorConfig(use_static_credentials=True), keys="open")
    assert out.problems == ["use_static_credentials = true needs connector_config.key_path "
                            "(the private key of server_spec.key_name) or password"]
    for connector in (ConnectorConfig(use_static_credentials=True, password="pw"),
                      ConnectorConfig(use_static_credentials=True, key=b"-----BEGIN OPENSSH PRIVATE KEY-----")):
        out, said = checked(tmp_path, cloud(), connector, keys="open")
        assert out.problems == [] and out.keys is None
        assert "credentials.state_dir" not in dict(out.summary) and not any("state directory" in s for s in said)
    assert not (tmp_path / "state").exists()


def test_a_strategy_that_injects_no_credentials_needs_static_ones(tmp_path):
    out, _ = checked(tmp_path, cloud(), ConnectorConfig(username="admin"), strategy="custom", keys="open")
    assert out.problems == ["strategy 'custom' injects no credentials: set "
                            "connector_config.use_static_credentials = true with key_path or password"]
    assert out.keys is None and not (tmp_path / "state").exists()
    static = ConnectorConfig(username="admin", use_static_credentials=True, password="pw")
    out, _ = checked(tmp_path, cloud(), static, strategy="custom")
    assert out.problems == []


def test_keys_open_creates_the_state_dir_and_its_master_secret(tmp_path):
    out, _ = checked(tmp_path, cloud(), keys="open")
    state = tmp_path / "state"
    assert out.problems == [] and isinstance(out.keys, KeyStore) and out.keys.state_dir == state
    assert stat.S_IMODE(state.stat().st_mode) == 0o700 and (state / MASTER_FILE).is_file()
    assert dict(out.summary)["credentials.state_dir"] == f"{state}: usable for key material"


def test_keys_check_refuses_what_open_would_and_creates_nothing(tmp_path):
    out, _ = checked(tmp_path, cloud(), keys="check")
    assert out.problems == [] and out.keys is None and not (tmp_path / "state").exists()
    assert "credentials.state_dir" in dict(out.summary)

    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state").chmod(0o777)
    for keys in ("check", "open"):
        out, _ = checked(tmp_path, cloud(), keys=keys)
        assert out.keys is None and "credentials.state_dir" not in dict(out.summary)
        assert [p.split(": ", 1)[0] for p in out.problems] == ["credentials.state_dir"]
        assert "lets group/others write here" in out.problems[0]
    assert not (tmp_path / "state" / MASTER_FILE).exists()


def test_keys_skip_touches_no_key_material_even_in_an_unsafe_dir(tmp_path):
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state").chmod(0o777)
    out, said = checked(tmp_path, cloud(), keys="skip")
    assert out.problems == [] and out.keys is None and "credentials.state_dir" not in dict(out.summary)
    assert said[-1] == f"checking the state directory {tmp_path / 'state'}"
    assert list((tmp_path / "state").iterdir()) == []
