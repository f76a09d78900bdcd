"""pseries CPU hotplug: PAPR dynamic-reconfiguration connectors (DRCs), one per possible core.

QEMU 7.2 makes one `spapr-drc-cpu` device per possible core and finds them by name, which makes
start-up quadratic in their number (1.2-2 s at 4096 cores).  vmd holds them as dense arrays owned
by the board, indexed by slot: a DRC's index is `0x10000000 + slot * vsmt` and back in O(1), and
nothing is created per connector (their QOM objects are views made when asked,
vmd.boards.ppc64.drc_qom).  A reset touches only the connectors that hold a core.

A CPU connector is a *logical* DRC; its states are PAPR's (and QEMU's):
UNUSABLE (empty, or not yet taken by the guest) -> allocate -> UNISOLATE -> configure-connector
-> CONFIGURED; the way back: isolate -> UNISOLATE, unallocate -> UNUSABLE.  A machine reset (and
the cold plug of boot and -device cores, which happen before it) leaves every connector that
holds a core CONFIGURED.

Unplug (device_del): the connector is marked *unplug requested* and the guest is sent a remove
event; if the guest never took the connector (UNUSABLE: a core hot-added that no guest
configured), the core is released at once.  Otherwise the guest decides: it offlines the threads,
isolates and unallocates the connector, and the core is released then (DEVICE_DELETED); or it
refuses by un-isolating a connector marked for unplug (QEMU: "Device hotunplug rejected by the
guest", DEVICE_UNPLUG_GUEST_ERROR); or it does nothing, and the request stays pending: a second
device_del sends the event again, and a reset completes it.

The machine side marks and releases; the guest side (vmd.guest.papr) reads events and drives the
connector through RTAS-like calls.  Every method runs on the loop.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable

from vmd.errors import GenericError
from vmd.machine.hotplug.controller import NO_ACPI_DEVICE
from vmd.qapi.compiled import ACPIOSTInfo

log = logging.getLogger(__name__)

CPU_DRC_BASE = 0x10000000  # SPAPR_DR_CONNECTOR_TYPE_SHIFT of the CPU type


class DrcState(enum.IntEnum):
    """QEMU's numbering of the logical DRC states."""

    UNUSABLE = 1
    AVAILABLE = 2
    UNISOLATE = 3
    CONFIGURED = 4


class HotplugAction(enum.Enum):
    ADD = "add"
    REMOVE = "remove"


class DrcError(Exception):
    """An RTAS call the connector refuses in its state (RTAS_OUT_NO_SUCH_INDICATOR and kin)."""


class SpaprCpuDrcs:
    """The CPU connectors of `count` slots.  `release(slot)` makes the machine remove the core in
    the slot now (its DEVICE_DELETED follow); `on_taken(slot)` hears that the guest configured a
    hot-added core; `refused(slot)` that it refused an unplug."""

    def __init__(
        self,
        count: int,
        *,
        vsmt: int,
        release: Callable[[int], object],
        on_taken: Callable[[int], None],
        refused: Callable[[int], None],
    ) -> None:
        self.count = count
        self.vsmt = vsmt
        self._release = release
        self._on_taken = on_taken
        self._refused = refused
        self.state = bytearray([DrcState.UNUSABLE]) * count
        self.unplug_requested = bytearray(count)
        self.configured_fdt = bytearray(count)  # configure-connector ran since the last isolate
        self._attached: set[int] = set()  # sparse: what a reset walks
        self._events: deque[tuple[HotplugAction, int]] = deque()
        self._on_event: Callable[[], None] = lambda: None  # until a guest listens

    # -- indexes --------------------------------------------------------------------------------

    def index(self, slot: int) -> int:
        return CPU_DRC_BASE + slot * self.vsmt

    def slot_of_index(self, index: int) -> int | None:
        """The slot of DRC `index`, None when no CPU connector has that index (O(1))."""
        offset = index - CPU_DRC_BASE
        if offset < 0 or offset % self.vsmt:
            return None
        slot = offset // self.vsmt
        return slot if slot < self.count else None

    def attached(self, slot: int) -> bool:
        return slot in self._attached

    def attach_guest(self, on_event: Callable[[], None]) -> None:
        """The guest's driver: `on_event` is its hotplug interrupt."""
        self._on_event = on_event

    # -- machine side (HotplugController) ------------------------------------------------------

    def plugged(self, slot: int, *, hotplug: bool) -> None:
        self._attached.add(slot)
        if not hotplug:
            self.state[slot] = DrcState.CONFIGURED  # cold plug: configured by the boot's reset
            return
        self._events.append((HotplugAction.ADD, slot))
        self._on_event()

    def request_unplug(self, slot: int) -> None:
        if not self.unplug_requested[slot]:
            self.unplug_requested[slot] = 1
            if self.state[slot] == DrcState.UNUSABLE:
                log.info("DRC %#x: never taken by the guest: released at once", self.index(slot))
                self._release(slot)
        # Sent even when pending already: a guest that failed an earlier attempt tries again.
        self._events.append((HotplugAction.REMOVE, slot))
        self._on_event()

    def gone(self, slot: int) -> None:
        self._attached.discard(slot)
        self.state[slot] = DrcState.UNUSABLE
        self.unplug_requested[slot] = 0
        self.configured_fdt[slot] = 0

    def reset(self) -> list[int]:
        """The machine reset: connectors whose unplug is pending give their core up (the slots
        returned, for the machine to release), every other attached one is CONFIGURED; events
        the guest had not read are dropped."""
        self._events.clear()
        releasing = []
        for slot in sorted(self._attached):
            if self.unplug_requested[slot]:
                releasing.append(slot)
            else:
                self.state[slot] = DrcState.CONFIGURED
                self.configured_fdt[slot] = 0
        return releasing

    def ospm_status(self) -> list[ACPIOSTInfo]:
        raise GenericError(NO_ACPI_DEVICE)

    # -- guest side: RTAS ------------------------------------------------------------------------

    def next_event(self) -> tuple[HotplugAction, int] | None:
        """check-exception on the hotplug event source: the oldest event, consumed."""
        return self._events.popleft() if self._events else None

    def allocate(self, slot: int) -> None:
        """set-indicator allocation-state USABLE."""
        if slot not in self._attached or self.unplug_requested[slot]:
            raise DrcError(f"DRC {self.index(slot):#x}: nothing to allocate")
        if self.state[slot] == DrcState.UNUSABLE:
            self.state[slot] = DrcState.UNISOLATE

    def unisolate(self, slot: int) -> None:
        """set-indicator isolation-state UNISOLATED; on a connector marked for unplug, the guest's
        refusal of the removal."""
        if self.state[slot] < DrcState.UNISOLATE:
            raise DrcError(f"DRC {self.index(slot):#x}: not allocated")
        if self.unplug_requested[slot] and slot in self._attached:
            self.unplug_requested[slot] = 0
            log.warning("Device hotunplug rejected by the guest for the core in slot %d", slot)
            self._refused(slot)

    def configure_connector(self, slot: int) -> None:
        """ibm,configure-connector: the guest reads the core's device tree; CONFIGURED."""
        if self.state[slot] < DrcState.UNISOLATE:
            raise DrcError(f"DRC {self.index(slot):#x}: not allocated")
        if self.state[slot] != DrcState.CONFIGURED:
            self.state[slot] = DrcState.CONFIGURED
            self.configured_fdt[slot] = 1
            self._on_taken(slot)

    def isolate(self, slot: int) -> None:
        """set-indicator isolation-state ISOLATED."""
        if self.state[slot] < DrcState.UNISOLATE:
            raise DrcError(f"DRC {self.index(slot):#x}: not allocated")
        self.state[slot] = DrcState.UNISOLATE
        self.configured_fdt[slot] = 0

    def unallocate(self, slot: int) -> None:
        """set-indicator allocation-state UNUSABLE: with an unplug pending, the core is released."""
        if self.state[slot] != DrcState.UNISOLATE:
            raise DrcError(f"DRC {self.index(slot):#x}: isolate it first")
        self.state[slot] = DrcState.UNUSABLE
        if self.unplug_requested[slot] and slot in self._attached:
            self._release(slot)

    def is_configured(self, slot: int) -> bool:
        return self.state[slot] == DrcState.CONFIGURED
