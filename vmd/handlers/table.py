"""Every command handler, by command name: importing the handler modules registers them."""

from __future__ import annotations

from vmd.handlers import (  # noqa: F401 - imported for their @handles registrations
    acpi,
    block,
    control,
    cpu_models,
    cpus,
    dump,
    host,
    machine,
    migration,
    qdev,
    qom,
    run_state,
    stats,
    vcpus_layer2,
    vmd_guest,
    yank,
)
from vmd.handlers.bind import HANDLERS, Handler, handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import HumanMonitorCommandArgs


@handles("human-monitor-command")
async def human_monitor_command(ctx: CommandContext, args: HumanMonitorCommandArgs) -> str:
    """vmd.handlers.hmp's; HMP's tables and parser load at the first call, not at start-up."""
    from vmd.handlers import hmp

    return await hmp.human_monitor_command(ctx, args)


def all_handlers() -> dict[str, Handler]:
    return HANDLERS
