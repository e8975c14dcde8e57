"""`bootstrap` (issue 20 item 7): every OS error is one line naming the path, never a traceback.

`bootstrap` is fleeting's plugin.Main convention (issue 17: byte for byte what fleeting's own
bootstrap does, tests/conformance/fleetingclient): its errors go to stdout with exit status 1.
Here, the OS errors a container's volume or a long repository name cause: each is one line
that names the path, and nothing is left half-written. Run as the runner's container
entrypoint would: the installed executable."""

from __future__ import annotations

import os
import subprocess

from installed import plugin_executable


def bootstrap(root, repository: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FLEETING_PLUGIN_PKG_VERSION",)}
    env["FLEETING_PLUGIN_PATH"] = str(root)
    return subprocess.run([plugin_executable(), "bootstrap", repository], env=env, capture_output=True,
                          text=True, timeout=60)


def one_line_error(done: subprocess.CompletedProcess[str], *names: str) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr and done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def test_a_name_too_long_for_the_file_system(tmp_path):
    long = "a" * 300
    line = one_line_error(bootstrap(tmp_path, f"registry.example.com/{long}"), f"registry.example.com/{long}")
    assert "File name too long" in line
    assert sorted(os.listdir(tmp_path)) in ([], ["registry.example.com"])  # no temporary left behind
    assert not [p for p in tmp_path.rglob("plugin*") if p.is_dir()]


def test_a_file_as_the_plugin_directory(tmp_path):
    plain = tmp_path / "plugins"
    plain.write_text("not a directory")
    line = one_line_error(bootstrap(plain, "registry.example.com/group/plugin"), str(plain))
    assert "Not a directory" in line


def test_a_missing_plugin_directory(tmp_path):
    one_line_error(bootstrap(tmp_path / "nope", "registry.example.com/group/plugin"), str(tmp_path / "nope"))


def test_it_still_installs(tmp_path):
    done = bootstrap(tmp_path, "registry.example.com/Group/plugin")
    assert done.returncode == 0, done.stdout + done.stderr
    target = done.stdout.strip()  # fleeting's bootstrap copies every file beside the executable
    installed = os.path.join(target, os.path.basename(plugin_executable()))
    assert os.path.dirname(target) == str(tmp_path / "registry.example.com/!group/plugin")
    assert os.access(installed, os.X_OK)
