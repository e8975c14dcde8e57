"""Runs the Go conformance module (tests/conformance) against the installed
plugin executable with every go-plugin release the supported runners pin.

The module requires fleeting's own Go module (the one version the Go module
proxy serves, docs/testing.md); go.goplugin-v*.mod replace go-plugin with the
older releases, fleeting's client included. Among the tests: the handshake
proof (issue 17): fleeting's client (version 0) and go-plugin hosts offering
only 1, only 3, and 3 and 0, each through a whole lifecycle; fleeting's
plugin.Main conventions (fleetingclient/main_test.go).

Needs Go and network access to the Go module proxy (or a warm module cache);
it fails, never skips, when either is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from installed import plugin_executable

HERE = Path(__file__).parent
# go-plugin pinned by gitlab-runner 17.8-18.2 (v1.6.2), 18.3-19.2 (v1.7.0), 19.3 (v1.8.0).
MODFILES = {"v1.6.2": "go.goplugin-v1.6.2.mod", "v1.7.0": "go.goplugin-v1.7.0.mod", "v1.8.0": "go.mod"}
#: Tests that must have run and passed (a renamed or dropped one fails here).
REQUIRED = ["TestHandshakeFleetingClient", "TestFleetingClientWhenTheParentCannotBeRead",
            "TestHandshakeOfferedVersions/[1]", "TestHandshakeOfferedVersions/[3]", "TestHandshakeOfferedVersions/[3_0]", "TestLifecyclePlain", "TestLifecycleAutoMTLS",
            "TestVersionConventions", "TestBootstrapLikeFleeting"]


@pytest.mark.parametrize("goplugin", sorted(MODFILES))
def test_go_plugin_client(goplugin: str) -> None:
    go = shutil.which("go")
    assert go, "Go is required for the conformance tests"
    env = dict(os.environ, FLEETING_PLUGIN_BIN=plugin_executable())
    proc = subprocess.run([go, "test", "-count=1", "-v", f"-modfile={MODFILES[goplugin]}", "./..."],
                          cwd=HERE, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    passed = [line for line in proc.stdout.splitlines() if line.startswith("--- PASS")]
    assert len(passed) >= 7, proc.stdout
    assert "--- SKIP" not in proc.stdout
    for name in REQUIRED:
        assert f"--- PASS: {name} " in proc.stdout, f"{name} did not pass:\n{proc.stdout[-6000:]}"
