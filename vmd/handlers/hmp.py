"""human-monitor-command: one HMP command line, run as QEMU 7.2 runs it.

QEMU builds a fresh human monitor for each call: its current CPU is `cpu-index` when given (else
the first CPU), its output is what the call returns, and an HMP command that fails prints
"Error: ..." into that output: the QMP command itself succeeds.  Every command goes through the
QMP command it stands for (device_add, device_del, stop, cont, quit, query-cpus-fast,
query-hotpluggable-cpus, query-status), as QEMU's HMP commands call the qmp_* functions, so the
checks, the errors and the events are the QMP ones.  The parsing and the formats are vmd.hmp's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from vmd.boards.qom_types import device_models, types_of
from vmd.errors import GenericError, QmpError
from vmd.handlers import control, cpus, qdev, run_state
from vmd.handlers.context import CommandContext
from vmd.hmp import text
from vmd.hmp.parser import HmpFailure, device_help, help_text, parse
from vmd.qapi.compiled import DeviceDelArgs, HumanMonitorCommandArgs


class _Monitor:
    """The monitor of one human-monitor-command: its current CPU (QEMU's mon_get_cpu)."""

    def __init__(self, ctx: CommandContext) -> None:
        self._ctx = ctx
        self._cpu: int | None = None

    def set_cpu(self, index: int) -> bool:
        """monitor_set_cpu: False when no present vCPU has that cpu-index."""
        if index not in self._present():
            return False
        self._cpu = index
        return True

    def current_cpu(self) -> int:
        """The current CPU's index: the one set if it is still there, else the first CPU created
        (-1 without any, QEMU's UNASSIGNED_CPU_INDEX)."""
        present = self._present()
        if self._cpu is not None and self._cpu in present:
            return self._cpu
        return present[0] if present else -1

    def _present(self) -> list[int]:
        return [index for index, _ in self._ctx.vm.slots.present_vcpus()]


Command = Callable[[CommandContext, _Monitor, Mapping[str, Any]], Awaitable[str]]


async def _cont(ctx: CommandContext, monitor: _Monitor, args: Mapping[str, Any]) -> str:
    try:
        await run_state.cont(ctx, None)
    except QmpError as err:
        return text.error(err)
    return ""


async def _stop(ctx: CommandContext, monitor: _Monitor, args: Mapping[str, Any]) -> str:
    await run_state.stop(ctx, None)
    return ""


async def _quit(ctx: CommandContext, monitor: _Monitor, args: Mapping[str, Any]) -> str:
    control.quit_(ctx, None)
    return ""


async def _cpu(ctx: CommandContext, monitor: _Monitor, args: Mapping[str, Any]) -> str:
    return "" if monitor.set_cpu(args["index"]) else "invalid CPU index\n"


async def _device_add(ctx: CommandContext, monitor: _Monitor, args: Mapping[str, Any]) -> str:
    wanted = device_help(args)
    target = ctx.vm.board.target
    if wanted is not None and wanted.driver is None:
        return text.device_list(device_models(target))
    if wanted is not None and wanted.driver is not None:
        try:
            properties = types_of(target).device_properties(wanted.driver)
        except QmpError as err:
            return f"{err.desc}\n{err.hint}"  # reported as it is, without "Error: "
        return text.device_options(wanted.driver, properties)
    try:
        await qdev.device_add(ctx, dict(args))
    except QmpError as err:
        return text.error(err)
    return ""


async def _device_del(ctx: CommandContext, monitor: _Monitor, args: Mapping[str, Any]) -> str:
    try:
        await qdev.device_del(ctx, DeviceDelArgs(id=args["id"]))
    except QmpError as err:
        return text.error(err)
    return ""


async def _help(ctx: CommandContext, monitor: _Monitor, args: Mapping[str, Any]) -> str:
    return help_text(args.get("name"))


async def _info(ctx: CommandContext, monitor: _Monitor, args: Mapping[str, Any]) -> str:
    return help_text("info")


async def _info_cpus(ctx: CommandContext, monitor: _Monitor, args: Mapping[str, Any]) -> str:
    return text.cpus(cpus.query_cpus_fast(ctx, None), monitor.current_cpu())


async def _info_hotpluggable_cpus(ctx: CommandContext, monitor: _Monitor, args: Mapping[str, Any]) -> str:
    try:
        slots = cpus.hotpluggable_slots(ctx)
    except QmpError as err:
        return text.error(err)
    return text.hotpluggable_cpus(slots.hotpluggable())


async def _info_status(ctx: CommandContext, monitor: _Monitor, args: Mapping[str, Any]) -> str:
    return text.status(run_state.query_status(ctx, None))


# By the command's path in vmd.hmp.table (a test checks the two agree).
COMMANDS: dict[str, Command] = {
    "cont": _cont,
    "cpu": _cpu,
    "device_add": _device_add,
    "device_del": _device_del,
    "help": _help,
    "info": _info,
    "info cpus": _info_cpus,
    "info hotpluggable-cpus": _info_hotpluggable_cpus,
    "info status": _info_status,
    "quit": _quit,
    "stop": _stop,
}


# Registered by vmd.handlers.table, which imports this module at the first call (start-up time).
async def human_monitor_command(ctx: CommandContext, args: HumanMonitorCommandArgs) -> str:
    monitor = _Monitor(ctx)
    if args.cpu_index is not None and not monitor.set_cpu(args.cpu_index):
        raise GenericError("Parameter 'cpu-index' expects a CPU number")
    try:
        invocation = parse(args.command_line)
    except HmpFailure as failure:
        return text.monitor_output(failure.text)
    if invocation is None:
        return ""
    output = await COMMANDS[invocation.path](ctx, monitor, invocation.args)
    return text.monitor_output(output)
