"""Built-in boot strategies of fleeting-plugin-openstack.

Installed as the import package ``fleeting_openstack_strategies`` and
registered exactly like a third-party package's strategies: each module is an
entry point of the group ``fleeting_openstack.strategies`` (see
pyproject.toml) whose ``fleeting_register_strategies`` adds one strategy.
"""
