"""`query-qmp-schema` from the registry, in QEMU's SchemaInfo shape.

Entities come out as QEMU emits them: every command and event of one target
(QEMU builds a schema per target), then each type in the order it was first
referenced.  Builtins keep their names; every other
type is named by a decimal string in order of first use (`mask=True`, what goes
on the wire, as QEMU release builds do) or by its Python name (`mask=False`, the
readable copy committed under `schemas/`).  Clients such as libvirt follow the
names, so masking is invisible to them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vmd.qapi.declared import members_of, type_of
from vmd.qapi.registry import DEFAULT_TARGET, Schema, on_target
from vmd.qapi.typeinfo import (
    AlternateType,
    ArrayType,
    BuiltinType,
    EnumType,
    StructType,
    TypeRef,
    struct_name,
    variants_of,
)
from vmd.qapi.types import QapiStruct

_JSON_TYPE = {
    "str": "string",
    "int": "int",
    "number": "number",
    "bool": "boolean",
    "null": "null",
    "any": "value",
}


class EmptyStruct(QapiStruct):
    """QEMU's `q_empty`: the argument type of commands without arguments, and the `{}` return."""

    qapi_name: ClassVar[str | None] = "q_empty"


class _Namer:
    """Names types as they are first referenced and remembers which still need describing."""

    def __init__(self, mask: bool, target: str) -> None:
        self.mask = mask
        self.target = target
        self.names: dict[TypeRef, str] = {}
        self.pending: list[TypeRef] = []
        self.masked = 0

    def name(self, tref: TypeRef) -> str:
        key = _key(tref)
        if key in self.names:
            return self.names[key]
        if isinstance(key, BuiltinType):
            name = key.name
        elif isinstance(key, ArrayType):
            name = f"[{self.name(key.element)}]"
        elif self.mask:
            name = str(self.masked)
            self.masked += 1
        else:
            name = _readable(key)
        self.names[key] = name
        self.pending.append(key)
        return name


def _key(tref: TypeRef) -> TypeRef:
    """Introspection knows one `int`: every sized integer collapses into it, as in QEMU."""
    match tref:
        case BuiltinType(name=name):
            return BuiltinType(name)
        case ArrayType(element=element):
            return ArrayType(_key(element))
        case AlternateType(choices=choices):
            return AlternateType(tuple(_key(choice) for choice in choices))
    return tref


def _readable(tref: TypeRef) -> str:
    match tref:
        case StructType(cls=cls):
            return struct_name(cls)
        case EnumType(cls=cls):
            return cls.__name__
        case AlternateType(choices=choices):
            return "-or-".join(_readable(choice) for choice in choices)
        case BuiltinType(name=name):
            return name
        case ArrayType(element=element):
            return f"{_readable(element)}List"
    raise AssertionError(tref)


def _annotation_ref(annotation: Any) -> TypeRef:
    return StructType(EmptyStruct) if annotation is None else type_of(annotation)


def _describe(tref: TypeRef, namer: _Namer) -> dict[str, Any]:
    name = namer.names[tref]
    match tref:
        case BuiltinType(name=builtin):
            return {"name": name, "json-type": _JSON_TYPE[builtin], "meta-type": "builtin"}
        case ArrayType(element=element):
            return {"name": name, "element-type": namer.name(element), "meta-type": "array"}
        case EnumType(cls=cls):
            values = [member.value for member in cls]
            return {
                "name": name,
                "members": [{"name": v} for v in values],
                "meta-type": "enum",
                "values": values,
            }
        case AlternateType(choices=choices):
            return {
                "name": name,
                "members": [{"type": namer.name(c)} for c in choices],
                "meta-type": "alternate",
            }
        case StructType(cls=cls):
            members = []
            for member in members_of(cls):
                if not on_target(member.targets, namer.target):
                    continue
                entry: dict[str, Any] = {"name": member.wire_name}
                if member.optional:
                    entry["default"] = None
                entry["type"] = namer.name(member.type)
                members.append(entry)
            info: dict[str, Any] = {"name": name, "members": members, "meta-type": "object"}
            union = variants_of(cls)
            if union is not None:
                tag, variants = union
                info["tag"] = tag
                # Every case of the tag's enum is a variant; one without members is the empty struct.
                tag_type = next(m.type for m in members_of(cls) if m.wire_name == tag)
                assert isinstance(tag_type, EnumType)
                branches = [(case.value, variants.get(case.value, EmptyStruct)) for case in tag_type.cls]
                info["variants"] = [
                    {"case": case, "type": namer.name(StructType(cls))} for case, cls in branches
                ]
            return info
    raise AssertionError(tref)


def build_schema_info(
    schema: Schema, *, mask: bool = True, target: str = DEFAULT_TARGET
) -> list[dict[str, Any]]:
    """query-qmp-schema of `target`: its commands and events, and the types they reach."""
    schema = schema.for_target(target)
    namer = _Namer(mask, target)
    entities: list[dict[str, Any]] = []
    for command in schema.commands.values():
        entry: dict[str, Any] = {
            "name": command.name,
            "ret-type": namer.name(_annotation_ref(command.returns)),
            "meta-type": "command",
            "arg-type": namer.name(_annotation_ref(command.args)),
        }
        if command.allow_oob:
            entry["allow-oob"] = True
        if command.features:
            entry["features"] = list(command.features)
        entities.append(entry)
    for event in schema.events.values():
        entry = {
            "name": event.name,
            "meta-type": "event",
            "arg-type": namer.name(_annotation_ref(event.data)),
        }
        if event.features:
            entry["features"] = list(event.features)
        entities.append(entry)
    done = 0
    while done < len(namer.pending):  # describing a type may reference new ones
        entities.append(_describe(namer.pending[done], namer))
        done += 1
    return entities
