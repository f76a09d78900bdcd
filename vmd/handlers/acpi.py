"""ACPI OSPM status."""

from __future__ import annotations

from vmd.errors import GenericError
from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.machine.hotplug.controller import NO_ACPI_DEVICE
from vmd.qapi.compiled import ACPIOSTInfo


@handles("query-acpi-ospm-status")
def query_acpi_ospm_status(ctx: CommandContext, args: None) -> list[ACPIOSTInfo]:
    controller = ctx.vm.cpu_manager.controller
    if controller is None:
        raise GenericError(NO_ACPI_DEVICE)  # QEMU's answer on a machine without an ACPI device
    return controller.ospm_status()
