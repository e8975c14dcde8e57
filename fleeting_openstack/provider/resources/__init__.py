"""The resource kinds a group's servers bring with them, one handler each (the shape of Hetzner's plugin).

Each module holds one kind's whole lifecycle: where the plugin creates it, the
create and the clean-up of a failed create (floating IPs: :mod:`.floatingips`);
for every kind, the rule its leaks are found by and its delete (:mod:`.servers`,
:mod:`.ports`, :mod:`.floatingips`, :mod:`.keypairs`, :mod:`.volumes`). What they
share (:class:`~.kind.ResourceKind`, :class:`~.kind.Leak`, :class:`~.kind.LeakScan`)
is in :mod:`.kind`; :mod:`fleeting_openstack.provider.leaks` loops over the handlers.
"""
