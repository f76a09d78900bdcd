"""Which driver the guest OS speaks to a board's CPU hotplug controller through."""

from __future__ import annotations

from vmd.guest.acpi_ospm import AcpiOspm
from vmd.guest.ged_ospm import GedOspm
from vmd.guest.os_model import FirmwareDriver, GuestMachine, GuestOs
from vmd.guest.papr import PaprDriver
from vmd.guest.sclp import SclpDriver
from vmd.machine.hotplug.acpi_cpu import AcpiCpuHotplug
from vmd.machine.hotplug.controller import HotplugController
from vmd.machine.hotplug.ged_cpu import GedCpuHotplug
from vmd.machine.hotplug.sclp_cpu import SclpCpuHotplug
from vmd.machine.hotplug.spapr_drc import SpaprCpuDrcs


def driver_for(
    os: GuestOs, controller: HotplugController | None, machine: GuestMachine
) -> FirmwareDriver | None:
    """The guest's driver for `controller` (None for a board without CPU hotplug)."""
    if controller is None:
        return None
    if isinstance(controller, GedCpuHotplug):
        return GedOspm(os, controller, machine)
    if isinstance(controller, AcpiCpuHotplug):
        return AcpiOspm(os, controller, machine)
    if isinstance(controller, SclpCpuHotplug):
        return SclpDriver(os, controller, machine)
    if isinstance(controller, SpaprCpuDrcs):
        return PaprDriver(os, controller, machine)
    raise TypeError(f"the guest has no driver for {type(controller).__name__}")
