"""A ``FileDescriptorProto`` printed back as ``.proto`` text.

Enough of the language for what a contract uses (messages, nested messages and
enums, maps, oneofs, services, streaming); options other than a map entry's
are left out, so this is for people to read, not for protoc.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2

F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    F.TYPE_DOUBLE: "double",
    F.TYPE_FLOAT: "float",
    F.TYPE_INT64: "int64",
    F.TYPE_UINT64: "uint64",
    F.TYPE_INT32: "int32",
    F.TYPE_FIXED64: "fixed64",
    F.TYPE_FIXED32: "fixed32",
    F.TYPE_BOOL: "bool",
    F.TYPE_STRING: "string",
    F.TYPE_BYTES: "bytes",
    F.TYPE_UINT32: "uint32",
    F.TYPE_SFIXED32: "sfixed32",
    F.TYPE_SFIXED64: "sfixed64",
    F.TYPE_SINT32: "sint32",
    F.TYPE_SINT64: "sint64",
}


def _type(field: descriptor_pb2.FieldDescriptorProto) -> str:
    return _SCALARS.get(field.type) or field.type_name.lstrip(".")


def _message(msg: descriptor_pb2.DescriptorProto, indent: str) -> list[str]:
    lines = [f"{indent}message {msg.name} {{"]
    inner = indent + "  "
    maps = {n.name: n for n in msg.nested_type if n.options.map_entry}
    for enum in msg.enum_type:
        lines += _enum(enum, inner)
    for nested in msg.nested_type:
        if not nested.options.map_entry:
            lines += _message(nested, inner)
    oneofs: dict[int, list[str]] = {}
    for field in msg.field:
        entry = maps.get(field.type_name.rsplit(".", 1)[-1]) if field.label == F.LABEL_REPEATED else None
        if entry is not None:
            key, value = entry.field[0], entry.field[1]
            text = f"map<{_type(key)}, {_type(value)}> {field.name} = {field.number};"
        else:
            label = "repeated " if field.label == F.LABEL_REPEATED else "optional " if field.proto3_optional else ""
            text = f"{label}{_type(field)} {field.name} = {field.number};"
        if field.HasField("oneof_index") and not field.proto3_optional:
            oneofs.setdefault(field.oneof_index, []).append(text)
        else:
            lines.append(inner + text)
    for index, texts in oneofs.items():
        lines.append(f"{inner}oneof {msg.oneof_decl[index].name} {{")
        lines += [inner + "  " + t for t in texts]
        lines.append(inner + "}")
    lines.append(indent + "}")
    return lines


def _enum(enum: descriptor_pb2.EnumDescriptorProto, indent: str) -> list[str]:
    return [f"{indent}enum {enum.name} {{"] + [f"{indent}  {v.name} = {v.number};" for v in enum.value] + [indent + "}"]


def render(proto: descriptor_pb2.FileDescriptorProto) -> str:
    lines = [f"// {proto.name}", f'syntax = "{proto.syntax or "proto2"}";']
    if proto.package:
        lines.append(f"package {proto.package};")
    lines += [f'import "{dep}";' for dep in proto.dependency]
    for enum in proto.enum_type:
        lines += ["", *_enum(enum, "")]
    for msg in proto.message_type:
        lines += ["", *_message(msg, "")]
    for service in proto.service:
        lines += ["", f"service {service.name} {{"]
        for m in service.method:
            src = ("stream " if m.client_streaming else "") + m.input_type.lstrip(".")
            dst = ("stream " if m.server_streaming else "") + m.output_type.lstrip(".")
            lines.append(f"  rpc {m.name}({src}) returns ({dst});")
        lines.append("}")
    return "\n".join(lines) + "\n"
