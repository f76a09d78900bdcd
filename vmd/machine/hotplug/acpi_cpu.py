"""The ACPI CPU hotplug block of pc/q35 (ICH9-LPC / PIIX4_PM), as QEMU 7.2's guest sees it.

Two interfaces, as in QEMU: *legacy* (a present bitmap: hot-add only) until the
guest's ACPI tables switch it to *modern* (per-slot insert/remove flags, eject,
and _OST reporting).  QEMU's DSDT does that switch when the OS loads it, so a
VM whose guest has not booted yet refuses CPU unplug, exactly as QEMU 7.2 does;
`qom-set ... cpu-hotplug-legacy false` forces it.  The mode survives reboot.

The machine side sets flags and raises the SCI; the guest side (vmd.guest.acpi_ospm) clears
them, reports _OST and writes eject.  Every method runs on the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vmd.errors import GenericError
from vmd.qapi import compiled as ev
from vmd.qapi.compiled import ACPIOSTInfo, ACPISlotType
from vmd.qapi.registry import EventSink
from vmd.records import dataclass

# _OST codes (ACPI spec 6.3.5; the names Linux uses).
OST_DEVICE_CHECK = 0x01
OST_EJECT_REQUEST = 0x03
OST_SUCCESS = 0
OST_DEVICE_BUSY = 0x82
OST_EJECT_IN_PROGRESS = 0x84


@dataclass(slots=True)
class _SlotState:
    inserting: bool = False
    removing: bool = False
    ost_source: int = 0
    ost_status: int = 0


class AcpiCpuHotplug:
    """The block, for `slots` CPU slots.  `occupant_id` gives the id of the CPU in a slot (for
    _OST reports), `emit` sends ACPI_DEVICE_OST, `on_taken` hears that the guest took a new CPU
    in (its _OST for the insert).  The guest's driver attaches with `attach_guest`."""

    def __init__(
        self,
        slots: int,
        *,
        cpu_type: str,
        occupant_id: Callable[[int], str | None],
        emit: EventSink,
        on_taken: Callable[[int], None],
    ) -> None:
        self._count = slots
        self._cpu_type = cpu_type
        self._occupant_id = occupant_id
        self._emit = emit
        self._on_taken = on_taken
        self._on_sci: Callable[[], None] = lambda: None  # until a guest listens
        self._state: dict[int, _SlotState] = {}  # only slots that left the all-zero state
        # Slots that may have an insert or remove event set: the guest's scan looks at these, not
        # at every slot that ever held a CPU (all of them, after a while, at cpu-max).
        self._flagged: set[int] = set()
        self.legacy = True

    def attach_guest(self, on_sci: Callable[[], None]) -> None:
        """The guest's OSPM: `on_sci` is its interrupt."""
        self._on_sci = on_sci

    # -- machine side -------------------------------------------------------------------------

    def switch_to_modern(self) -> None:
        """What the guest's _INI (or qom-set cpu-hotplug-legacy=false) does; no way back."""
        self.legacy = False

    def plugged(self, index: int, *, hotplug: bool) -> None:
        """A CPU was realized in `index`; a hot-add flags it for the guest and raises the SCI."""
        if hotplug:
            self._slot(index).inserting = True
            self._flagged.add(index)
            self._on_sci()

    def request_unplug(self, index: int) -> None:
        """device_del: flag the slot for removal and tell the guest; it decides."""
        if self.legacy:
            raise GenericError(f"acpi: device unplug request for not supported device type: {self._cpu_type}")
        self._slot(index).removing = True
        self._flagged.add(index)
        self._on_sci()

    def raise_remove(self, index: int) -> None:
        """Flag a remove event again (the guest rebooted before it finished an eject it had
        accepted) and raise the SCI: the guest answers it afterwards."""
        self._slot(index).removing = True
        self._flagged.add(index)
        self._on_sci()

    def gone(self, index: int) -> None:
        state = self._state.get(index)
        if state is not None:
            state.inserting = state.removing = False

    # -- guest side ---------------------------------------------------------------------------

    def pending(self) -> tuple[list[int], list[int]]:
        """(slots with an insert event, slots with a remove event): what the guest's CSCN scans."""
        state = self._state
        self._flagged = {i for i in self._flagged if state[i].inserting or state[i].removing}
        inserts = sorted(i for i in self._flagged if state[i].inserting)
        removes = sorted(i for i in self._flagged if state[i].removing)
        return inserts, removes

    def clear_insert(self, index: int) -> None:
        self._slot(index).inserting = False

    def clear_remove(self, index: int) -> None:
        self._slot(index).removing = False

    def removing(self, index: int) -> bool:
        state = self._state.get(index)
        return state is not None and state.removing

    def ost(self, index: int, source: int, status: int) -> None:
        """The guest's _OST for a slot: stored, and reported as ACPI_DEVICE_OST."""
        state = self._slot(index)
        state.ost_source, state.ost_status = source, status
        if source == OST_DEVICE_CHECK:
            self._on_taken(index)
        self._emit(ev.ACPI_DEVICE_OST, ev.AcpiDeviceOstData(info=self._info(index, state)))

    # -- migration ----------------------------------------------------------------------------

    def migration_state(self) -> dict[str, Any]:
        idle = _SlotState()
        slots = {
            str(index): [state.inserting, state.removing, state.ost_source, state.ost_status]
            for index, state in sorted(self._state.items())
            if state != idle
        }
        return {"legacy": self.legacy, "slots": slots}

    def load_migration_state(self, state: dict[str, Any]) -> None:
        self.legacy = bool(state["legacy"])
        self._state = {
            int(index): _SlotState(bool(ins), bool(rem), int(src), int(status))
            for index, (ins, rem, src, status) in state["slots"].items()
        }
        self._flagged = set(self._state)

    # -- query-acpi-ospm-status -----------------------------------------------------------------

    def reset(self) -> list[int]:
        return []  # a reset completes no unplug here

    def ospm_status(self) -> list[ACPIOSTInfo]:
        if self.legacy:
            return []  # QEMU lists CPU slots only once the modern interface is in use
        idle = _SlotState()
        return [self._info(index, self._state.get(index, idle)) for index in range(self._count)]

    def _slot(self, index: int) -> _SlotState:
        state = self._state.get(index)
        if state is None:
            state = self._state[index] = _SlotState()
        return state

    def _info(self, index: int, state: _SlotState) -> ACPIOSTInfo:
        return ACPIOSTInfo(
            device=self._occupant_id(index),
            slot=str(index),
            slot_type=ACPISlotType.CPU,
            source=state.ost_source,
            status=state.ost_status,
        )
