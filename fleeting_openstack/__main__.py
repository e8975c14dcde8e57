"""``python -m fleeting_openstack``: the installed executable's entry point, also from a source checkout.

From a checkout the schemas and built-in strategies come from the tree (:mod:`.sourcetree`); an
installed copy runs exactly as ``fleeting-plugin-openstack`` does.
"""

import sys

from fleeting_openstack import sourcetree

sourcetree.activate()

from fleeting_openstack.cli.main import main  # noqa: E402 - after the tree's packages are in place

sys.exit(main())
