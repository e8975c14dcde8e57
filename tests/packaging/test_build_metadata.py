"""Build metadata as pip/pipx build the plugin: the wheel, and a wheel built from the sdist,
carry _build_info.py with the Git revision and the build date (``--version`` shows them).

pip builds in an isolated environment: needs network access to PyPI (or a warm pip cache)."""

from __future__ import annotations

import ast
import subprocess
import sys
import tarfile
import zipfile

from project import ROOT


def test_a_pip_build_records_revision_and_build_date(tmp_path):
    """What pip/pipx install: the wheel carries _build_info.py with the Git revision and the date."""
    root = ROOT
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(root)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    wheel = next(tmp_path.glob("*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read("fleeting_openstack/_build_info.py").decode()
    info = ast.literal_eval(text.split("INFO = ", 1)[1])
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=8", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    assert info["revision"].split("-")[0] == head
    assert info["built"] != "unknown" and info["built"].endswith("Z")


def test_an_sdist_carries_the_build_metadata_to_its_wheel(tmp_path):
    """A wheel built from the sdist (no Git there) still knows the revision."""
    root = ROOT
    done = subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
                           "print(b.build_sdist(sys.argv[1]))", str(tmp_path)], cwd=root, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    archive = tmp_path / done.stdout.split()[-1]
    with tarfile.open(archive) as tf:
        tf.extractall(tmp_path / "x", filter="data")
    (tree,) = (tmp_path / "x").iterdir()
    assert not (tree / ".git").exists()
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "w"),
                           str(tree)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(next((tmp_path / "w").glob("*.whl"))) as zf:
        info = ast.literal_eval(zf.read("fleeting_openstack/_build_info.py").decode().split("INFO = ", 1)[1])
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=8", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    assert info["revision"].split("-")[0] == head and info["built"] != "unknown"
