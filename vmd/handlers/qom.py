"""QOM introspection."""

from __future__ import annotations

from vmd.handlers.context import CommandContext
from vmd.handlers.registry import handles
from vmd.qapi.compiled import ObjectPropertyInfo, QomListArgs


@handles("qom-list")
def qom_list(ctx: CommandContext, args: QomListArgs) -> list[ObjectPropertyInfo]:
    obj = ctx.vm.qom.resolve(args.path)
    return [
        ObjectPropertyInfo(name=prop.name, type=prop.type, description=prop.description)
        for prop in obj.properties.values()
    ]
