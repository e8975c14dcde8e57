"""The installed plugin's command line, as the tests run it: the executable, or main() in-process.

scripts/test installs the plugin into .venv and exports FLEETING_PLUGIN_BIN; without it
the executable on PATH is used. A missing executable fails the test that needs it."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

from fleeting_openstack.cli import parser as cmdline


def plugin_executable() -> str:
    """Path of the installed ``fleeting-plugin-openstack``, symlinks resolved.

    Resolved because go-plugin hosts and the contract discovery look at
    ``/proc/<pid>/exe``; pyenv-style shims are kept as they are (resolving one
    would skip the shim's own environment)."""
    found = os.environ.get("FLEETING_PLUGIN_BIN") or shutil.which("fleeting-plugin-openstack")
    assert found, "fleeting-plugin-openstack is not installed (pip install .; scripts/test sets FLEETING_PLUGIN_BIN)"
    return str(Path(found).resolve()) if "/shims/" not in found else found


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``fleeting-plugin-openstack ARGV...`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = cmdline.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()
