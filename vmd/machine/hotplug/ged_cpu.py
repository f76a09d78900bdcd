"""ARM virt's CPU hotplug: the ACPI CPU hotplug block behind the Generic Event Device (GED).

The same register block as pc/q35's modern interface (vmd.machine.hotplug.acpi_cpu), mapped at
0x090C0000 on virt (the ARMv8 vCPU hotplug RFC's VIRT_CPUHP_ACPI, free in QEMU 7.2's memory map),
announced by the GED's CPU hotplug event (selector bit 3, 0x8, as upstream QEMU 9.1 numbers it)
instead of the SCI.  ARM has no legacy mode: the block is modern from power-on, so an unplug can
be requested before the guest boots and simply stays pending.  Every possible CPU is *present*
(flags bit 5, `_STA` 0xD while its slot is empty, 0xF once plugged), which is what arm64 Linux
(6.11 on) needs: it never changes its present mask.
"""

from __future__ import annotations

from collections.abc import Callable

from vmd.machine.hotplug.acpi_cpu import AcpiCpuHotplug
from vmd.qapi.registry import EventSink

GED_CPU_HOTPLUG_EVENT = 0x8  # ACPI_GED_CPU_HOTPLUG_EVT
GED_PWR_DOWN_EVENT = 0x2  # ACPI_GED_PWR_DOWN_EVT
CPUHP_BASE = 0x090C0000
STA_PRESENT_ENABLED = 0xF
STA_PRESENT_DISABLED = 0xD


class GedCpuHotplug(AcpiCpuHotplug):
    """The block for `slots` CPU slots, modern from the start."""

    def __init__(
        self,
        slots: int,
        *,
        cpu_type: str,
        occupant_id: Callable[[int], str | None],
        emit: EventSink,
        on_taken: Callable[[int], None],
    ) -> None:
        super().__init__(slots, cpu_type=cpu_type, occupant_id=occupant_id, emit=emit, on_taken=on_taken)
        self.plugged_slots: set[int] = set()
        self.switch_to_modern()

    def status(self, slot: int) -> int:
        """The slot's `_STA`: every possible CPU is present, enabled while plugged."""
        return STA_PRESENT_ENABLED if slot in self.plugged_slots else STA_PRESENT_DISABLED

    def plugged(self, index: int, *, hotplug: bool) -> None:
        self.plugged_slots.add(index)
        super().plugged(index, hotplug=hotplug)

    def gone(self, index: int) -> None:
        self.plugged_slots.discard(index)
        super().gone(index)
