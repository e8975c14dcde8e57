"""The one adapter that talks to OpenStack (Keystone, Nova, Neutron, Glance): bounded, retried where safe, redacted. Knows nothing of gRPC or fleeting."""
