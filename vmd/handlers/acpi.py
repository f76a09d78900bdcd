"""ACPI OSPM status."""

from __future__ import annotations

from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import ACPIOSTInfo


@handles("query-acpi-ospm-status")
def query_acpi_ospm_status(ctx: CommandContext, args: None) -> list[ACPIOSTInfo]:
    return ctx.vm.cpu_hotplug.acpi.ospm_status()
