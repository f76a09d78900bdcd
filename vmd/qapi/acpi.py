"""ACPI OSPM status: what the guest reported (_OST) for each hot-pluggable slot (QEMU 7.2)."""

from __future__ import annotations

from vmd.qapi.registry import CommandSpec, EventSpec
from vmd.qapi.types import QapiDeclaredEnum, QapiStruct


class ACPISlotType(QapiDeclaredEnum):
    DIMM = "DIMM"
    CPU = "CPU"


class ACPIOSTInfo(QapiStruct):
    device: str | None = None
    slot: str
    slot_type: ACPISlotType
    source: int
    status: int


class AcpiDeviceOstData(QapiStruct):
    info: ACPIOSTInfo


COMMANDS = (
    CommandSpec(
        "query-acpi-ospm-status",
        "The last _OST of every CPU slot (once the guest uses the modern CPU hotplug interface).",
        returns=list[ACPIOSTInfo],
    ),
)

ACPI_DEVICE_OST = EventSpec("ACPI_DEVICE_OST", "The guest reported _OST for a slot.", data=AcpiDeviceOstData)
EVENTS = (ACPI_DEVICE_OST,)
