"""QOM introspection commands."""

from __future__ import annotations

from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import Any_, QapiStruct


class QomListArgs(QapiStruct):
    path: str


class QomGetArgs(QapiStruct):
    path: str
    property: str


class QomSetArgs(QapiStruct):
    path: str
    property: str
    value: Any_


class QomListTypesArgs(QapiStruct):
    implements: str | None = None
    abstract: bool | None = None


class TypenameArgs(QapiStruct):
    typename: str


class ObjectTypeInfo(QapiStruct):
    name: str
    abstract: bool | None = None
    parent: str | None = None


class ObjectPropertyInfo(QapiStruct):
    name: str
    type: str
    description: str | None = None
    default_value: Any_ = None


COMMANDS = (
    CommandSpec(
        "qom-list",
        "The properties (children and links included) of the object at `path`.",
        args=QomListArgs,
        returns=list[ObjectPropertyInfo],
        allow_preconfig=True,
    ),
    CommandSpec(
        "qom-list-types",
        "The QOM types vmd has (with QEMU's names and parents), or those implementing `implements`.",
        args=QomListTypesArgs,
        returns=list[ObjectTypeInfo],
        allow_preconfig=True,
    ),
    CommandSpec(
        "device-list-properties",
        "The properties a device of type `typename` is created with (QEMU leaves out the ones every "
        "device has: realized, hotplugged, hotpluggable, parent_bus, and type).",
        args=TypenameArgs,
        returns=list[ObjectPropertyInfo],
        allow_preconfig=True,
    ),
    CommandSpec(
        "qom-list-properties",
        "Every property an object of type `typename` has.",
        args=TypenameArgs,
        returns=list[ObjectPropertyInfo],
        allow_preconfig=True,
    ),
    CommandSpec("qom-get", "Read a QOM property.", args=QomGetArgs, returns=Any_, allow_preconfig=True),
    CommandSpec("qom-set", "Write a QOM property.", args=QomSetArgs, allow_preconfig=True),
)
