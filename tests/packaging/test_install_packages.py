"""scripts/install-test-packages (run by scripts/test) leaves no machine-wide change: the
policy-rc.d that keeps apt from starting services exists only while apt runs.

apt-get is replaced by a fake on PATH (fault injection: it records what it saw and can fail);
the policy file's path is redirected so that the test never touches the real one."""

from __future__ import annotations

import os
import subprocess

import pytest
from project import ROOT

SCRIPT = ROOT / "scripts" / "install-test-packages"


@pytest.fixture
def fake_apt(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    (bin_dir / "apt-get").write_text(
        "#!/bin/sh\n"
        f'if [ -x "$POLICY_RC_D" ]; then "$POLICY_RC_D" sshd start; echo "$1 policy=$?" >> {log}; '
        f'else echo "$1 policy=none" >> {log}; fi\n'
        'if [ "$1" = install ] && [ -n "$FAKE_APT_FAIL" ]; then exit 100; fi\n')
    (bin_dir / "apt-get").chmod(0o755)
    return bin_dir, log


def run(tmp_path, fake_apt, **env):
    bin_dir, _ = fake_apt
    full = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", POLICY_RC_D=str(tmp_path / "policy-rc.d"),
                FLEETING_TEST_EXTRA_PKGS="fake-package", **env)
    return subprocess.run([str(SCRIPT)], env=full, capture_output=True, text=True, timeout=60)


def test_policy_exists_only_while_apt_runs(tmp_path, fake_apt):
    done = run(tmp_path, fake_apt)
    assert done.returncode == 0, done.stderr
    assert fake_apt[1].read_text().splitlines() == ["update policy=101", "install policy=101"]
    assert not (tmp_path / "policy-rc.d").exists()


def test_policy_is_removed_when_apt_fails(tmp_path, fake_apt):
    done = run(tmp_path, fake_apt, FAKE_APT_FAIL="1")
    assert done.returncode != 0
    assert not (tmp_path / "policy-rc.d").exists()


def test_an_existing_policy_is_left_as_it_was(tmp_path, fake_apt):
    mine = tmp_path / "policy-rc.d"
    mine.write_text("#!/bin/sh\nexit 0\n")
    mine.chmod(0o755)
    assert run(tmp_path, fake_apt).returncode == 0
    assert mine.read_text() == "#!/bin/sh\nexit 0\n"
    assert fake_apt[1].read_text().splitlines() == ["update policy=0", "install policy=0"]


def test_scripts_test_writes_no_policy_itself_and_the_readme_says_what_it_needs():
    assert "policy-rc.d" not in "\n".join(line for line in (ROOT / "scripts" / "test").read_text().splitlines()
                                         if not line.lstrip().startswith("#") and "install-test-packages" not in line)
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    for need in ("root", "Debian", "minutes"):
        assert need in setup, need
