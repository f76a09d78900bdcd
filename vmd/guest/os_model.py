"""The guest OS, as far as CPU hotplug goes: its ACPI OSPM and its view of the CPUs.

It behaves as a Linux guest does with QEMU's ACPI CPU hotplug, with the
policy's choices where guests differ:

* boot: the ACPI tables switch the hotplug block to its modern interface; every
  present CPU up to `maxcpus` is brought online, the others stay offline;
* SCI: after `delay_ms`, scan the slots' events; a hot-added CPU is reported
  with _OST(1, 0) and onlined if `auto_online`; an eject request is answered
  by the `unplug` policy: *accept* reports _OST(3, 0x84), offlines the CPU,
  ejects it and reports _OST(3, 0); *refuse* reports _OST(3, device busy);
  *ignore* never answers.

Online and offline are real: the model flips the CPU's bit in the firmware's
online bitmap and wakes the vCPU, and a CPU counts as online only once that
vCPU itself reported it on the CPU state port.  The guest acts only while the
VM runs: a paused VM's guest does nothing until `cont`.  Everything here runs
on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any, Protocol

from vmd.firmware import standard as fw
from vmd.guest.policy import GuestPolicy
from vmd.machine.acpi_cpu_hotplug import (
    OST_DEVICE_BUSY,
    OST_DEVICE_CHECK,
    OST_EJECT_IN_PROGRESS,
    OST_EJECT_REQUEST,
    OST_SUCCESS,
    AcpiCpuHotplug,
)

log = logging.getLogger(__name__)

# How long the guest waits for a CPU to confirm a state change before it gives up on it.
CONFIRM_TIMEOUT = 10.0


class GuestMachine(Protocol):
    """What the guest reaches of the machine."""

    acpi: AcpiCpuHotplug

    def present_cpus(self) -> list[int]: ...

    def set_cpu_online_bit(self, index: int, online: bool) -> None: ...

    def wake_cpu(self, index: int) -> None: ...

    def eject(self, index: int) -> Awaitable[None] | None: ...

    def unplug_refused(self, index: int) -> None: ...

    def cpu_online_confirmed(self, index: int) -> None: ...

    def guest_shutdown(self) -> None: ...


class GuestOs:
    def __init__(self, policy: GuestPolicy) -> None:
        self.policy = policy
        self.present: set[int] = set()  # what the guest has enumerated
        self.online: set[int] = set()  # confirmed by the vCPU itself
        self._machine: GuestMachine | None = None
        self._running = asyncio.Event()
        self._sci = asyncio.Event()
        self._waiters: dict[int, tuple[int, asyncio.Future[None]]] = {}
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # One guest operation per CPU at a time, in order (Linux serializes hotplug work): an
        # eject requested while the CPU is still coming online waits for it, then offlines it.
        self._cpu_locks: dict[int, asyncio.Lock] = {}
        # Eject requests the guest accepted and is still working on (taking the CPU offline): a
        # reboot drops that work, so the request is raised again for the rebooted guest to answer.
        self._accepted: set[int] = set()
        self._booted = False

    def attach(self, machine: GuestMachine) -> None:
        self._machine = machine

    @property
    def machine(self) -> GuestMachine:
        assert self._machine is not None, "the guest runs on a machine"
        return self._machine

    # -- what the machine tells the guest -------------------------------------------------------

    def boot_plan(self, index: int) -> bool:
        """Whether a CPU present at boot is brought online (the maxcpus= boot parameter)."""
        return self.policy.maxcpus is None or index < self.policy.maxcpus

    def set_running(self, running: bool) -> None:
        if running:
            if not self._booted:
                self._boot()
            self._running.set()
        else:
            self._running.clear()

    def reset(self) -> None:
        """A machine reset reboots the guest: in-flight work is dropped, the next run boots again.

        An eject the guest had accepted but not performed yet is not lost: the request is raised
        again, and the rebooted guest answers it by its policy once it runs (so every device_del
        still ends in DEVICE_DELETED or DEVICE_UNPLUG_GUEST_ERROR, or stays pending under
        `ignore`).  An eject already performed is the machine's to finish."""
        for task in list(self._tasks):
            task.cancel()
        for _, waiter in self._waiters.values():
            waiter.cancel()
        self._waiters.clear()
        self._booted = False
        self.online.clear()
        accepted, self._accepted = sorted(self._accepted), set()
        for index in accepted:
            self.machine.acpi.raise_remove(index)

    def power_button(self) -> None:
        """The ACPI power button (system_powerdown).  A guest that has not booted has no OS to
        notice it; a booted one powers off per its policy, once it runs."""
        if self._booted and self.policy.powerdown == "shutdown":
            self._spawn(self._power_off(), "guest-power-off")

    async def _power_off(self) -> None:
        await self._running.wait()
        if self.policy.delay_ms:
            await asyncio.sleep(self.policy.delay_ms / 1000)
            await self._running.wait()
        self.machine.guest_shutdown()

    def sci(self) -> None:
        """The ACPI interrupt: there are slot events to scan."""
        self._sci.set()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._scan_forever(), name="guest-ospm")

    def cpu_reported(self, index: int, state: int) -> None:
        """A vCPU wrote its new state to the CPU state port (handed over from its thread)."""
        if state == fw.CPU_STATE_ONLINE:
            self.online.add(index)
            self.machine.cpu_online_confirmed(index)
        elif state == fw.CPU_STATE_OFFLINE:
            self.online.discard(index)
        waiter = self._waiters.get(index)
        if waiter is not None and waiter[0] == state and not waiter[1].done():
            waiter[1].set_result(None)

    def cpu_gone(self, index: int) -> None:
        self.present.discard(index)
        self.online.discard(index)
        self._cpu_locks.pop(index, None)

    async def close(self) -> None:
        tasks = [*self._tasks, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- guest-side requests (an administrator inside the guest) --------------------------------

    async def set_cpu_online(self, index: int, online: bool) -> None:
        if not self._running.is_set():
            raise ValueError("the guest is not running")
        if index not in self.present:
            raise ValueError(f"CPU {index} is not present in the guest")
        if not online and index == 0 and not self.policy.cpu0_hotplug:
            raise ValueError("CPU 0 cannot be taken offline (the guest was not booted with cpu0_hotplug)")
        await self._change(index, online)

    # -- internals ----------------------------------------------------------------------------

    def _boot(self) -> None:
        self._booted = True
        machine = self.machine
        machine.acpi.switch_to_modern()  # what QEMU's DSDT _INI does when the OS loads it
        self.present = set(machine.present_cpus())
        for index in sorted(self.present):
            machine.set_cpu_online_bit(index, self.boot_plan(index))
            machine.wake_cpu(index)
        # Events pending from before boot are moot: boot enumerated every present CPU.
        inserts, _ = machine.acpi.pending()
        for index in inserts:
            machine.acpi.clear_insert(index)

    async def _scan_forever(self) -> None:
        while True:
            await self._sci.wait()
            self._sci.clear()
            await self._running.wait()
            if self.policy.delay_ms:
                await asyncio.sleep(self.policy.delay_ms / 1000)
                await self._running.wait()
            self._scan()

    def _scan(self) -> None:
        acpi = self.machine.acpi
        inserts, removes = acpi.pending()
        for index in inserts:
            acpi.clear_insert(index)
            self.present.add(index)
            acpi.ost(index, OST_DEVICE_CHECK, OST_SUCCESS)
            self.machine.set_cpu_online_bit(index, False)
            if self.policy.auto_online:
                self._spawn(self._change(index, True), f"guest-online-{index}")
        if self.policy.unplug == "ignore":
            return  # the request stays flagged; nothing answers it
        for index in removes:
            acpi.clear_remove(index)
            if self.policy.unplug == "refuse":
                acpi.ost(index, OST_EJECT_REQUEST, OST_DEVICE_BUSY)
                self.machine.unplug_refused(index)
            else:
                acpi.ost(index, OST_EJECT_REQUEST, OST_EJECT_IN_PROGRESS)
                self._accepted.add(index)  # now, not when the task starts: a reset may come first
                self._spawn(self._eject(index), f"guest-eject-{index}")

    async def _eject(self, index: int) -> None:
        try:
            async with self._lock(index):
                try:
                    await self._change_locked(index, False)
                except TimeoutError:
                    log.error("guest: CPU %d did not go offline; its eject fails", index)
                    self.machine.acpi.ost(index, OST_EJECT_REQUEST, OST_DEVICE_BUSY)
                    self.machine.unplug_refused(index)
                    return
                await self._running.wait()
                # The eject itself: one step on the loop, no await between the check and it.
                self._accepted.discard(index)
                release = self.machine.eject(index)
        finally:
            self._accepted.discard(index)
        if release is not None:
            # Shielded: a reboot that cancels this task must not cancel the machine's release.
            await asyncio.shield(release)
            self.machine.acpi.ost(index, OST_EJECT_REQUEST, OST_SUCCESS)

    def _lock(self, index: int) -> asyncio.Lock:
        lock = self._cpu_locks.get(index)
        if lock is None:
            lock = self._cpu_locks[index] = asyncio.Lock()
        return lock

    async def _change(self, index: int, online: bool) -> None:
        async with self._lock(index):
            if index in self.present:  # it may have been ejected while this waited its turn
                await self._change_locked(index, online)

    async def _change_locked(self, index: int, online: bool) -> None:
        """Flip the CPU's online bit, wake it, and wait until the vCPU confirms (while running)."""
        want = fw.CPU_STATE_ONLINE if online else fw.CPU_STATE_OFFLINE
        if (index in self.online) == online:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[index] = (want, waiter)
        try:
            self.machine.set_cpu_online_bit(index, online)
            self.machine.wake_cpu(index)
            while not waiter.done():
                await self._running.wait()
                try:
                    await asyncio.wait_for(asyncio.shield(waiter), CONFIRM_TIMEOUT)
                except TimeoutError:
                    if self._running.is_set():
                        raise  # the VM ran all along: the CPU did not answer
                    # Paused meanwhile: a paused guest is not a slow one; wait again once it runs.
        finally:
            if self._waiters.get(index, (0, None))[1] is waiter:
                del self._waiters[index]

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("guest: %s failed", task.get_name(), exc_info=task.exception())
