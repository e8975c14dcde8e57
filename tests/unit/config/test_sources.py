"""fleeting_openstack.config.sources: a JSON file or a runner config.toml, read and loaded once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleeting_openstack.cli import validate
from fleeting_openstack.cli.common import CommandError, load_target
from fleeting_openstack.config import ConfigIssue, sources
from fleeting_openstack.config.connector import RunnerConnector
from fleeting_openstack.cli.report import runner_connector
from fleeting_openstack.contract.instancegroup import ConnectorConfig

NET = "f05e7f64-9e0f-4c5c-acb0-b636000d7301"


def runner(name: str, *, plugin: str = "fleeting-plugin-openstack", key_path: str = "",
           boot_time: str = "10m") -> str:
    connector = (f'[runners.autoscaler.connector_config]\nusername = "core"\nkey_path = "{key_path}"\n'
                 "use_external_addr = true\nprotocol_port = 2222\n") if key_path else ""
    return f"""
[[runners]]
name = "{name}"
executor = "docker-autoscaler"
[runners.autoscaler]
plugin = "{plugin}"
max_instances = 5
{connector}[runners.autoscaler.plugin_config]
name = "group-{name}"
boot_time = "{boot_time}"
[runners.autoscaler.plugin_config.server_spec]
name = "{name}-%d"
image_name = "flatcar"
flavor_name = "m1.large"
networks = [ {{ uuid = "{NET}" }} ]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_runner_config_gives_each_runner_its_raw_table_config_and_connector(tmp_path):
    key = write(tmp_path, "id_ed25519", "PRIVATE KEY")
    path = write(tmp_path, "config.toml", runner("a", key_path=str(key)) + runner("b", plugin="other"))
    source = sources.read_source(path, env={})
    assert source.kind == "runner_config" and source.source == str(path)
    assert [(e.path, e.runner, e.index, e.uses_plugin) for e in source.entries] == [
        ("runners[0].autoscaler.plugin_config", "a", 0, True), ("runners[1]", "b", 1, False)]
    (entry,) = source.plugin_entries
    assert entry.raw is not None and entry.raw["name"] == "group-a" and entry.raw["boot_time"] == "10m"
    assert entry.loaded is not None and entry.loaded.config.name == "group-a"
    assert entry.loaded.config.boot_time == 600.0
    notes: list[str] = []
    connector = entry.connector(notes)
    assert connector == RunnerConnector(
        username="core", key=b"PRIVATE KEY", protocol_port=2222, use_external_addr=True)
    assert notes == []
    assert runner_connector(entry, []) == (ConnectorConfig(username="core", key=b"PRIVATE KEY", protocol_port=2222), True)
    assert source.entries[1].issues == [ConfigIssue(
        "runners[1].autoscaler.plugin", "'other' is not fleeting-plugin-openstack; runner skipped", "warning")]


def test_an_unreadable_key_is_a_warning_not_a_failure(tmp_path):
    path = write(tmp_path, "config.toml", runner("a", key_path=str(tmp_path / "missing")))
    (entry,) = sources.read_source(path, env={}).plugin_entries
    notes: list[str] = []
    connector = entry.connector(notes)
    assert connector.key == b"(unreadable)"
    assert notes and notes[0].startswith("runners[0].autoscaler.connector_config.key_path: cannot read ")


def test_a_plugin_config_file_is_one_entry_with_its_json_as_raw(tmp_path):
    doc = {"name": "g", "server_spec": {"name": "g-%d", "image_name": "x", "flavor_name": "y", "networks": "none"}}
    path = write(tmp_path, "plugin_config.json", json.dumps(doc))
    source = sources.read_source(path, env={})
    assert source.kind == "plugin_config"
    (entry,) = source.entries
    assert entry.path == "" and entry.raw == doc and entry.loaded is not None
    assert entry.connector([]) == RunnerConnector()
    assert runner_connector(entry, []) == (ConnectorConfig(), False)
    with pytest.raises(sources.NoSuchRunnerError, match="--runner applies to a runner config.toml"):
        sources.read_source(path, env={}, runner="a")


def test_invalid_configs_are_issues_with_their_paths(tmp_path):
    path = write(tmp_path, "config.toml", runner("a", boot_time="ten minutes"))
    (entry,) = sources.read_source(path, env={}).plugin_entries
    assert entry.loaded is None
    assert [i.path for i in entry.issues if i.severity == "error"] == ["runners[0].autoscaler.plugin_config.boot_time"]
    bad = write(tmp_path, "broken.toml", "[[runners]\n")
    assert sources.read_source(bad, env={}).issues[0].message.startswith("not valid TOML: ")
    with pytest.raises(sources.UnreadableFileError):
        sources.read_source(tmp_path / "nothing.toml")


def test_the_validate_report_is_the_report_of_the_source(tmp_path):
    path = write(tmp_path, "config.toml", runner("a") + runner("b", boot_time="soon"))
    from_path = validate.validate_path(path, env={})
    from_source = validate.report_for(sources.read_source(path, env={}))
    assert from_path.to_dict() == from_source.to_dict() and from_path.format_text() == from_source.format_text()
    assert not from_path.ok and [c.runner for c in from_path.configs] == ["a"]


def test_load_target_reads_the_file_once_and_loads_each_plugin_config_once(tmp_path, monkeypatch):
    path = write(tmp_path, "config.toml", runner("a") + runner("b"))
    loads: list[str] = []
    reads: list[str] = []
    real_load, real_read_bytes, real_read_text = sources.load_plugin_config, Path.read_bytes, Path.read_text

    def counting_load(raw, **kwargs):
        loads.append(raw["name"])
        return real_load(raw, **kwargs)

    def read_bytes(self):
        if self == path:
            reads.append("bytes")
        return real_read_bytes(self)

    def read_text(self, *args, **kwargs):
        if self == path:
            reads.append("text")
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(sources, "load_plugin_config", counting_load)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(Path, "read_text", read_text)
    target = load_target(str(path), "b")
    assert (target.runner, target.config.name, target.path) == ("b", "group-b", "runners[1].autoscaler.plugin_config")
    assert target.raw["name"] == "group-b"
    assert loads == ["group-a", "group-b"] and reads == ["bytes"]


def test_load_target_keeps_its_messages_and_exit_codes(tmp_path):
    two = write(tmp_path, "config.toml", runner("a") + runner("b"))
    with pytest.raises(CommandError) as exc:
        load_target(str(two))
    assert exc.value.code == 2 and str(exc.value) == (
        f"{two}: 2 runners use fleeting-plugin-openstack (a, b): choose one with --runner NAME")
    with pytest.raises(CommandError) as exc:
        load_target(str(two), "c")
    assert exc.value.code == 2 and str(exc.value) == (
        f"{two}: no runner 'c' uses fleeting-plugin-openstack (runners that do: a, b)")
    bad = write(tmp_path, "bad.toml", runner("a", boot_time="soon"))
    with pytest.raises(CommandError) as exc:
        load_target(str(bad))
    assert exc.value.code == 1 and "runners[0].autoscaler.plugin_config.boot_time: error: " in str(exc.value)
    assert load_target(str(two), "1").runner == "b"


def test_a_runner_connector_keeps_its_secrets_out_of_its_repr():
    text = repr(RunnerConnector(username="core", password="hunter2", key=b"PRIVATE KEY"))
    assert "core" in text and "hunter2" not in text and "PRIVATE" not in text
