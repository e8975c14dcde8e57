"""The wire contract with the runner: found at run time, mapped onto the provider.

fleeting's ``.proto`` could not be read where this plugin was built (the Go
module is refused by the module proxy, docs/protocol.md), but every
gitlab-runner binary embeds the exact contract it speaks as serialized
``FileDescriptorProto``s. So the plugin reads the contract from the runner
that started it and serves that, falling back to the built-in reconstruction
(``fleeting_openstack/proto/fleeting.proto``) only when none can be read.

- :mod:`.scan`: find embedded descriptors in any bytes (no gRPC, no I/O);
- :mod:`.discovery`: sources in order (override, parent executable,
  built-in), choice of the service, import resolution, the on-disk cache;
- :mod:`.mapping`: the plugin's model (Init/Update/... fields) matched onto
  the discovered messages by name, synonym and type, with conversions;
- :mod:`.rawfields`: a secret-free dump of a message nobody can decode;
- :mod:`.protofmt`: a descriptor printed back as ``.proto`` text.
"""
