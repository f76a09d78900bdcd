"""The protocol's own commands: negotiation, version, introspection, quit."""

from __future__ import annotations

from typing import ClassVar

from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import Any_, QapiDeclaredEnum, QapiStruct


class QMPCapability(QapiDeclaredEnum):
    OOB = "oob"


class QmpCapabilitiesArgs(QapiStruct):
    enable: list[QMPCapability] | None = None


class VersionTriple(QapiStruct):
    major: int
    minor: int
    micro: int


class VersionInfo(QapiStruct):
    qemu: VersionTriple
    package: str


class CommandInfo(QapiStruct):
    name: str


# -- the shape of query-qmp-schema's own reply (QEMU's SchemaInfo union) --------------


class SchemaMetaType(QapiDeclaredEnum):
    BUILTIN = "builtin"
    ENUM = "enum"
    ARRAY = "array"
    OBJECT = "object"
    ALTERNATE = "alternate"
    COMMAND = "command"
    EVENT = "event"


class JSONType(QapiDeclaredEnum):
    STRING = "string"
    NUMBER = "number"
    INT = "int"
    BOOLEAN = "boolean"
    NULL = "null"
    OBJECT = "object"
    ARRAY = "array"
    VALUE = "value"


class SchemaInfoBuiltin(QapiStruct):
    json_type: JSONType


class SchemaInfoEnumMember(QapiStruct):
    name: str
    features: list[str] | None = None


class SchemaInfoEnum(QapiStruct):
    members: list[SchemaInfoEnumMember]
    values: list[str]


class SchemaInfoArray(QapiStruct):
    element_type: str


class SchemaInfoObjectMember(QapiStruct):
    name: str
    type: str
    default: Any_ = None
    features: list[str] | None = None


class SchemaInfoObjectVariant(QapiStruct):
    case: str
    type: str


class SchemaInfoObject(QapiStruct):
    members: list[SchemaInfoObjectMember]
    tag: str | None = None
    variants: list[SchemaInfoObjectVariant] | None = None


class SchemaInfoAlternateMember(QapiStruct):
    type: str


class SchemaInfoAlternate(QapiStruct):
    members: list[SchemaInfoAlternateMember]


class SchemaInfoCommand(QapiStruct):
    arg_type: str
    ret_type: str
    allow_oob: bool | None = None


class SchemaInfoEvent(QapiStruct):
    arg_type: str


class SchemaInfo(QapiStruct):
    """A flat union on `meta-type`; handlers return the introspection data pre-serialized."""

    qapi_tag: ClassVar[str] = "meta-type"
    qapi_variants: ClassVar[dict[str, type[QapiStruct]]] = {
        "builtin": SchemaInfoBuiltin,
        "enum": SchemaInfoEnum,
        "array": SchemaInfoArray,
        "object": SchemaInfoObject,
        "alternate": SchemaInfoAlternate,
        "command": SchemaInfoCommand,
        "event": SchemaInfoEvent,
    }

    name: str
    meta_type: SchemaMetaType
    features: list[str] | None = None


COMMANDS = (
    CommandSpec(
        "qmp_capabilities",
        "Leave capabilities negotiation and enable the listed capabilities.",
        args=QmpCapabilitiesArgs,
        negotiation=True,
        allow_preconfig=True,
    ),
    CommandSpec(
        "query-version",
        "The QEMU version whose behaviour vmd follows, and vmd's own version as the package.",
        returns=VersionInfo,
        allow_preconfig=True,
    ),
    CommandSpec(
        "query-commands",
        "Every command this monitor accepts.",
        returns=list[CommandInfo],
        allow_preconfig=True,
    ),
    CommandSpec(
        "query-qmp-schema",
        "The QMP schema, in QEMU's SchemaInfo shape with masked type names.",
        returns=list[SchemaInfo],
        allow_preconfig=True,
    ),
    CommandSpec(
        "quit",
        "Stop the VM and exit the daemon after replying.",
        allow_preconfig=True,
    ),
)
