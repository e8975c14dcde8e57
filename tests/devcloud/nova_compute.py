"""nova-compute launcher for the devcloud (run with Debian's /usr/bin/python3).

The Debian package nova-compute is not installed: it depends on a hypervisor
stack (libvirt, qemu) that the devcloud never uses.  python3-nova already
ships ``nova.cmd.compute``; this is what /usr/bin/nova-compute would run.

The virt driver is whatever ``[DEFAULT] compute_driver`` says; start writes
``$DEVCLOUD_COMPUTE_DRIVER`` there (default ``fake.FakeDriver``).  Nova first
tries ``nova.virt.<name>`` and then ``<name>`` as an absolute import path, so
a test-only driver can live in a directory given by
``$DEVCLOUD_EXTRA_PYTHONPATH``, which start puts on this process's PYTHONPATH.
"""
import sys

from nova.cmd.compute import main

if __name__ == "__main__":
    sys.exit(main())
