"""The guest's ACPI OSPM on ARM virt: arm64 Linux (6.11 on) and the CPU hotplug block behind the GED.

The same protocol as on pc/q35 (vmd.guest.acpi_ospm: the GED's CPU hotplug event stands for the
SCI, `_OST` and eject are the same), with arm64's view of CPUs: every possible CPU is *present*
from boot (a GICC entry each, online capable), and what hotplug changes is which of them are
*enabled* (ACPI `_STA` 0xF, so PSCI CPU_ON may start them).  Linux's present mask never changes;
the guest model's `present` set is what the kernel calls enabled (`/sys/devices/system/cpu/enabled`).
"""

from __future__ import annotations

from vmd.guest.acpi_ospm import AcpiOspm


class GedOspm(AcpiOspm):
    all_possible_present = True  # arm64: present = possible; hotplug enables and disables
