"""Run-state commands."""

from __future__ import annotations

from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import ShutdownCause, StatusInfo


@handles("query-status")
def query_status(ctx: CommandContext, args: None) -> StatusInfo:
    runstate = ctx.vm.runstate
    return StatusInfo(running=runstate.running, singlestep=False, status=runstate.state)


@handles("stop")
async def stop(ctx: CommandContext, args: None) -> None:
    await ctx.vm.stop()


@handles("cont")
async def cont(ctx: CommandContext, args: None) -> None:
    await ctx.vm.cont()


@handles("system_reset")
async def system_reset(ctx: CommandContext, args: None) -> None:
    # Unplugs the reset completes (pending pseries ones) end in DEVICE_DELETED before RESET.
    for release in ctx.vm.cpu_manager.complete_unplugs_at_reset():
        await release
    ctx.vm.reset(ShutdownCause.HOST_QMP_SYSTEM_RESET)


@handles("system_powerdown")
def system_powerdown(ctx: CommandContext, args: None) -> None:
    ctx.vm.powerdown()
