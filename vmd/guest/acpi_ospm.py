"""The guest's ACPI OSPM for QEMU's CPU hotplug block: how a Linux guest hears of CPUs on pc/q35.

* boot: the guest's ACPI tables switch the block to its modern interface (what QEMU's DSDT _INI
  does when the OS loads it); insert events from before boot are moot, boot enumerated every CPU;
* SCI: after the policy's `delay_ms`, the guest scans the slots' events; a hot-added CPU is
  reported with _OST(1, 0) and handed to the OS; an eject request is answered by the `unplug`
  policy: *accept* reports _OST(3, 0x84), takes the CPU offline, ejects it and reports _OST(3, 0);
  *refuse* reports _OST(3, device busy); *ignore* never answers;
* reboot: an eject the guest had accepted but not performed yet is not lost: the request is
  raised again, and the rebooted guest answers it by its policy once it runs (so every device_del
  still ends in DEVICE_DELETED or DEVICE_UNPLUG_GUEST_ERROR, or stays pending under `ignore`).
  An eject already performed is the machine's to finish.

Runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vmd.guest.os_model import GuestMachine, GuestOs
from vmd.machine.hotplug.acpi_cpu import (
    OST_DEVICE_BUSY,
    OST_DEVICE_CHECK,
    OST_EJECT_IN_PROGRESS,
    OST_EJECT_REQUEST,
    OST_SUCCESS,
    AcpiCpuHotplug,
)

log = logging.getLogger(__name__)


class AcpiOspm:
    standby_cpus = False  # ACPI CPUs are configured while present
    all_possible_present = False  # x86: a CPU is present while plugged

    def __init__(self, os: GuestOs, acpi: AcpiCpuHotplug, machine: GuestMachine) -> None:
        self.os = os
        self.acpi = acpi
        self.machine = machine
        self._sci = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        # Eject requests the guest accepted and is still working on (taking the CPU offline).
        self._accepted: set[int] = set()
        acpi.attach_guest(self.sci)

    # -- FirmwareDriver ---------------------------------------------------------------------

    def is_configured(self, index: int) -> bool:
        return True

    def set_configured(self, index: int, configured: bool) -> None:
        raise ValueError("an ACPI CPU is configured while it is present")

    def booted(self) -> None:
        self.acpi.switch_to_modern()
        inserts, _ = self.acpi.pending()
        for slot in inserts:
            self.acpi.clear_insert(slot)

    def rebooting(self) -> None:
        accepted, self._accepted = sorted(self._accepted), set()
        for slot in accepted:
            log.info("guest: slot %d: the eject accepted before the reset is requested again", slot)
            self.acpi.raise_remove(slot)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    # -- the interrupt ------------------------------------------------------------------------

    def sci(self) -> None:
        """The ACPI interrupt: there are slot events to scan."""
        self._sci.set()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._scan_forever(), name="guest-ospm")

    async def _scan_forever(self) -> None:
        while True:
            await self._sci.wait()
            self._sci.clear()
            await self.os.running.wait()
            if self.os.policy.delay_ms:
                await asyncio.sleep(self.os.policy.delay_ms / 1000)
                await self.os.running.wait()
            self._scan()

    def _scan(self) -> None:
        acpi, policy = self.acpi, self.os.policy
        inserts, removes = acpi.pending()
        for slot in inserts:
            acpi.clear_insert(slot)
            acpi.ost(slot, OST_DEVICE_CHECK, OST_SUCCESS)
            log.info("guest: slot %d: device check, CPU inserted: _OST(0x1, 0x0)", slot)
            self.os.cpus_added(self.machine.slot_vcpus(slot))
        if policy.unplug == "ignore":
            for slot in removes:
                log.info("guest: slot %d: eject request ignored (unplug=ignore): no _OST", slot)
            return  # the request stays flagged; nothing answers it
        for slot in removes:
            acpi.clear_remove(slot)
            if policy.unplug == "refuse":
                acpi.ost(slot, OST_EJECT_REQUEST, OST_DEVICE_BUSY)
                log.info("guest: slot %d: eject request refused (unplug=refuse): _OST(0x3, 0x82)", slot)
                self.machine.unplug_refused(slot)
            else:
                acpi.ost(slot, OST_EJECT_REQUEST, OST_EJECT_IN_PROGRESS)
                log.info("guest: slot %d: eject request accepted (unplug=accept): _OST(0x3, 0x84)", slot)
                self._accepted.add(slot)  # now, not when the task starts: a reset may come first
                self.os.spawn(self._eject(slot), f"guest-eject-{slot}")

    async def _eject(self, slot: int) -> None:
        cpus = self.machine.slot_vcpus(slot)
        try:
            async with self.os.holding(cpus):
                try:
                    await self.os.take_offline(cpus)
                except TimeoutError:
                    log.error("guest: the CPUs of slot %d did not go offline; its eject fails", slot)
                    self.acpi.ost(slot, OST_EJECT_REQUEST, OST_DEVICE_BUSY)
                    self.machine.unplug_refused(slot)
                    return
                await self.os.running.wait()
                # The eject itself: one step on the loop, no await between the check and it.
                self._accepted.discard(slot)
                log.info("guest: slot %d: CPUs offline, ejecting (_EJ0)", slot)
                release = self.machine.eject(slot)
        finally:
            self._accepted.discard(slot)
        if release is not None:
            # Shielded: a reboot that cancels this task must not cancel the machine's release.
            await asyncio.shield(release)
            self.acpi.ost(slot, OST_EJECT_REQUEST, OST_SUCCESS)
            log.info("guest: slot %d: ejected: _OST(0x3, 0x0)", slot)
