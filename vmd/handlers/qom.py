"""QOM introspection."""

from __future__ import annotations

from typing import Any

from vmd.boards.qom_types import ClassProperty, types_of
from vmd.errors import DeviceNotFound, GenericError
from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.machine.qom import QomObject, QomProperty
from vmd.qapi.compiled import (
    ObjectPropertyInfo,
    ObjectTypeInfo,
    QomGetArgs,
    QomListArgs,
    QomListTypesArgs,
    QomSetArgs,
    TypenameArgs,
)


@handles("qom-list")
def qom_list(ctx: CommandContext, args: QomListArgs) -> list[ObjectPropertyInfo]:
    obj = ctx.vm.qom.resolve(args.path)
    return [
        ObjectPropertyInfo(name=prop.name, type=prop.type, description=prop.description)
        for prop in obj.list_properties()
    ]


def _property(obj: QomObject, name: str) -> QomProperty:
    prop = obj.get_property(name)
    if prop is None:
        raise GenericError(f"Property '{obj.type_name}.{name}' not found")
    return prop


@handles("qom-get")
def qom_get(ctx: CommandContext, args: QomGetArgs) -> Any:
    obj = ctx.vm.qom.resolve(args.path)
    prop = _property(obj, args.property)
    if prop.get is None:
        raise GenericError(f"Property '{obj.type_name}.{args.property}' is not readable")
    return prop.get()


@handles("qom-set")
async def qom_set(ctx: CommandContext, args: QomSetArgs) -> None:
    # A CPU package's `present` plugs its slot: one just ejected is free once its threads are gone.
    await ctx.vm.cpu_manager.releases_done()
    obj = ctx.vm.qom.resolve(args.path)
    prop = _property(obj, args.property)
    if prop.set is None:
        raise GenericError(f"Property '{obj.type_name}.{args.property}' is not writable")
    prop.set(args.value)


@handles("qom-list-types")
def qom_list_types(ctx: CommandContext, args: QomListTypesArgs) -> list[ObjectTypeInfo]:
    # QEMU lists abstract types only when asked to, and `abstract` only where it is true.
    with_abstract = args.abstract is True
    table = types_of(ctx.vm.board.target)
    if args.implements is not None and args.implements not in table.types:
        return []
    return [
        ObjectTypeInfo(name=t.name, abstract=True if t.abstract else None, parent=t.parent)
        for t in table.types.values()
        if (with_abstract or not t.abstract)
        and (args.implements is None or table.implements(t.name, args.implements))
    ]


def _info(prop: ClassProperty, *, with_default: bool) -> ObjectPropertyInfo:
    return ObjectPropertyInfo(
        name=prop.name,
        type=prop.type,
        description=prop.description,
        default_value=prop.default if with_default else None,
    )


@handles("device-list-properties")
def device_list_properties(ctx: CommandContext, args: TypenameArgs) -> list[ObjectPropertyInfo]:
    properties = types_of(ctx.vm.board.target).device_properties(args.typename)
    return [_info(prop, with_default=True) for prop in properties]


@handles("qom-list-properties")
def qom_list_properties(ctx: CommandContext, args: TypenameArgs) -> list[ObjectPropertyInfo]:
    table = types_of(ctx.vm.board.target)
    if args.typename not in table.types:
        raise DeviceNotFound(f"Class '{args.typename}' not found")
    # QEMU 7.2 gives defaults in device-list-properties only.
    return [_info(prop, with_default=False) for prop in table.class_properties(args.typename)]
