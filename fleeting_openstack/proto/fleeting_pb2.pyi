from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConnectorConfig(_message.Message):
    __slots__ = ("os", "arch", "protocol", "protocol_port", "username", "password", "key", "use_static_credentials", "keepalive", "timeout")
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCH_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_PORT_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    USE_STATIC_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    KEEPALIVE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    os: str
    arch: str
    protocol: str
    protocol_port: int
    username: str
    password: str
    key: bytes
    use_static_credentials: bool
    keepalive: int
    timeout: int
    def __init__(self, os: _Optional[str] = ..., arch: _Optional[str] = ..., protocol: _Optional[str] = ..., protocol_port: _Optional[int] = ..., username: _Optional[str] = ..., password: _Optional[str] = ..., key: _Optional[bytes] = ..., use_static_credentials: _Optional[bool] = ..., keepalive: _Optional[int] = ..., timeout: _Optional[int] = ...) -> None: ...

class Settings(_message.Message):
    __slots__ = ("connector_config",)
    CONNECTOR_CONFIG_FIELD_NUMBER: _ClassVar[int]
    connector_config: ConnectorConfig
    def __init__(self, connector_config: _Optional[_Union[ConnectorConfig, _Mapping]] = ...) -> None: ...

class InitRequest(_message.Message):
    __slots__ = ("config", "settings")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    config: bytes
    settings: Settings
    def __init__(self, config: _Optional[bytes] = ..., settings: _Optional[_Union[Settings, _Mapping]] = ...) -> None: ...

class ProviderInfo(_message.Message):
    __slots__ = ("id", "max_size", "version", "build_info", "capabilities")
    ID_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BUILD_INFO_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    max_size: int
    version: str
    build_info: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., max_size: _Optional[int] = ..., version: _Optional[str] = ..., build_info: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class InitResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: ProviderInfo
    def __init__(self, info: _Optional[_Union[ProviderInfo, _Mapping]] = ...) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Instance(_message.Message):
    __slots__ = ("id", "state")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: str
    def __init__(self, id: _Optional[str] = ..., state: _Optional[str] = ...) -> None: ...

class UpdateResponse(_message.Message):
    __slots__ = ("instances",)
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedCompositeFieldContainer[Instance]
    def __init__(self, instances: _Optional[_Iterable[_Union[Instance, _Mapping]]] = ...) -> None: ...

class IncreaseRequest(_message.Message):
    __slots__ = ("delta",)
    DELTA_FIELD_NUMBER: _ClassVar[int]
    delta: int
    def __init__(self, delta: _Optional[int] = ...) -> None: ...

class IncreaseResponse(_message.Message):
    __slots__ = ("succeeded", "error")
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    succeeded: int
    error: str
    def __init__(self, succeeded: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class DecreaseRequest(_message.Message):
    __slots__ = ("instances",)
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, instances: _Optional[_Iterable[str]] = ...) -> None: ...

class DecreaseResponse(_message.Message):
    __slots__ = ("succeeded", "error")
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    succeeded: _containers.RepeatedScalarFieldContainer[str]
    error: str
    def __init__(self, succeeded: _Optional[_Iterable[str]] = ..., error: _Optional[str] = ...) -> None: ...

class ConnectInfoRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ConnectInfo(_message.Message):
    __slots__ = ("connector_config", "id", "external_addr", "internal_addr", "expires")
    CONNECTOR_CONFIG_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ADDR_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_ADDR_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    connector_config: ConnectorConfig
    id: str
    external_addr: str
    internal_addr: str
    expires: int
    def __init__(self, connector_config: _Optional[_Union[ConnectorConfig, _Mapping]] = ..., id: _Optional[str] = ..., external_addr: _Optional[str] = ..., internal_addr: _Optional[str] = ..., expires: _Optional[int] = ...) -> None: ...

class ConnectInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: ConnectInfo
    def __init__(self, info: _Optional[_Union[ConnectInfo, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShutdownRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShutdownResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SuspendRequest(_message.Message):
    __slots__ = ("instances",)
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, instances: _Optional[_Iterable[str]] = ...) -> None: ...

class SuspendResponse(_message.Message):
    __slots__ = ("succeeded", "error")
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    succeeded: _containers.RepeatedScalarFieldContainer[str]
    error: str
    def __init__(self, succeeded: _Optional[_Iterable[str]] = ..., error: _Optional[str] = ...) -> None: ...

class ResumeRequest(_message.Message):
    __slots__ = ("instances",)
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    instances: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, instances: _Optional[_Iterable[str]] = ...) -> None: ...

class ResumeResponse(_message.Message):
    __slots__ = ("succeeded", "error")
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    succeeded: _containers.RepeatedScalarFieldContainer[str]
    error: str
    def __init__(self, succeeded: _Optional[_Iterable[str]] = ..., error: _Optional[str] = ...) -> None: ...
