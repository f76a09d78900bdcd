"""device_add, device_del and the legacy cpu-add."""

from __future__ import annotations

from typing import Any

from vmd.devices.virtio_serial import DRIVERS as VIRTIO_SERIAL_DRIVERS
from vmd.errors import GenericError
from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import CpuAddArgs, DeviceDelArgs


@handles("device_add")
async def device_add(ctx: CommandContext, args: dict[str, Any]) -> None:
    driver = args.get("driver")
    if isinstance(driver, str) and driver in VIRTIO_SERIAL_DRIVERS:
        # They exist for the guest agent's channel, which libvirt gives on the command line.
        raise GenericError(f"vmd creates {driver} devices at start-up only (-device), not with device_add")
    # A slot whose CPU was just ejected is free once its threads are gone (a moment).
    await ctx.vm.cpu_manager.releases_done()
    ctx.vm.cpu_manager.device_add(args, hotplug=True)


@handles("device_del")
async def device_del(ctx: CommandContext, args: DeviceDelArgs) -> None:
    release = ctx.vm.cpu_manager.device_del(args.id)
    if release is not None:
        # Released at once (a pseries core no guest took): DEVICE_DELETED before the reply.
        await release


@handles("cpu-add")
async def cpu_add(ctx: CommandContext, args: CpuAddArgs) -> None:
    """QEMU 1.5-5.1's cpu-add: the board turns the index into a device_add without an id
    (boards without CPU hotplug: "Not supported")."""
    await ctx.vm.cpu_manager.releases_done()
    ctx.vm.cpu_manager.legacy_cpu_add(args.id)
