"""The guest's PAPR driver for pseries CPU hotplug: how a Linux pseries guest (its dlpar code,
arch/powerpc/platforms/pseries/hotplug-cpu.c) handles cores through DR connectors.

* boot: the cores present and configured are the guest's; hotplug events queued before it booted
  are read now: a core hot-added meanwhile is taken as any hot-added one is;
* hotplug interrupt: after the policy's `delay_ms`, the guest reads the events (RTAS
  check-exception).  *add*: it acquires the connector (allocation usable, unisolate), runs
  ibm,configure-connector (the core is now the guest's, its threads present and offline), and
  onlines the threads if `auto_online`.  *remove*, per the `unplug` policy: *accept* offlines
  every thread of the core, isolates the connector and sets it unusable, which releases the core
  (DEVICE_DELETED); *refuse* un-isolates the connector, as Linux does when a thread cannot go
  offline: the machine cancels the request (DEVICE_UNPLUG_GUEST_ERROR); *ignore* does nothing,
  and the request stays pending until another device_del re-sends it or a reset completes it;
* reboot: nothing to redo: the machine's reset completes every pending unplug itself.

Runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vmd.guest.os_model import GuestMachine, GuestOs
from vmd.machine.hotplug.spapr_drc import DrcError, HotplugAction, SpaprCpuDrcs

log = logging.getLogger(__name__)


class PaprDriver:
    standby_cpus = True  # a core is the guest's only once it configured its connector
    all_possible_present = False  # pseries: a core is present while plugged (arm64 has them all)

    def __init__(self, os: GuestOs, drcs: SpaprCpuDrcs, machine: GuestMachine) -> None:
        self.os = os
        self.drcs = drcs
        self.machine = machine
        self._interrupt = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        drcs.attach_guest(self.hotplug_interrupt)

    # -- FirmwareDriver ---------------------------------------------------------------------

    def is_configured(self, index: int) -> bool:
        return self.drcs.is_configured(self.machine.slot_of(index))

    def set_configured(self, index: int, configured: bool) -> None:
        if not configured:
            raise ValueError("a pseries core leaves the guest only through its DR connector's removal")
        self._take(self.machine.slot_of(index))

    def booted(self) -> None:
        removes = []
        while (event := self.drcs.next_event()) is not None:
            action, slot = event
            if action is HotplugAction.ADD:
                self._add(slot)
            else:
                removes.append(slot)
        for slot in removes:
            self._remove(slot)

    def rebooting(self) -> None:
        pass  # the reset completes every pending unplug: nothing the guest had begun is lost

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    # -- the interrupt ------------------------------------------------------------------------

    def hotplug_interrupt(self) -> None:
        """The hotplug event source's interrupt: there are events to read."""
        self._interrupt.set()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._serve_forever(), name="guest-papr")

    async def _serve_forever(self) -> None:
        while True:
            await self._interrupt.wait()
            self._interrupt.clear()
            await self.os.running.wait()
            if self.os.policy.delay_ms:
                await asyncio.sleep(self.os.policy.delay_ms / 1000)
                await self.os.running.wait()
            while (event := self.drcs.next_event()) is not None:
                action, slot = event
                if action is HotplugAction.ADD:
                    self._add(slot)
                else:
                    self._remove(slot)

    # -- add ------------------------------------------------------------------------------------

    def _take(self, slot: int) -> bool:
        """dlpar_acquire_drc and configure-connector; False when the connector refuses."""
        if self.drcs.is_configured(slot):
            return True
        try:
            self.drcs.allocate(slot)
            self.drcs.unisolate(slot)
            self.drcs.configure_connector(slot)
        except DrcError as error:
            log.info("guest: %s", error)
            return False
        return True

    def _add(self, slot: int) -> None:
        if not self.drcs.attached(slot) or not self._take(slot):
            return
        cpus = self.machine.slot_vcpus(slot)
        log.info("guest: core in slot %d configured (DRC %#x): threads %s", slot, self.drcs.index(slot),
                 ",".join(map(str, cpus)))  # fmt: skip
        self.os.cpus_added(cpus, configured=True)

    # -- remove ---------------------------------------------------------------------------------

    def _remove(self, slot: int) -> None:
        if not self.drcs.attached(slot) or not self.drcs.unplug_requested[slot]:
            return  # released already, or the request was withdrawn
        policy = self.os.policy.unplug
        if policy == "ignore":
            log.info("guest: slot %d: remove event ignored (unplug=ignore)", slot)
        elif policy == "refuse":
            log.info("guest: slot %d: removal refused (unplug=refuse): the DRC is un-isolated", slot)
            self._refuse(slot)
        else:
            log.info("guest: slot %d: removal accepted (unplug=accept): offlining its threads", slot)
            self.os.spawn(self._release(slot), f"guest-dlpar-remove-{slot}")

    def _refuse(self, slot: int) -> None:
        try:
            self.drcs.unisolate(slot)
        except DrcError as error:
            log.info("guest: %s", error)

    async def _release(self, slot: int) -> None:
        cpus = self.machine.slot_vcpus(slot)
        async with self.os.holding(cpus):
            if not self.drcs.attached(slot) or not self.drcs.unplug_requested[slot]:
                return
            try:
                await self.os.take_offline(cpus)
            except TimeoutError:
                log.error("guest: the threads of slot %d did not go offline; the removal fails", slot)
                self._refuse(slot)
                return
            await self.os.running.wait()
            # One step on the loop: the request may have been completed by a reset meanwhile.
            if not self.drcs.attached(slot) or not self.drcs.unplug_requested[slot]:
                return
            log.info("guest: slot %d: threads offline, releasing the DRC (isolate, unusable)", slot)
            try:
                self.drcs.isolate(slot)
                self.drcs.unallocate(slot)
            except DrcError as error:
                log.error("guest: %s", error)
