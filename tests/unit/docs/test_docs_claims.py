"""Classes of statements in the docs, each checked against what it describes (issue 20 item 8).

* Source paths: every file the docs name (``contract/scan.py``, ``tests/unit/...``) exists.
* The examples' comments call "required" only what the schema requires.
* The unit tier's claims in docs/testing.md: the network it needs and its number of tests.
* The exit-status table of docs/README.md is the parser's.
* ``validate`` output shown in the docs names keys the operator writes (a runner's
  connector_config is ``runners[N].autoscaler.connector_config``, not under plugin_config).
* What troubleshooting says the "no clouds.yaml" message lists is what the command prints.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib

import pytest

from fleeting_openstack.cli import parser as cmdline
from installed import plugin_executable, run_cli
from project import EXAMPLES, ROOT

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
SCHEMA = json.loads((ROOT / "schemas" / "plugin_config.schema.json").read_text())
FILE = re.compile(r"`([A-Za-z0-9_][A-Za-z0-9_./-]*\.(?:py|go|proto|sh|md|toml|json|yaml))`")
#: named in the docs, not in this repository: fleeting's Go module (internal/plugin/*, plugin/*.go),
#: openstacksdk's data, the build's output
ELSEWHERE = ("internal/plugin/", "plugin/bootstrap.go", "config/defaults.json", "fleeting_openstack/_build_info.py")
#: the keys of [runners.autoscaler.connector_config] (gitlab-runner's ConnectorConfig)
CONNECTOR_KEYS = {"os", "arch", "protocol", "protocol_port", "username", "password", "key_path",
                  "use_static_credentials", "keepalive", "timeout", "use_external_addr"}


def tracked_names() -> set[str]:
    return {p.name for p in ROOT.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts}


def test_every_source_path_the_docs_name_exists():
    names = tracked_names()
    wrong = []
    for page in PAGES:
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for m in FILE.finditer(line):
                path = m.group(1)
                if path.startswith(ELSEWHERE) or "/" not in path and not path.endswith((".py", ".sh")):
                    continue  # a bare .go/.proto/.md name is fleeting's or gitlab-runner's file
                if "/" in path:
                    found = any((base / path).exists() for base in (ROOT, ROOT / "fleeting_openstack", ROOT / "tests",
                                                                    page.parent))
                else:
                    found = path in names
                if not found:
                    wrong.append(f"{page.name}:{n}: {path}")
    assert not wrong, "paths the docs name that do not exist:\n" + "\n".join(wrong)


def test_the_path_check_catches_a_moved_module():
    """The class of the issue's finding: docs/protocol.md once named `wire/scan.py` after the move."""
    assert FILE.search("2. **Scan** (`wire/scan.py`): every").group(1) == "wire/scan.py"
    assert not any((base / "wire/scan.py").exists() for base in (ROOT, ROOT / "fleeting_openstack"))


def test_example_comments_call_required_only_what_the_schema_requires():
    required = set(SCHEMA["required"])
    wrong = []
    for example in sorted(EXAMPLES.glob("*.toml")):
        for n, line in enumerate(example.read_text().splitlines(), 1):
            code, _, comment = line.partition("#")
            if re.search(r"\brequired\b", comment, re.I):
                key = re.match(r"\s*#?\s*([A-Za-z_]+)\s*=", line) or re.match(r"\s*([A-Za-z_]+)\s*=", code)
                if key is None or key.group(1) not in required:
                    wrong.append(f"{example.name}:{n}: {line.strip()}")
    assert not wrong, "\n".join(wrong)


def test_the_example_works_without_key_path_in_cloud_init_mode(tmp_path):
    """examples/config.toml once said key_path is required in cloud-init mode: it is not."""
    text = (EXAMPLES / "config.toml").read_text()
    assert "key_path = " not in "".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    cloud_init = tmp_path / "config.toml"
    cloud_init.write_text(text.replace("use_ignition = true", 'strategy = "cloud-init"'))
    assert tomllib.loads(cloud_init.read_text())["runners"][0]["autoscaler"]["plugin_config"]["strategy"] == "cloud-init"
    code, out, err = run_cli("validate", str(cloud_init))
    assert code == 0, out + err


def test_the_unit_tier_states_the_network_it_needs():
    text = (DOCS / "testing.md").read_text()
    line = next(l for l in text.splitlines() if l.strip().startswith("scripts/test --unit"))
    installs = "pip install" in (ROOT / "scripts" / "test").read_text()
    assert not (installs and re.search(r"\bnetwork\b", line)), f"--unit installs from PyPI: {line!r}"
    assert "PyPI" in text


def test_the_unit_tier_test_count_is_current():
    text = (DOCS / "testing.md").read_text()
    claimed = int(re.search(r"about (\d+) tests", text).group(1))
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "unit",
                           "-p", "no:cacheprovider", str(ROOT / "tests" / "unit")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT / "tests")
    m = re.search(r"(\d+)(?:/\d+)? tests? (?:collected|selected)", done.stdout)
    assert m, done.stdout[-2000:] + done.stderr[-2000:]
    actual = int(m.group(1))
    assert abs(actual - claimed) <= 0.1 * actual, f"docs/testing.md says about {claimed} tests; {actual} run"


def test_the_exit_status_table_is_the_parsers():
    text = (DOCS / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d) \| (.+?) \|$", text, re.M))
    assert {int(k): v for k, v in rows.items()} == cmdline.EXIT_CODES


VALIDATE_LINE = re.compile(r"^\S+: ((?:runners\[\d+\]\.autoscaler\.)?[A-Za-z_][^:\s]*): (?:resolved|error|warning):")


def test_validate_output_in_the_docs_names_keys_the_operator_writes():
    keys = set(SCHEMA["properties"])
    wrong, seen = [], 0
    for page in PAGES:
        for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            m = VALIDATE_LINE.match(line)
            if not m:
                continue
            seen += 1
            path = m.group(1)
            runner = re.match(r"runners\[\d+\]\.autoscaler\.(plugin_config|connector_config)\.(.+)", path)
            if runner is None:
                first = re.split(r"[.\[]", path)[0]
                ok = path.startswith("runners[") or first in keys or first == "connector_config"
            elif runner.group(1) == "plugin_config":
                ok = re.split(r"[.\[]", runner.group(2))[0] in keys
            else:
                ok = runner.group(2).split(".")[0] in CONNECTOR_KEYS
            if not ok:
                wrong.append(f"{page.name}:{n}: {path}")
    assert seen >= 5  # the README's --check-cloud example at least
    assert not wrong, "validate lines naming keys nobody writes:\n" + "\n".join(wrong)


def test_what_troubleshooting_says_the_no_clouds_yaml_message_lists(tmp_path):
    row = next(l for l in (DOCS / "troubleshooting.md").read_text().splitlines()
               if l.startswith("| `cloud configuration: ...`"))
    quoted = [q for q in re.findall(r"`([^`]+)`", row) if "searched" in q]
    assert quoted, row
    path = tmp_path / "pc.json"
    path.write_text(json.dumps({"name": "g", "cloud": "nowhere", "credentials": {"state_dir": str(tmp_path)},
                                "server_spec": {"name": "g-%d", "imageRef": "d5460af5-83f3-47d7-9c4f-80294c66b267",
                                                "flavorRef": "1", "networks": "none"}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"))
    done = subprocess.run([plugin_executable(), "validate", "--check-cloud", str(path)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=env)
    for q in quoted:
        pattern = re.escape(q).replace(re.escape("<paths>"), r"[^;]+")
        assert re.search(pattern, done.stdout), (q, done.stdout)


@pytest.mark.parametrize("page", ["README.md", "docs/README.md"])
def test_render_user_data_usage_names_its_offline_flags(page):
    text = (ROOT / page).read_text()
    if page == "docs/README.md":
        assert "render-user-data PATH [--runner NAME] [--username NAME]" in text
    sub = cmdline.subcommands(cmdline.build_parser())["render-user-data"]
    assert "--username" in sub.format_help()
