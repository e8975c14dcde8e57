"""Clean what dead plugin processes of this user left behind (at start).

The plugin names its go-plugin socket ``plugin-fo<pid>-*`` and its private
mTLS directory ``fleeting-grpc-<pid>-*``. At start, an entry with such a
name is removed only when it is provably stale: owned by this user, and no
process with that pid exists (a pid that was reused by a live process keeps
the entry: the safe side).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

log = logging.getLogger("fleeting_openstack.stale")

SOCKET_PREFIX = "plugin-fo"
MTLS_PREFIX = "fleeting-grpc-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, someone else's
    return True


def clean(directories: Iterable[str]) -> list[str]:
    """Remove stale sockets and mTLS dirs in ``directories``; return what was removed."""
    import re
    import shutil
    import stat
    from pathlib import Path

    pattern = re.compile(rf"^(?:{SOCKET_PREFIX}|{MTLS_PREFIX})(\d+)-")
    removed = []
    uid = os.geteuid()
    for directory in {d for d in directories if d}:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            match = pattern.match(name)
            if not match:
                continue
            pid = int(match.group(1))
            path = Path(directory) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if st.st_uid != uid or pid == os.getpid() or _alive(pid):
                continue
            try:
                if stat.S_ISSOCK(st.st_mode) and name.startswith(SOCKET_PREFIX):
                    path.unlink()
                elif stat.S_ISDIR(st.st_mode) and name.startswith(MTLS_PREFIX):
                    shutil.rmtree(path)
                else:
                    continue
            except OSError as exc:
                log.debug("could not remove %s: %s", path, exc)
                continue
            removed.append(str(path))
    if removed:
        log.info("removed what dead plugin processes left", extra={"paths": removed})
    return removed
