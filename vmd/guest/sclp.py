"""The guest's SCLP driver for s390x CPU hotplug: how a Linux guest hears of CPUs on s390-ccw-virtio.

* boot: the guest reads the SCLP's CPU information: the present CPUs, configured or in standby;
  an event from before boot is moot, boot enumerated every CPU;
* service signal: after the policy's `delay_ms`, the guest reads the event data; a *CPU
  configuration change* makes it read the CPU information again (Linux's smp_rescan_cpus) and
  hand each new CPU to the OS, in standby as the SCLP reports it; the OS's policy decides
  whether it is configured (SCLP configure-CPU, `chcpu -c`) and brought online;
* there is no eject: s390x never gives a CPU back, and the machine refuses every device_del.

Runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib

from vmd.guest.os_model import GuestMachine, GuestOs
from vmd.machine.hotplug.sclp_cpu import SclpCpuHotplug


class SclpDriver:
    standby_cpus = True
    all_possible_present = False

    def __init__(self, os: GuestOs, sclp: SclpCpuHotplug, machine: GuestMachine) -> None:
        self.os = os
        self.sclp = sclp
        self.machine = machine
        self._signal = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        sclp.attach_guest(self.service_signal)

    # -- FirmwareDriver ---------------------------------------------------------------------

    def is_configured(self, index: int) -> bool:
        return self.sclp.configured(self.machine.slot_of(index))

    def set_configured(self, index: int, configured: bool) -> None:
        self.sclp.configure(self.machine.slot_of(index), configured)

    def booted(self) -> None:
        self.sclp.read_event()
        self.sclp.read_cpu_info()

    def rebooting(self) -> None:
        pass  # nothing the guest accepted is left half done: it only ever reads and configures

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    # -- the interrupt ------------------------------------------------------------------------

    def service_signal(self) -> None:
        """The service-signal external interrupt: the SCLP has event data."""
        self._signal.set()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._serve_forever(), name="guest-sclp")

    async def _serve_forever(self) -> None:
        while True:
            await self._signal.wait()
            self._signal.clear()
            await self.os.running.wait()
            if self.os.policy.delay_ms:
                await asyncio.sleep(self.os.policy.delay_ms / 1000)
                await self.os.running.wait()
            self._rescan()

    def _rescan(self) -> None:
        if not self.sclp.read_event():
            return
        present, configured = self.sclp.read_cpu_info()
        for slot in present:
            cpus = self.machine.slot_vcpus(slot)
            if not any(index in self.os.present for index in cpus):
                self.os.cpus_added(cpus, configured=slot in configured)
