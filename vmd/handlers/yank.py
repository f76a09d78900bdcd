"""Yank: drop the connections of a monitor's chardev, even while other commands are stuck."""

from __future__ import annotations

from vmd.errors import DeviceNotFound
from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import YankArgs, YankInstance, YankInstanceChardev, YankInstanceType


@handles("query-yank")
def query_yank(ctx: CommandContext, args: None) -> list[YankInstance]:
    return [
        YankInstance(type=YankInstanceType.CHARDEV, branch=YankInstanceChardev(id=chardev))
        for chardev in ctx.daemon.yankable_chardevs()
    ]


@handles("yank")
def yank(ctx: CommandContext, args: YankArgs) -> None:
    chardevs = set(ctx.daemon.yankable_chardevs())
    targets = []
    # All or nothing, as QEMU: every instance must exist before any is yanked.
    for instance in args.instances:
        branch = instance.branch
        if not isinstance(branch, YankInstanceChardev) or branch.id not in chardevs:
            raise DeviceNotFound("Instance not found")
        targets.append(branch.id)
    for chardev in targets:
        ctx.daemon.yank_chardev(chardev)
