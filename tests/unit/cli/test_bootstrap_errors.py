"""`bootstrap` (issue 20 item 7): every OS error is one line naming the path, exit status 2, and
nothing is left half-written. Run as the runner's container entrypoint would: the installed executable."""

from __future__ import annotations

import os
import subprocess

import pytest

from installed import plugin_executable


def bootstrap(root, repository: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FLEETING_PLUGIN_PATH=str(root), FLEETING_PLUGIN_PKG_VERSION="1.2.3")
    return subprocess.run([plugin_executable(), "bootstrap", repository], env=env, capture_output=True,
                          text=True, timeout=60)


def one_line_error(done: subprocess.CompletedProcess[str], *names: str) -> str:
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("fleeting-plugin-openstack bootstrap: cannot install ")
    for name in names:
        assert name in lines[0]
    return lines[0]


def test_a_name_too_long_for_the_file_system(tmp_path):
    long = "a" * 300
    line = one_line_error(bootstrap(tmp_path, f"registry.example.com/{long}"), f"{tmp_path}/registry.example.com/{long}")
    assert "File name too long" in line


def test_a_file_as_the_plugin_directory(tmp_path):
    plain = tmp_path / "plugins"
    plain.write_text("not a directory")
    line = one_line_error(bootstrap(plain, "registry.example.com/group/plugin"), str(plain))
    assert "Not a directory" in line


def test_a_directory_where_the_plugin_goes(tmp_path):
    (tmp_path / "registry.example.com/group/plugin/1.2.3/plugin").mkdir(parents=True)
    line = one_line_error(bootstrap(tmp_path, "registry.example.com/group/plugin"),
                          f"{tmp_path}/registry.example.com/group/plugin/1.2.3/plugin")
    assert "directory" in line
    assert os.listdir(tmp_path / "registry.example.com/group/plugin/1.2.3") == ["plugin"]  # no temporary left


@pytest.mark.parametrize("repository", ["../escape/x", "/abs/x", "a" * 3])
def test_usage_errors_stay_one_line(tmp_path, repository):
    done = bootstrap(tmp_path, repository)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())


def test_it_still_installs(tmp_path):
    done = bootstrap(tmp_path, "registry.example.com/Group/plugin")
    assert done.returncode == 0, done.stderr
    dest = tmp_path / "registry.example.com/!group/plugin/1.2.3/plugin"
    assert dest.is_file() and os.access(dest, os.X_OK)
    assert sorted(os.listdir(dest.parent)) == ["plugin"]
