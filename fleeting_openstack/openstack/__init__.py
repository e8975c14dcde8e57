"""The one adapter that talks to OpenStack (Keystone, Nova, Neutron, Glance, Cinder):
bounded, retried where safe, redacted. Knows nothing of gRPC or fleeting.

:mod:`.client` (``Cloud``: connect, servers, lookups) on :mod:`.session` (raw
calls), with :mod:`.nova`, :mod:`.neutron` and :mod:`.cinder` mixins;
:mod:`.models` (what calls return), :mod:`.errors`, :mod:`.retry`,
:mod:`.redact`; :mod:`.resources` resolves what ``server_spec`` references.
"""
