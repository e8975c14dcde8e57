"""nova-compute launcher for the devcloud (run with Debian's /usr/bin/python3).

The Debian package nova-compute is not installed: it depends on a hypervisor
stack (libvirt, qemu) that the devcloud never uses.  python3-nova already
ships ``nova.cmd.compute``; this runs its ``main()`` like
/usr/bin/nova-compute would.

The virt driver is whatever ``[DEFAULT] compute_driver`` says; start writes
``$DEVCLOUD_COMPUTE_DRIVER`` there (default ``fake.FakeDriver``).

Nova itself only imports ``nova.virt.<compute_driver>``.  So that a
test-only driver need not be copied into Debian's nova package, this
launcher also accepts an absolute import path (``package.module.Class``)
when its first component is not a module of ``nova.virt``.  That module is
looked up on PYTHONPATH, to which start adds ``$DEVCLOUD_EXTRA_PYTHONPATH``.
"""
import importlib.util
import sys

# nova.cmd first: importing it applies eventlet's monkey patching, which
# must happen before anything else of nova is imported
from nova.cmd.compute import main

import nova.conf
from nova.virt import driver as virt_driver
from oslo_log import log as logging
from oslo_utils import importutils

LOG = logging.getLogger("nova.virt.driver")

_load_nova_virt_driver = virt_driver.load_compute_driver


def load_compute_driver(virtapi, compute_driver=None):
    name = compute_driver or nova.conf.CONF.compute_driver
    top = (name or "").split(".")[0]
    if not top or importlib.util.find_spec("nova.virt." + top) is not None:
        return _load_nova_virt_driver(virtapi, compute_driver)
    # an absolute path such as fleeting_testdriver.TestDriver
    LOG.info("Loading compute driver '%s' (absolute import path)", name)
    driver = importutils.import_object(name, virtapi)
    if not isinstance(driver, virt_driver.ComputeDriver):
        raise TypeError(f"{name} is not a nova.virt.driver.ComputeDriver")
    return driver


# ComputeManager calls nova.virt.driver.load_compute_driver() at start-up
virt_driver.load_compute_driver = load_compute_driver

if __name__ == "__main__":
    sys.exit(main())
