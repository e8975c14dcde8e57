"""The one adapter that talks to OpenStack (Keystone, Nova, Neutron, Glance, Cinder):
bounded, retried where safe, redacted. Knows nothing of gRPC or fleeting.

:mod:`.client` (``Cloud``: connect, servers, lookups) on :mod:`.session` (raw
REST calls through the connection :mod:`.sdk` types), with :mod:`.nova`,
:mod:`.neutron` and :mod:`.cinder` mixins; :mod:`.models` (what calls
return), :mod:`.errors`, :mod:`.retry`, :mod:`.redact`, :mod:`.recording`
(the recorder and observer the caller hands in); :mod:`.resources` resolves
what a ``server_spec`` body references. It takes plain values (timeouts, a
retry policy, a body) and imports nothing of the plugin but itself and the
leaf modules.
"""
