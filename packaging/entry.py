"""Entry script of the single-file build: the same ``main`` as the console script."""

from fleeting_openstack.cli.main import main

raise SystemExit(main())
