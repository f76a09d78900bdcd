"""The SCLP's CPU hotplug event source (QEMU's sclp-cpu-hotplug) on s390x, as the guest sees it.

s390x adds CPUs and never removes them.  A hot-added CPU makes the SCLP event facility hold a
*CPU configuration change* event and raise the service-signal interrupt; the guest reads the
event, then the SCLP's CPU information (which CPUs exist, and which of them are configured), and
finds the new CPU present but in *standby* (deconfigured).  Whether it configures the CPU (SCLP's
configure-CPU command, what Linux's `chcpu -c` issues) and then brings it online is the guest's
decision.  Boot CPUs are configured.  There is no way to ask the guest to give a CPU back:
device_del of a CPU is refused with QEMU 7.2's words.

The machine side sets the event and raises the interrupt; the guest side (vmd.guest.sclp) reads
and configures.  Every method runs on the loop.
"""

from __future__ import annotations

from collections.abc import Callable

from vmd.errors import GenericError
from vmd.machine.hotplug.controller import NO_ACPI_DEVICE
from vmd.qapi.compiled import ACPIOSTInfo

# s390_machine_device_unplug_request for a CPU, on every CPU (hw/s390x/s390-virtio-ccw.c).
NO_CPU_UNPLUG = "CPU hot unplug not supported on this machine"


class SclpCpuHotplug:
    """The event source, for `slots` CPUs.  `on_taken` hears that the guest took a hot-added CPU
    in (it read the CPU information after the event).  The guest's driver attaches with
    `attach_guest`."""

    def __init__(self, slots: int, *, on_taken: Callable[[int], None]) -> None:
        self._count = slots
        self._on_taken = on_taken
        self._on_signal: Callable[[], None] = lambda: None  # until a guest listens
        self._present: set[int] = set()
        self._configured: set[int] = set()
        self._event_pending = False
        self._unread: set[int] = set()  # hot-added CPUs the guest has not read about yet

    def attach_guest(self, on_service_signal: Callable[[], None]) -> None:
        """The guest's SCLP driver: `on_service_signal` is its service-signal interrupt."""
        self._on_signal = on_service_signal

    # -- machine side (HotplugController) ----------------------------------------------------

    def plugged(self, slot: int, *, hotplug: bool) -> None:
        """A CPU was realized in `slot`: present, configured unless hot-added; a hot-add raises
        the CPU configuration change event (sclp_cpu_hotplug_notify)."""
        self._present.add(slot)
        if not hotplug:
            self._configured.add(slot)
            return
        self._unread.add(slot)
        self._event_pending = True
        self._on_signal()

    def request_unplug(self, slot: int) -> None:
        raise GenericError(NO_CPU_UNPLUG)

    def gone(self, slot: int) -> None:
        self._present.discard(slot)
        self._configured.discard(slot)
        self._unread.discard(slot)

    def reset(self) -> list[int]:
        return []  # a reset completes no unplug here

    def ospm_status(self) -> list[ACPIOSTInfo]:
        raise GenericError(NO_ACPI_DEVICE)

    # -- guest side -----------------------------------------------------------------------------

    def read_event(self) -> bool:
        """SCLP read event data: whether a CPU configuration change was pending (now consumed)."""
        pending, self._event_pending = self._event_pending, False
        return pending

    def read_cpu_info(self) -> tuple[list[int], set[int]]:
        """SCLP read CPU info: the present CPUs' slots and the configured ones among them.  The
        hot-added CPUs listed are taken in from now on."""
        for slot in sorted(self._unread):
            self._on_taken(slot)
        self._unread.clear()
        return sorted(self._present), set(self._configured)

    def configured(self, slot: int) -> bool:
        return slot in self._configured

    def configure(self, slot: int, configured: bool) -> None:
        """SCLP configure / deconfigure CPU (Linux's `chcpu -c` / `chcpu -g`)."""
        if slot not in self._present:
            raise ValueError(f"no CPU in slot {slot}")
        if configured:
            self._configured.add(slot)
        else:
            self._configured.discard(slot)
