"""ACPI OSPM status."""

from __future__ import annotations

from vmd.handlers.context import CommandContext
from vmd.handlers.registry import handles
from vmd.qapi.compiled import ACPIOSTInfo


@handles("query-acpi-ospm-status")
def query_acpi_ospm_status(ctx: CommandContext, args: None) -> list[ACPIOSTInfo]:
    return ctx.vm.cpu_hotplug.acpi.ospm_status()
