"""Tests of fleeting_openstack.config: loading, normalising and validating plugin_config."""
from __future__ import annotations

import base64
import copy
import dataclasses
import json
import tomllib
import types

import pytest

from fleeting_openstack import config as cfgmod
from fleeting_openstack.config import (
    DEPRECATIONS,
    ConfigError,
    ConfigIssue,
    PluginConfig,
    join_path,
    load_plugin_config,
    parse_duration,
    parse_microversion,
    schema,
)
from fleeting_openstack.userdata_limit import encode_user_data
from project import EXAMPLES

IMAGE = "d5460af5-83f3-47d7-9c4f-80294c66b267"
FLAVOR = "4e9d4fa4-a703-4850-8bc1-58b5e139ab57"
NET = "f05e7f64-9e0f-4c5c-acb0-b636000d7301"
SECGROUP = "cee22d91-bb9a-455d-be88-e911d3cb066a"
GROUP = "a9c941cb-5b34-46e0-8fc6-7471e3b77c75"
OTHER = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def seed_plugin_config() -> dict:
    """[runners.autoscaler.plugin_config] of the seed README's example, parsed from examples/config.toml."""
    with open(EXAMPLES / "config.toml", "rb") as f:
        return tomllib.load(f)["runners"][0]["autoscaler"]["plugin_config"]


def minimal() -> dict:
    return {
        "name": "group",
        "server_spec": {
            "name": "runner-%d",
            "imageRef": IMAGE,
            "flavorRef": FLAVOR,
            "networks": [{"uuid": NET}],
        },
    }


def load(doc, env=None):
    return load_plugin_config(doc, env={} if env is None else env)


def errors_of(doc, env=None) -> dict[str, str]:
    with pytest.raises(ConfigError) as excinfo:
        load(doc, env)
    out: dict[str, str] = {}
    for e in excinfo.value.errors:
        out[e.path] = f"{out[e.path]} | {e.message}" if e.path in out else e.message
    return out


# --------------------------------------------------------------------------
# The seed example and every seed key
# --------------------------------------------------------------------------

def test_seed_example_loads_without_errors_or_warnings():
    loaded = load(seed_plugin_config())
    c = loaded.config
    assert loaded.warnings == []
    assert c.cloud == "runner"
    assert c.clouds_config is None  # the example leaves it to openstacksdk's search path
    assert c.name == "scaling-runner-stack-id"
    assert c.nova_microversion == "2.79"
    assert c.nova_microversion_tuple == (2, 79)
    assert c.boot_time == 600.0
    assert c.use_ignition is True
    assert c.strategy == "ignition"
    assert c.auth_from_env is False
    assert c.provider_id == "openstack/runner/scaling-runner-stack-id"
    s = c.server_spec
    assert s.name_template == "scaling-runner-%d"
    assert s.render_name(7) == "scaling-runner-7"
    assert s.description == "GitLab CI Docker runners with autoscaling"
    assert s.tags == ["GitLab", "CI", "Docker", "Scaling"]
    assert s.image_ref == IMAGE
    assert s.flavor_ref == FLAVOR
    assert s.networks == [{"uuid": NET}]
    assert s.network_ids == [NET]
    assert s.security_groups == [SECGROUP]
    assert s.body["security_groups"] == [{"name": SECGROUP}]
    assert s.scheduler_hints == {"group": GROUP}
    assert s.user_data is None


def test_json_example_is_equivalent_to_the_toml_example():
    from_json = load((EXAMPLES / "plugin_config.json").read_bytes())
    from_toml = load(seed_plugin_config())
    assert from_json.warnings == []
    assert from_json.config.to_dict() == from_toml.config.to_dict()


@pytest.mark.parametrize("kind", ["bytes", "str", "dict"])
def test_input_forms(kind):
    doc = minimal()
    raw = {"bytes": json.dumps(doc).encode(), "str": json.dumps(doc), "dict": doc}[kind]
    c = load(raw).config
    assert c.name == "group"
    assert c.server_spec.image_ref == IMAGE


def test_input_dict_is_not_modified():
    doc = minimal()
    doc["server_spec"]["security_groups"] = ["default"]
    doc["server_spec"]["networks"][0] = {"uuid": NET, "fixedip": "10.0.0.5"}
    before = copy.deepcopy(doc)
    load(doc)
    assert doc == before


def test_auth_from_env_and_empty_cloud():
    c = load({**minimal(), "auth_from_env": True, "cloud": ""}).config
    assert c.auth_from_env is True
    assert c.cloud is None
    assert c.provider_id == "openstack/group"


def test_auth_from_env_with_cloud_warns():
    loaded = load({**minimal(), "auth_from_env": True, "cloud": "x"})
    assert any(w.startswith("cloud: is ignored") for w in loaded.warnings)


def test_configured_microversion_is_honoured():
    # The Go plugin silently replaced it by 2.79 (defect 1).
    assert load({**minimal(), "nova_microversion": "2.72"}).config.nova_microversion == "2.72"


def test_use_ignition_false_selects_cloud_init():
    c = load({**minimal(), "use_ignition": False}).config
    assert (c.use_ignition, c.strategy) == (False, "cloud-init")


def test_strategy_overrides_use_ignition_with_warning():
    loaded = load({**minimal(), "use_ignition": True, "strategy": "my-strategy", "strategy_options": {"a": [1]}})
    assert loaded.config.strategy == "my-strategy"
    assert dict(loaded.config.strategy_options) == {"a": [1]}
    assert any(w.startswith("use_ignition: is ignored") for w in loaded.warnings)


def test_defaults():
    c = load(minimal(), env={"HOME": "/home/gl"}).config
    assert c.cloud is None and c.clouds_config is None
    assert c.nova_microversion == "2.79"
    assert c.boot_time is None
    assert c.use_ignition is False
    assert c.strategy == "cloud-init"
    assert c.build_timeout == 1800.0
    assert c.max_size == 1000
    assert c.log_level is None
    assert c.readiness == cfgmod.ReadinessConfig(100, "running", "none", 22, 3.0)
    assert c.credentials == cfgmod.CredentialsConfig("/home/gl/.local/state/fleeting-plugin-openstack", "auto")
    assert c.address == cfgmod.AddressConfig(None, None, 4)


def test_dataclass_defaults_match_schema_defaults():
    s = schema()
    props = s["properties"]
    assert props["nova_microversion"]["default"] == PluginConfig.__dataclass_fields__["nova_microversion"].default
    assert parse_duration(props["build_timeout"]["default"]) == PluginConfig.__dataclass_fields__["build_timeout"].default
    assert props["max_size"]["default"] == PluginConfig.__dataclass_fields__["max_size"].default
    r = props["readiness"]["properties"]
    d = cfgmod.ReadinessConfig()
    assert r["console_lines"]["default"] == d.console_lines
    assert r["on_boot_timeout"]["default"] == d.on_boot_timeout
    assert r["probe"]["default"] == d.probe
    assert r["probe_port"]["default"] == d.probe_port
    assert parse_duration(r["probe_timeout"]["default"]) == d.probe_timeout
    assert props["credentials"]["properties"]["key_type"]["default"] == "auto"
    assert props["address"]["properties"]["ip_version"]["default"] == cfgmod.AddressConfig().ip_version


#: Where the schema's default and the dataclass's differ on purpose.
DEFAULTS_THAT_DIFFER = {
    # The dataclass leaves it unset (None): clouds.yaml's api_timeout applies, else 60 s (the schema's default).
    "api_timeout",
    # The dataclass says "cloud-init"; the schema has no default: use_ignition = true selects "ignition".
    "strategy",
}


def _schema_defaults_as_config_values() -> dict[str, object]:
    """Every ``default`` of the schema's top-level and section properties, as the typed config holds it."""
    s = schema()
    out: dict[str, object] = {}
    for key, prop in s["properties"].items():
        sub = prop.get("properties") if prop.get("type") == "object" else None
        if sub and key in ("readiness", "credentials", "address"):
            for name, p in sub.items():
                if "default" in p:
                    out[f"{key}.{name}"] = p["default"]
        elif key == "metrics":
            if "default" in prop.get("properties", {}).get("listen", {}):
                out["metrics_listen"] = prop["properties"]["listen"]["default"]
        elif "default" in prop:
            out[key] = prop["default"]
    return out


def _dataclass_defaults() -> dict[str, object]:
    """Every field default of the typed config (nested sections as ``section.field``)."""
    out: dict[str, object] = {}
    for f in dataclasses.fields(PluginConfig):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING and f.name in ("readiness", "credentials", "address"):
            for sub in dataclasses.fields(getattr(cfgmod, type(f.default_factory()).__name__)):
                if sub.default is not dataclasses.MISSING:
                    out[f"{f.name}.{sub.name}"] = sub.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _as_config_value(key: str, value: object) -> object:
    """A schema default as the dataclass holds it: durations in seconds, lists as tuples, {} as a mapping."""
    duration_keys = {"build_timeout", "resync_interval", "image_refresh", "api_timeout", "api_connect_timeout", "retry_budget",
                     "stale_states_limit", "create_backoff", "boot_time", "readiness.probe_timeout"}
    if key in duration_keys and isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def test_every_schema_default_is_the_dataclass_default():
    from_schema = _schema_defaults_as_config_values()
    from_dataclasses = _dataclass_defaults()
    assert len(from_schema) >= 20  # the scan found the schema's defaults
    for key, value in from_schema.items():
        if key in DEFAULTS_THAT_DIFFER or isinstance(value, dict) and key not in from_dataclasses:
            continue
        assert key in from_dataclasses, f"the schema has a default for {key}, the dataclasses have none"
        expected = from_dataclasses[key]
        got = _as_config_value(key, value)
        if isinstance(expected, types.MappingProxyType):
            expected = dict(expected)
        assert got == expected, f"{key}: schema default {value!r}, dataclass default {expected!r}"


def test_every_dataclass_default_is_the_schema_default():
    from_schema = _schema_defaults_as_config_values()
    for key, value in _dataclass_defaults().items():
        if value is None or key in DEFAULTS_THAT_DIFFER or key in ("readiness", "credentials", "address"):
            continue  # None: unset, the schema has no default either
        assert key in from_schema, f"the dataclasses have a default for {key} ({value!r}), the schema has none"
        got = from_schema[key]
        expected = dict(value) if isinstance(value, types.MappingProxyType) else value
        assert _as_config_value(key, got) == expected, key


def test_the_documented_exceptions_really_differ():
    """DEFAULTS_THAT_DIFFER lists only real differences (a fixed one must leave the list)."""
    from_schema = _schema_defaults_as_config_values()
    from_dataclasses = _dataclass_defaults()
    for key in DEFAULTS_THAT_DIFFER:
        assert _as_config_value(key, from_schema.get(key)) != from_dataclasses.get(key), key


def test_new_sections_are_parsed():
    doc = {
        **minimal(),
        "build_timeout": "45m",
        "max_size": 20,
        "log_level": "debug",
        "readiness": {"console_lines": 300, "on_boot_timeout": "delete", "probe": "ssh-banner",
                      "probe_port": 2222, "probe_timeout": "1500ms"},
        "credentials": {"state_dir": "/var/lib/fpo", "key_type": "rsa"},
        "address": {"internal_network": "workers", "external_network": "public", "ip_version": 6},
    }
    c = load(doc).config
    assert c.build_timeout == 2700.0
    assert c.max_size == 20
    assert c.log_level == "debug"
    assert c.readiness == cfgmod.ReadinessConfig(300, "delete", "ssh-banner", 2222, 1.5)
    assert c.credentials == cfgmod.CredentialsConfig("/var/lib/fpo", "rsa")
    assert c.address == cfgmod.AddressConfig("workers", "public", 6)


def test_config_is_frozen():
    c = load(minimal()).config
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        c.server_spec.body["name"] = "x"  # type: ignore[index]


# --------------------------------------------------------------------------
# Errors: paths, messages, all at once
# --------------------------------------------------------------------------

def _set(doc: dict, dotted: str, value):
    node = doc
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    last = int(parts[-1]) if isinstance(node, list) else parts[-1]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

ERROR_CASES = [
    # (dotted key to set, value, expected path, substring of the message)
    ("name", _DELETE, "name", "is required"),
    ("name", "", "name", "1 to 63 characters"),
    ("name", "a/b", "name", "Nova tag"),
    ("name", "x" * 64, "name", "1 to 63"),
    ("server_spec", _DELETE, "server_spec", "is required"),
    ("server_spec.name", _DELETE, "server_spec.name", "is required"),
    ("server_spec.name", "", "server_spec.name", "must not be empty"),
    ("server_spec.name", "a-%s-%d", "server_spec.name", "only as a single %d"),
    ("server_spec.name", "a-%d-%d", "server_spec.name", "only as a single %d"),
    ("server_spec.name", "100%-%d", "server_spec.name", "only as a single %d"),
    ("server_spec.name", " padded-%d", "server_spec.name", "whitespace"),
    ("cloud", 5, "cloud", "must be a string, got integer"),
    ("auth_from_env", "yes", "auth_from_env", "must be a boolean"),
    ("use_ignition", "maybe", "use_ignition", "must be a boolean"),
    ("nova_microversion", "2.latest", "nova_microversion", "microversion"),
    ("nova_microversion", 2.79, "nova_microversion", "must be a string"),
    ("nova_microversion", "2.0", "nova_microversion", "2.1 or later"),
    ("boot_time", "10", "boot_time", "duration"),
    ("boot_time", "-5m", "boot_time", "duration"),
    ("boot_time", 600, "boot_time", "must be a string"),
    ("build_timeout", "0s", "build_timeout", "greater than zero"),
    ("max_size", 0, "max_size", "at least 1"),
    ("max_size", 10001, "max_size", "at most 10000"),
    ("log_level", "verbose", "log_level", "must be one of"),
    ("strategy", "", "strategy", "must not be empty"),
    ("strategy_options", [], "strategy_options", "must be an object"),
    ("readiness.console_lines", 0, "readiness.console_lines", "at least 1"),
    ("readiness.on_boot_timeout", "kill", "readiness.on_boot_timeout", "must be one of"),
    ("readiness.probe", "ssh", "readiness.probe", "did you mean 'ssh-banner'"),
    ("readiness.probe_port", 70000, "readiness.probe_port", "at most 65535"),
    ("readiness.probe_timeout", "3 s", "readiness.probe_timeout", "duration"),
    ("credentials.key_type", "dsa", "credentials.key_type", "must be one of"),
    ("address.ip_version", 5, "address.ip_version", "must be one of"),
    ("server_spec.imageRef", "not-a-uuid", "server_spec.imageRef", "image UUID"),
    ("server_spec.imageRef", "", "server_spec.imageRef", "boots from a"),
    ("server_spec.flavorRef", "", "server_spec.flavorRef", "must not be empty"),
    ("server_spec.flavorRef", [], "server_spec.flavorRef", "must be a string or an integer"),
    ("server_spec.networks", "some", "server_spec.networks", '"auto", "none" or a list'),
    ("server_spec.networks", 5, "server_spec.networks", "must be a list or a string"),
    ("server_spec.networks", _DELETE, "server_spec.networks", "required by Nova from microversion 2.37"),
    ("server_spec.networks.0.uuid", "net-name", "server_spec.networks[0].uuid", "must be a UUID"),
    ("server_spec.networks.0.port", "bad", "server_spec.networks[0].port", "must be a UUID"),
    ("server_spec.networks.0.fixed_ip", "10.0.0.300", "server_spec.networks[0].fixed_ip", "IPv4 or IPv6"),
    ("server_spec.networks.0.tag", "a,b", "server_spec.networks[0].tag", "'/' or ','"),
    ("server_spec.networks.0", {"tag": "x"}, "server_spec.networks[0]", "needs uuid"),
    ("server_spec.networks.0", {"port": OTHER, "fixed_ip": "10.0.0.1"}, "server_spec.networks[0].fixed_ip",
     "cannot be combined with port"),
    ("server_spec.security_groups", [7], "server_spec.security_groups[0]", "must be a string or an object"),
    ("server_spec.security_groups", [{"name": ""}], "server_spec.security_groups[0].name", "must not be empty"),
    ("server_spec.scheduler_hints", {"group": "grp"}, "server_spec.scheduler_hints.group", "must be a UUID"),
    ("server_spec.scheduler_hints", {"same_host": ["x"]}, "server_spec.scheduler_hints.same_host[0]", "UUID"),
    ("server_spec.scheduler_hints", {"different_host": "x"}, "server_spec.scheduler_hints.different_host",
     "UUID"),
    ("server_spec.scheduler_hints", {"query": "[>="}, "server_spec.scheduler_hints.query", "JSON"),
    ("server_spec.scheduler_hints", {"cidr": "24"}, "server_spec.scheduler_hints.cidr", '"/24"'),
    ("server_spec.scheduler_hints", {"build_near_host_ip": "host"},
     "server_spec.scheduler_hints.build_near_host_ip", "IPv4 or IPv6"),
    ("server_spec.scheduler_hints", {"diferent_host": [OTHER]}, "server_spec.scheduler_hints.diferent_host",
     "did you mean 'different_host'"),
    ("server_spec.tags", ["ok", "a/b"], "server_spec.tags[1]", "'/' or ','"),
    ("server_spec.tags", ["x" * 61], "server_spec.tags[0]", "at most 60"),
    ("server_spec.tags", [f"t{i}" for i in range(51)], "server_spec.tags", "at most 50 items"),
    ("server_spec.tags", [f"t{i}" for i in range(50)], "server_spec.tags", "adds the group"),
    ("server_spec.metadata", {"k": 1}, "server_spec.metadata.k", "must be a string"),
    ("server_spec.metadata", {"k": "v" * 256}, "server_spec.metadata.k", "at most 255"),
    ("server_spec.metadata", {"bad/key": "v"}, 'server_spec.metadata["bad/key"]', "metadata keys"),
    ("server_spec.metadata", {"fleeting-cluster": "v"}, "server_spec.metadata.fleeting-cluster", "reserved"),
    ("server_spec.description", "d" * 256, "server_spec.description", "at most 255"),
    ("server_spec.config_drive", "true", "server_spec.config_drive", "must be a boolean"),
    ("server_spec.accessIPv4", "::1", "server_spec.accessIPv4", "IPv4"),
    ("server_spec.accessIPv6", "1.2.3.4", "server_spec.accessIPv6", "IPv6"),
    ("server_spec.OS-DCF:diskConfig", "auto", "server_spec.OS-DCF:diskConfig", "did you mean 'AUTO'"),
    ("server_spec.min_count", 0, "server_spec.min_count", "at least 1"),
    ("server_spec.max_count", 3, "server_spec.max_count", "must be 1"),
    ("server_spec.hostname", "under score ok?", "server_spec.hostname", "only letters"),
    ("server_spec.key_name", "", "server_spec.key_name", "must not be empty"),
    ("server_spec.user_data", 5, "server_spec.user_data", "must be a string"),
    ("server_spec.block_device_mapping_v2", [], "server_spec.block_device_mapping_v2", "empty list"),
    ("server_spec.block_device_mapping_v2", [{"uuid": IMAGE}], "server_spec.block_device_mapping_v2[0].source_type",
     "is required"),
    ("server_spec.block_device_mapping_v2", [{"source_type": "iso"}],
     "server_spec.block_device_mapping_v2[0].source_type", "must be one of"),
    ("server_spec.block_device_mapping_v2", [{"source_type": "volume"}],
     "server_spec.block_device_mapping_v2[0].uuid", "is required"),
    ("server_spec.block_device_mapping_v2", [{"source_type": "blank", "destination_type": "volume"}],
     "server_spec.block_device_mapping_v2[0].volume_size", "is required"),
    ("server_spec.block_device_mapping_v2", [{"source_type": "blank", "volume_size": 0}],
     "server_spec.block_device_mapping_v2[0].volume_size", "at least 1"),
    ("server_spec.block_device_mapping_v2", [{"source_type": "blank", "boot_index": "first"}],
     "server_spec.block_device_mapping_v2[0].boot_index", "must be an integer"),
    ("server_spec.block_device_mapping_v2", [{"source_type": "blank", "size": 5}],
     "server_spec.block_device_mapping_v2[0].size", "unknown key"),
]


@pytest.mark.parametrize("dotted,value,path,fragment", ERROR_CASES,
                         ids=[f"{c[0]}={c[1]!r}"[:60] for c in ERROR_CASES])
def test_error_is_reported_at_its_path(dotted, value, path, fragment):
    doc = minimal()
    _set(doc, dotted, value)
    errors = errors_of(doc)
    assert path in errors, f"expected an error at {path}, got {errors}"
    assert fragment in errors[path]


def test_all_errors_are_reported_at_once():
    doc = minimal()
    doc["name"] = ""
    doc["boot_time"] = "10 minutes"
    doc["flavour"] = "x"
    doc["server_spec"]["imageRef"] = "bad"
    doc["server_spec"]["networks"] = [{"uuid": "bad"}, {"uuid": NET, "fixed_ip": "nope"}]
    doc["server_spec"]["tags"] = ["a,b"]
    doc["server_spec"]["user_data"] = "#cloud-config\n" + "x" * 70000
    with pytest.raises(ConfigError) as excinfo:
        load(doc)
    paths = [e.path for e in excinfo.value.errors]
    assert sorted(paths) == sorted([
        "name", "boot_time", "flavour", "server_spec.imageRef", "server_spec.networks[0].uuid",
        "server_spec.networks[1].fixed_ip", "server_spec.tags[0]", "server_spec.user_data",
    ])
    text = str(excinfo.value)
    assert len(text.splitlines()) == len(paths)
    assert "server_spec.networks[0].uuid: must be a UUID" in text
    assert isinstance(excinfo.value, ValueError)
    assert all(isinstance(e, ConfigIssue) and e.severity == "error" for e in excinfo.value.errors)


def test_errors_carry_the_warnings_found():
    doc = minimal()
    doc["server_spec"]["networks"][0]["fixedip"] = "10.0.0.4"
    doc["server_spec"]["imageRef"] = "bad"
    doc["max_size"] = 1
    with pytest.raises(ConfigError) as excinfo:
        load(doc)
    assert [w.path for w in excinfo.value.warnings] == ["server_spec.networks[0].fixedip"]


@pytest.mark.parametrize("raw,fragment", [
    (b'{"name": ', "not valid JSON"),
    ("[1, 2]", "must be an object"),
    (b"\xff\xfe", "not valid UTF-8"),
])
def test_unparsable_input(raw, fragment):
    with pytest.raises(ConfigError) as excinfo:
        load(raw)
    assert len(excinfo.value.errors) == 1
    assert excinfo.value.errors[0].path == ""
    assert fragment in str(excinfo.value)


def test_empty_input_reports_required_keys():
    assert set(errors_of(b"")) == {"name", "server_spec"}


# --------------------------------------------------------------------------
# Unknown keys
# --------------------------------------------------------------------------

@pytest.mark.parametrize("where,key,fragment", [
    ("server_spec", "flavour_name", "did you mean 'flavor_name'?"),
    ("server_spec", "image_ref", "did you mean 'imageRef'?"),
    ("server_spec", "security_group", "did you mean 'security_groups'?"),
    ("server_spec", "personality", "removed personality"),
    ("server_spec", "boot_time", "top level of plugin_config"),
    ("", "clouds_conf", "did you mean 'clouds_config'?"),
    ("", "bootTime", "did you mean 'boot_time'?"),
    ("", "username", "[runners.autoscaler.connector_config]"),
    ("", "max_instances", "[runners.autoscaler]"),
    ("", "flavorRef", "belongs inside server_spec"),
    ("readiness", "probe_prot", "did you mean 'probe_port'?"),
])
def test_unknown_key_is_an_error_with_a_suggestion(where, key, fragment):
    doc = minimal()
    target = doc if not where else doc.setdefault(where, {})
    target[key] = "x"
    path = join_path(where, key)
    errors = errors_of(doc)
    assert path in errors
    assert errors[path].startswith(f"unknown key {key!r}")
    assert fragment in errors[path]


def test_unknown_key_in_network_item():
    doc = minimal()
    doc["server_spec"]["networks"][0]["subnet"] = "x"
    errors = errors_of(doc)
    assert list(errors) == ["server_spec.networks[0].subnet"]


def test_custom_scheduler_hint_is_a_warning_not_an_error():
    doc = minimal()
    doc["server_spec"]["scheduler_hints"] = {"my_custom_filter_hint": "abc"}
    loaded = load(doc)
    assert loaded.config.server_spec.scheduler_hints == {"my_custom_filter_hint": "abc"}
    assert loaded.warnings == ["server_spec.scheduler_hints.my_custom_filter_hint: 'my_custom_filter_hint' "
                               "is not a standard Nova scheduler hint; it is passed to the scheduler verbatim "
                               "(for custom filters)"]


# --------------------------------------------------------------------------
# Deprecated spellings
# --------------------------------------------------------------------------

def test_fixedip_is_normalised_to_fixed_ip_with_warning():
    doc = minimal()
    doc["server_spec"]["networks"] = [{"uuid": NET, "fixedip": "10.0.0.5"}]
    loaded = load({**doc, "max_size": 1})
    assert loaded.config.server_spec.networks == [{"uuid": NET, "fixed_ip": "10.0.0.5"}]
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith("server_spec.networks[0].fixedip: 'fixedip' is deprecated: write 'fixed_ip'")


def test_fixed_ip_is_kept():
    # Defect: the Go plugin dropped Nova's own spelling.
    doc = minimal()
    doc["server_spec"]["networks"] = [{"uuid": NET, "fixed_ip": "10.0.0.5"}]
    loaded = load({**doc, "max_size": 1})
    assert loaded.config.server_spec.networks == [{"uuid": NET, "fixed_ip": "10.0.0.5"}]
    assert loaded.warnings == []


def test_fixedip_and_fixed_ip_together_conflict():
    doc = minimal()
    doc["server_spec"]["networks"] = [{"uuid": NET, "fixedip": "10.0.0.5", "fixed_ip": "10.0.0.6"}]
    errors = errors_of(doc)
    assert "conflicts with 'fixed_ip'" in errors["server_spec.networks[0].fixedip"]


def test_snake_case_scheduler_hints_are_kept():
    # Defect: the Go plugin dropped different_host & co.
    doc = minimal()
    hints = {"group": GROUP, "different_host": [OTHER], "same_host": OTHER, "target_cell": "cell1",
             "different_cell": ["cell2"], "build_near_host_ip": "10.0.0.1", "cidr": "/24",
             "query": '[">=", "$free_ram_mb", 1024]'}
    doc["server_spec"]["scheduler_hints"] = hints
    loaded = load(doc)
    assert loaded.warnings == []
    assert loaded.config.server_spec.scheduler_hints == hints


def test_go_plugin_scheduler_hint_spellings_are_normalised():
    doc = minimal()
    doc["server_spec"]["scheduler_hints"] = {
        "differentHost": [OTHER], "sameHost": [GROUP], "buildNearHostIP": "192.168.1.1/24",
        "query": [">=", "$free_ram_mb", 1024], "additionalProperties": {"custom": "1"},
    }
    loaded = load(doc)
    assert loaded.config.server_spec.scheduler_hints == {
        "different_host": [OTHER], "same_host": [GROUP], "build_near_host_ip": "192.168.1.1", "cidr": "/24",
        "query": '[">=", "$free_ram_mb", 1024]', "custom": "1",
    }
    warned = {w.split(":")[0] for w in loaded.warnings}
    assert {f"server_spec.scheduler_hints.{k}" for k in
            ("differentHost", "sameHost", "buildNearHostIP", "query", "additionalProperties")} <= warned


@pytest.mark.parametrize("text,expected", [("true", True), ("false", False), ("True", True), ("FALSE", False)])
def test_use_ignition_string_is_normalised_with_warning(text, expected):
    loaded = load({**minimal(), "use_ignition": text})
    assert loaded.config.use_ignition is expected
    assert loaded.config.strategy == ("ignition" if expected else "cloud-init")
    assert len(loaded.warnings) == 1 and loaded.warnings[0].startswith("use_ignition: a string")


@pytest.mark.parametrize("key", ["boot_time", "nova_microversion", "clouds_config"])
def test_empty_string_means_unset_with_warning(key):
    loaded = load({**minimal(), key: ""})
    c = loaded.config
    assert (c.boot_time, c.nova_microversion, c.clouds_config) == (None, "2.79", None)
    assert len(loaded.warnings) == 1 and loaded.warnings[0].startswith(f"{key}: an empty string means")


def test_case_variants_are_accepted_like_the_go_plugin_with_warning():
    doc = minimal()
    doc["Cloud"] = "runner"
    doc["server_spec"]["ImageRef"] = doc["server_spec"].pop("imageRef")
    doc["server_spec"]["networks"] = [{"UUID": NET}]
    loaded = load(doc)
    assert loaded.config.cloud == "runner"
    assert loaded.config.server_spec.image_ref == IMAGE
    assert loaded.config.server_spec.networks == [{"uuid": NET}]
    assert sorted(w.split(":")[0] for w in loaded.warnings) == [
        "Cloud", "server_spec.ImageRef", "server_spec.networks[0].UUID"]


def test_deprecation_table_matches_schema():
    """Every renamed spelling in DEPRECATIONS is a deprecated property of the schema, and vice versa."""
    s = schema()
    sections = {
        "": s,
        "server_spec": s["$defs"]["server_spec"],
        "server_spec.networks[]": s["$defs"]["network"],
        "server_spec.scheduler_hints": s["$defs"]["scheduler_hints"],
        "server_spec.block_device_mapping_v2[]": s["$defs"]["block_device"],
    }
    in_schema = {(sec, k) for sec, node in sections.items()
                 for k, v in node.get("properties", {}).items() if v.get("deprecated")}
    in_table = {(d.section, d.key) for d in DEPRECATIONS if d.renames}
    assert in_table == in_schema


# --------------------------------------------------------------------------
# Durations and microversions
# --------------------------------------------------------------------------

@pytest.mark.parametrize("text,seconds", [
    ("10m", 600.0), ("1h30m", 5400.0), ("90s", 90.0), ("500ms", 0.5), ("1.5h", 5400.0),
    ("0", 0.0), ("0s", 0.0), ("2h45m30.5s", 9930.5), ("100us", 0.0001), ("100µs", 0.0001),
    ("100μs", 0.0001), ("1500ns", 1.5e-6), (".5s", 0.5), ("1.s", 1.0), ("+3m", 180.0), ("-2s", -2.0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "1d", "m", "1.5", ".s", "1h 30m", "10 m", "--1s", "1hh"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("key", ["boot_time", "build_timeout"])
def test_durations_in_config(key):
    assert getattr(load({**minimal(), key: "1h2m3s"}).config, key) == 3723.0


def test_parse_microversion():
    assert parse_microversion("2.79") == (2, 79)
    assert parse_microversion("2.100") == (2, 100)
    for bad in ("2", "3.1", "2.x", "2.0", " 2.79"):
        with pytest.raises(ValueError):
            parse_microversion(bad)


@pytest.mark.parametrize("key,value,microversion", [
    ("hostname", "worker", "2.90"),
    ("description", "d", "2.19"),
    ("tags", ["a"], "2.52"),
    ("trusted_image_certificates", ["cert"], "2.63"),
])
def test_keys_that_need_a_newer_microversion(key, value, microversion):
    doc = minimal()
    doc["server_spec"][key] = value
    minor = int(microversion.split(".")[1])
    errors = errors_of({**doc, "nova_microversion": f"2.{minor - 1}"})
    assert f"needs nova_microversion {microversion} or later (configured: 2.{minor - 1})" \
        in errors[f"server_spec.{key}"]
    assert load({**doc, "nova_microversion": microversion}).config.server_spec.body[key] == value


def test_nested_keys_that_need_a_newer_microversion():
    doc = minimal()
    doc["nova_microversion"] = "2.41"
    doc["server_spec"]["networks"] = [{"uuid": NET, "tag": "nic1"}]
    doc["server_spec"]["block_device_mapping_v2"] = [
        {"source_type": "blank", "destination_type": "local", "volume_size": 1, "volume_type": "ssd", "tag": "d"}]
    errors = errors_of(doc)
    assert "2.42" in errors["server_spec.networks[0].tag"]
    assert "2.42" in errors["server_spec.block_device_mapping_v2[0].tag"]
    assert "2.67" in errors["server_spec.block_device_mapping_v2[0].volume_type"]


def test_networks_auto_needs_2_37_and_networks_optional_before():
    doc = minimal()
    doc["server_spec"]["networks"] = "auto"
    assert load(doc).config.server_spec.networks == "auto"
    assert "2.37" in errors_of({**doc, "nova_microversion": "2.36"})["server_spec.networks"]
    del doc["server_spec"]["networks"]
    assert load({**doc, "nova_microversion": "2.36"}).config.server_spec.networks is None


# --------------------------------------------------------------------------
# Environment overrides
# --------------------------------------------------------------------------

def test_os_cloud_overrides_cloud_with_warning():
    loaded = load({**minimal(), "cloud": "runner"}, env={"OS_CLOUD": "other"})
    assert loaded.config.cloud == "other"
    assert loaded.warnings == ["cloud: overridden by environment variable OS_CLOUD: using 'other' instead of 'runner'"]


def test_os_cloud_fills_unset_cloud_silently():
    loaded = load(minimal(), env={"OS_CLOUD": "envcloud"})
    assert loaded.config.cloud == "envcloud"
    assert loaded.warnings == []


def test_os_client_config_file_overrides_clouds_config():
    loaded = load({**minimal(), "clouds_config": "/etc/a.yaml"}, env={"OS_CLIENT_CONFIG_FILE": "/tmp/b.yaml"})
    assert loaded.config.clouds_config == "/tmp/b.yaml"
    assert loaded.warnings[0].startswith("clouds_config: overridden by environment variable OS_CLIENT_CONFIG_FILE")


def test_empty_env_values_do_not_override():
    c = load({**minimal(), "cloud": "runner"}, env={"OS_CLOUD": "", "OS_CLIENT_CONFIG_FILE": ""}).config
    assert (c.cloud, c.clouds_config) == ("runner", None)


def test_os_compute_api_version_only_when_unset():
    assert load(minimal(), env={"OS_COMPUTE_API_VERSION": "2.60"}).config.nova_microversion == "2.60"
    configured = {**minimal(), "nova_microversion": "2.88"}
    assert load(configured, env={"OS_COMPUTE_API_VERSION": "2.60"}).config.nova_microversion == "2.88"
    loaded = load(minimal(), env={"OS_COMPUTE_API_VERSION": "2.latest"})
    assert loaded.config.nova_microversion == "2.79"
    assert loaded.warnings[0].startswith("nova_microversion: environment OS_COMPUTE_API_VERSION='2.latest'")


def test_microversion_from_env_gates_keys():
    doc = minimal()
    doc["server_spec"]["hostname"] = "worker"
    errors = errors_of(doc, env={"OS_COMPUTE_API_VERSION": "2.80"})
    assert "configured: 2.80" in errors["server_spec.hostname"]


@pytest.mark.parametrize("env,expected", [
    ({"STATE_DIRECTORY": "/var/lib/fpo:/var/lib/other", "XDG_STATE_HOME": "/x", "HOME": "/h"}, "/var/lib/fpo"),
    ({"XDG_STATE_HOME": "/x/state", "HOME": "/h"}, "/x/state/fleeting-plugin-openstack"),
    ({"XDG_STATE_HOME": "relative", "HOME": "/h"}, "/h/.local/state/fleeting-plugin-openstack"),
    ({"HOME": "/h"}, "/h/.local/state/fleeting-plugin-openstack"),
])
def test_state_dir_default(env, expected):
    assert load(minimal(), env=env).config.credentials.state_dir == expected


# --------------------------------------------------------------------------
# user_data, names, images, tags, metadata, counts
# --------------------------------------------------------------------------

def test_user_data_size_limit_after_base64():
    doc = minimal()
    limit_text = 65535 // 4 * 3  # 49149 bytes -> 65532 base64 characters
    doc["server_spec"]["user_data"] = "#" * limit_text
    c = load(doc).config
    assert len(encode_user_data(c.server_spec.user_data)) == 65532
    doc["server_spec"]["user_data"] = "#" * (limit_text + 3)  # 65536 characters
    errors = errors_of(doc)
    assert errors["server_spec.user_data"].startswith("is 65536 bytes after base64 encoding; Nova's limit is 65535")


def test_user_data_multibyte_counts_bytes():
    doc = minimal()
    doc["server_spec"]["user_data"] = "é" * 25000  # 50000 UTF-8 bytes -> 66668 base64 characters
    assert "66668 bytes" in errors_of(doc)["server_spec.user_data"]


def test_base64_user_data_warns_about_double_encoding():
    doc = minimal()
    doc["server_spec"]["user_data"] = base64.b64encode(b"#cloud-config\npackages: [jq]\n").decode()
    loaded = load(doc)
    assert loaded.warnings == ["server_spec.user_data: looks base64-encoded: write the plain text (cloud-config, "
                               "Ignition JSON, script...); the plugin encodes it, so it would be encoded twice"]
    doc["server_spec"]["user_data"] = "#cloud-config\npackages: [jq]\n"
    assert load(doc).warnings == []


def test_name_template_without_index_warns():
    doc = minimal()
    doc["server_spec"]["name"] = "runner"
    loaded = load(doc)
    assert loaded.config.server_spec.render_name(3) == "runner"
    assert loaded.warnings[0].startswith("server_spec.name: has no %d")


def test_image_and_flavor_by_name():
    doc = minimal()
    spec = doc["server_spec"]
    spec["image_name"] = spec.pop("imageRef")
    spec["flavor_name"] = spec.pop("flavorRef")
    s = load(doc).config.server_spec
    assert (s.image_ref, s.image_name, s.flavor_ref, s.flavor_name) == (None, IMAGE, None, FLAVOR)


@pytest.mark.parametrize("change,path,fragment", [
    ({"image_name": "flatcar"}, "server_spec.image_name", "conflicts with imageRef"),
    ({"flavor_name": "m1"}, "server_spec.flavor_name", "conflicts with flavorRef"),
    ({"imageRef": None}, "server_spec", "needs an image"),
    ({"flavorRef": None}, "server_spec", "needs a flavor"),
])
def test_image_and_flavor_exactly_one(change, path, fragment):
    doc = minimal()
    for k, v in change.items():
        if v is None:
            del doc["server_spec"][k]
        else:
            doc["server_spec"][k] = v
    assert fragment in errors_of(doc)[path]


def test_flavor_ref_may_be_a_plain_id():
    doc = minimal()
    doc["server_spec"]["flavorRef"] = 42
    assert load(doc).config.server_spec.flavor_ref == "42"
    doc["server_spec"]["flavorRef"] = "m1.small"
    assert load(doc).config.server_spec.flavor_ref == "m1.small"


def test_boot_from_volume_needs_no_image():
    doc = minimal()
    del doc["server_spec"]["imageRef"]
    doc["server_spec"]["block_device_mapping_v2"] = [{
        "boot_index": 0, "uuid": IMAGE, "source_type": "image", "destination_type": "volume",
        "volume_size": 20, "volume_type": "ssd", "delete_on_termination": True}]
    loaded = load(doc)
    assert loaded.warnings == []
    assert loaded.config.server_spec.boots_from_volume is True
    doc["server_spec"]["imageRef"] = ""
    assert load(doc).config.server_spec.image_ref is None


def test_volume_without_delete_on_termination_warns():
    doc = minimal()
    doc["server_spec"]["block_device_mapping_v2"] = [{
        "boot_index": 0, "uuid": IMAGE, "source_type": "image", "destination_type": "volume", "volume_size": 20}]
    loaded = load(doc)
    assert loaded.warnings[0].startswith("server_spec.block_device_mapping_v2[0].delete_on_termination: is not true")


def test_two_boot_devices_conflict():
    doc = minimal()
    doc["server_spec"]["block_device_mapping_v2"] = [
        {"boot_index": 0, "source_type": "volume", "uuid": OTHER, "destination_type": "volume"},
        {"boot_index": "0", "source_type": "volume", "uuid": GROUP, "destination_type": "volume"},
    ]
    assert "only one device" in errors_of(doc)["server_spec.block_device_mapping_v2[1].boot_index"]


def test_tags_limit_counts_the_group_tag():
    doc = minimal()
    doc["server_spec"]["tags"] = [f"t{i}" for i in range(49)]
    assert len(load(doc).config.server_spec.tags) == 49
    doc["server_spec"]["tags"] = [f"t{i}" for i in range(49)] + ["group"]  # the group name itself
    assert len(load(doc).config.server_spec.tags) == 50


def test_metadata_accepted():
    doc = minimal()
    doc["server_spec"]["metadata"] = {"role": "ci", "a.b:c d_e-f": "x" * 255}
    assert load(doc).config.server_spec.metadata == {"role": "ci", "a.b:c d_e-f": "x" * 255}


def test_min_max_count_of_one_accepted():
    doc = minimal()
    doc["server_spec"].update(min_count=1, max_count=1)
    assert load(doc).config.server_spec.body["max_count"] == 1
    doc["server_spec"].update(min_count=2, max_count=1)
    errors = errors_of(doc)
    assert "must be 1" in errors["server_spec.min_count"]


def test_port_with_many_instances_warns():
    doc = minimal()
    doc["server_spec"]["networks"] = [{"port": OTHER}]
    assert load(doc).warnings[0].startswith("server_spec.networks[0].port: a Neutron port attaches to one server")
    assert load({**doc, "max_size": 1}).warnings == []


def test_control_characters_rejected():
    doc = minimal()
    doc["server_spec"]["imageRef"] = IMAGE + "\n"
    doc["cloud"] = "run\tner"
    errors = errors_of(doc)
    assert "control characters" in errors["cloud"]
    assert "server_spec.imageRef" in errors


def test_every_nova_key_together():
    doc = minimal()
    doc["nova_microversion"] = "2.90"
    doc["server_spec"].update({
        "networks": [{"uuid": NET, "tag": "nic"}],
        "security_groups": ["default", {"name": "ssh"}],
        "key_name": "ci-admin",
        "availability_zone": "nova",
        "config_drive": True,
        "user_data": "#cloud-config\n",
        "accessIPv4": "192.0.2.1",
        "accessIPv6": "2001:db8::1",
        "hostname": "worker",
        "min_count": 1,
        "max_count": 1,
        "OS-DCF:diskConfig": "AUTO",
        "description": "d",
        "tags": ["ci"],
        "metadata": {"role": "ci"},
        "adminPass": "secret",
    })
    loaded = load(doc)
    s = loaded.config.server_spec
    assert loaded.warnings == []
    assert s.security_groups == ["default", "ssh"]
    assert (s.key_name, s.availability_zone, s.config_drive, s.hostname) == ("ci-admin", "nova", True, "worker")
    assert s.body["OS-DCF:diskConfig"] == "AUTO"


# --------------------------------------------------------------------------
# schema()
# --------------------------------------------------------------------------

def test_schema_is_draft_2020_12_and_documented():
    s = schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["required"] == ["name", "server_spec"]
    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.get("properties", {}).items():
                if "description" not in v:
                    missing.append(f"{where}.{k}")
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(s, "")
    assert missing == []
    s["title"] = "changed"
    assert schema()["title"] != "changed"  # a fresh copy each time


def test_seed_readme_keys_are_all_in_schema():
    props = schema()["properties"]
    for key in ("cloud", "clouds_config", "auth_from_env", "name", "nova_microversion", "boot_time",
                "use_ignition", "server_spec"):
        assert key in props
