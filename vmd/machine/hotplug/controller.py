"""The controller seam: the board's CPU hotplug hardware, as the CPU manager drives it.

Each board family has one kind (ACPI's CPU hotplug block on pc/q35 and ARM virt's GED, PAPR DR
connectors on pseries, SCLP on s390x).  The manager tells it what happened to a slot; what the
guest sees of it, and how the guest answers, is the controller's own interface, which the guest
model's driver for that kind talks to (vmd/guest/).
"""

from __future__ import annotations

from typing import Protocol

from vmd.qapi.compiled import ACPIOSTInfo

# QEMU's query-acpi-ospm-status on a machine whose hotplug is not ACPI's (or that has none).
NO_ACPI_DEVICE = "command is not supported, missing ACPI device"


class HotplugController(Protocol):
    def plugged(self, slot: int, *, hotplug: bool) -> None:
        """A CPU was realized in `slot`; a hot-add is announced to the guest."""

    def request_unplug(self, slot: int) -> None:
        """device_del: ask the guest to give the slot up (raises GenericError where the board
        cannot, with its text)."""

    def gone(self, slot: int) -> None:
        """The slot's CPU was ejected and released."""

    def reset(self) -> list[int]:
        """The machine reset: the slots whose pending unplug the reset completes (PAPR's), for
        the manager to release."""

    def ospm_status(self) -> list[ACPIOSTInfo]:
        """query-acpi-ospm-status (GenericError NO_ACPI_DEVICE where the controller is not ACPI's)."""
