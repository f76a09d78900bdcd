"""device_add, device_del and the legacy cpu-add."""

from __future__ import annotations

from typing import Any

from vmd.errors import GenericError
from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.machine.topology import CpuIds
from vmd.qapi.compiled import CpuAddArgs, DeviceDelArgs

# QEMU 5.1's limit for cpu-add: the highest APIC ID its ACPI CPU hotplug tables can describe.
ACPI_CPU_HOTPLUG_ID_LIMIT = 288


@handles("device_add")
async def device_add(ctx: CommandContext, args: dict[str, Any]) -> None:
    # A slot whose CPU was just ejected is free once its thread is gone (a moment).
    await ctx.vm.cpu_hotplug.releases_done()
    ctx.vm.cpu_hotplug.device_add(args, hotplug=True)


@handles("device_del")
def device_del(ctx: CommandContext, args: DeviceDelArgs) -> None:
    ctx.vm.cpu_hotplug.device_del(args.id)


@handles("cpu-add")
async def cpu_add(ctx: CommandContext, args: CpuAddArgs) -> None:
    """QEMU 5.1's pc_hot_add_cpu: the CPU index becomes an APIC ID through the topology (past
    maxcpus too), then it is plugged as device_add would plug it, without an id."""
    hotplug = ctx.vm.cpu_hotplug
    await hotplug.releases_done()
    if not hotplug.board.hotpluggable_cpus:
        raise GenericError("Not supported")
    index = args.id
    if index < 0:
        raise GenericError(f"Invalid CPU id: {index}")
    topology = hotplug.topology
    rest, thread = divmod(index, topology.threads)
    rest, core = divmod(rest, topology.cores)
    socket, die = divmod(rest, topology.dies)
    apic_id = topology.apic_id_of(CpuIds(socket, die, core, thread))
    if apic_id >= ACPI_CPU_HOTPLUG_ID_LIMIT:
        raise GenericError(f"Unable to add CPU: {index}, resulting APIC ID ({apic_id}) is too large")
    hotplug.device_add({"driver": hotplug.cpu_type, "apic-id": apic_id}, hotplug=True, legacy_cpu_add=True)
