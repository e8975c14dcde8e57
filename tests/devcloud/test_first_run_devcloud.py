"""Issue 20 item 4 against the real devcloud: `validate --check-cloud` never says "resolved" for a
reference it reported as not found, and `status` exits 1 when it says Init would fail."""

from __future__ import annotations

import json

from installed import run_cli


def test_not_found_is_never_resolved_and_status_fails(plugin_config, tmp_path):
    path = tmp_path / "pc.json"
    path.write_text(json.dumps(plugin_config(server_spec={"security_groups": ["no-such-group"],
                                                          "key_name": "no-such-keypair"})))
    code, out, err = run_cli("validate", "--check-cloud", "--json", str(path))
    assert code == 1, err
    report = json.loads(out)
    missing = {e["path"] for e in report["errors"]}
    assert {"server_spec.security_groups[0]", "server_spec.key_name"} <= missing
    resolved = {r["path"] for r in report["resolved"]}
    assert "server_spec.image" in resolved and not missing & resolved
    code, out, _ = run_cli("validate", "--check-cloud", str(path))
    assert "resolved: security group 'no-such-group'" not in out and "resolved: keypair" not in out

    code, out, err = run_cli("status", str(path))
    assert code == 1 and "Init would fail: server_spec.security_groups[0]" in out, err
    code, out, _ = run_cli("status", "--json", str(path))
    assert code == 1 and any("no-such-group" in p for p in json.loads(out)["problems"])
    # a config Init accepts: exit 0
    path.write_text(json.dumps(plugin_config()))
    assert run_cli("status", str(path))[0] == 0
