"""The wire contract with the runner: found at run time, mapped onto the provider.

The built-in contract (``fleeting_openstack/proto/fleeting.proto``) is
fleeting's, written from the fleeting Go module that tests/conformance pins.
Every gitlab-runner binary also embeds the exact contract it speaks as
serialized ``FileDescriptorProto``s, so the plugin reads the contract from the
runner that started it and serves that (a runner built with a newer fleeting
is served its own contract), and serves the built-in one when none can be read
(another mount namespace, an unreadable binary).

- :mod:`.scan`: find embedded descriptors in any bytes (no gRPC, no I/O);
- :mod:`.discovery`: sources in order (override, parent executable,
  built-in), choice of the service, import resolution, the on-disk cache;
- :mod:`.mapping`: the plugin's model (Init/Update/... fields) matched onto
  the discovered messages by name, synonym and type, with conversions;
- :mod:`.servedcontract`: the contract being served (every method mapped) and
  the holder that finds it once, after the handshake;
- :mod:`.service`: the fleeting gRPC service on it;
- :mod:`.rawfields`: a secret-free dump of a message nobody can decode;
- :mod:`.protofmt`: a descriptor printed back as ``.proto`` text.
"""
