"""The machine's vCPUs as host threads: guest RAM with the firmware in it, the engine, the I/O bus.

This is where the VM model meets `vmd.vcpu`.  vCPU threads call back here for
port I/O (handled on the vCPU thread by the bus's devices) and for faults,
which are handed over to the event loop with `call_soon_threadsafe`: the loop
owns every bit of Python state, vCPU threads only touch their devices.

vCPUs are created stopped: the engine is put in pause-all before the first one
starts, so boot vCPUs exist (with real thread ids, as libvirt reads them under
-S) but run no guest code until the VM runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Final

from vmd.devices.ports import PortBus
from vmd.firmware import standard as fw
from vmd.machine.user_objects import MemoryBackend, ObjectError, open_backing_file
from vmd.vcpu import FaultInfo, GuestRam, VcpuEngine, VcpuStats, set_thread_slice

log = logging.getLogger(__name__)

FaultHandler = Callable[[int, FaultInfo], None]
# A custom -bios image is loaded where the standard firmware goes and entered there.
IMAGE_BASE: Final = fw.FIRMWARE_BASE
MAX_IMAGE_BYTES: Final = fw.ONLINE_MASK - fw.FIRMWARE_BASE
# Threads kept started ahead while slots are free, so that a hot-plug does not wait for a thread
# to start (vmd.spare_threads): enough for a plug and the next one while the pool refills.
SPARE_VCPU_THREADS: Final = 2
STATS_PERIOD: Final = 0.1  # seconds: how old the counters query-stats reads may be
# The event loop thread's scheduler slice, the kernel's shortest: under EEVDF (Linux 6.12 and later)
# a waking thread with a shorter slice than the running one preempts it, where with the default
# (0.75 ms scaled up with the CPU count) it would wait for the running thread's slice to end.  On a
# loaded host that took query-status under a busy guest from p50 3.6 ms to 0.06 ms.
LOOP_SLICE_NS: Final = 100_000


def favour_the_loop_thread() -> None:
    """On the thread that runs the event loop: the shortest slice, so a request wakes it at once.
    Best effort (an older kernel, or a thread moved to another policy, keeps what it has)."""
    rc = set_thread_slice(LOOP_SLICE_NS)
    if rc:
        log.debug("the event loop keeps the default scheduler slice (%s)", os.strerror(-rc))


class LoopHandoff:
    """Runs callbacks on the event loop from vCPU threads (call_soon_threadsafe), once bound."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def __call__(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None:
            log.error("a vCPU reported before the machine ran: %s%r dropped", callback, args)
            return
        try:
            loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the daemon is exiting anyway
            log.warning("a vCPU reported while the daemon exits: %s%r dropped", callback, args)


class VcpuSetupError(Exception):
    """The vCPUs cannot be set up (RAM, firmware image); the message is QEMU-style."""


class VcpuHost:
    def __init__(
        self,
        *,
        ram_bytes: int,
        max_vcpus: int,
        bus: PortBus,
        on_fault: FaultHandler,
        handoff: LoopHandoff,
        image: bytes | None = None,
        ram_backend: MemoryBackend | None = None,
    ) -> None:
        if ram_bytes < fw.MIN_RAM_BYTES:
            raise VcpuSetupError(
                f"the firmware needs at least {fw.MIN_RAM_BYTES // 1024} KiB of RAM, -m gives "
                f"{ram_bytes // 1024} KiB"
            )
        if image is not None and len(image) > MAX_IMAGE_BYTES:
            raise VcpuSetupError(f"firmware image too large ({len(image)} bytes, at most {MAX_IMAGE_BYTES})")
        self.ram = _guest_ram(ram_bytes, ram_backend)
        standard = fw.firmware()
        self._image = standard.image if image is None else image
        self.custom_image = image is not None
        entry = standard.entry if image is None else IMAGE_BASE
        self.ram.load(IMAGE_BASE, self._image)
        self._on_fault = on_fault
        self._handoff = handoff
        self._publisher: asyncio.TimerHandle | None = None
        self.engine = VcpuEngine(
            self.ram,
            entry=entry,
            on_io=bus.io,
            on_fault=self._fault_on_vcpu_thread,
            max_vcpus=max_vcpus,
            own_cgroup=True,  # busy vCPUs must not delay the event loop (vmd.vcpu_cgroup)
        )
        self.engine.request_pause_all()

    # -- run control (the VM's VcpuRunControl) -------------------------------------------------

    async def pause_all(self) -> None:
        self._stop_publishing()
        await self.engine.pause_all()

    def normal_priority(self) -> Callable[[], None]:
        """Run the vCPU threads at normal priority instead of SCHED_IDLE, as QEMU's run, until
        the returned function is called: for an outgoing migration, whose switchover waits
        for every vCPU to acknowledge its pause.  Under SCHED_IDLE a busy vCPU on a loaded host
        gets a CPU only when nothing else wants one, and raised only at the switchover it still
        waited up to tens of milliseconds for its turn (measured here, load average 25 on two
        CPUs); a thread that has been of normal priority all along waits as QEMU's does."""
        raised = []
        for index in self.engine.present():
            tid = self.engine.thread_id(index)
            try:
                if os.sched_getscheduler(tid) == os.SCHED_IDLE:
                    os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
                    raised.append(tid)
            except OSError:
                continue  # gone, or a sandbox that forbids it: slower, not wrong

        def restore() -> None:
            for tid in raised:
                with contextlib.suppress(OSError):
                    os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            raised.clear()

        return restore

    async def pause_all_promptly(self) -> None:
        """pause_all for a migration's switchover, whose downtime starts with the request: the
        vCPU threads still under SCHED_IDLE get normal priority until they parked, so that a
        busy guest on a loaded host acknowledges sooner, and go back to SCHED_IDLE parked."""
        restore = self.normal_priority()
        try:
            await self.pause_all()
        finally:
            restore()

    def resume_all(self) -> None:
        self.engine.resume_all()
        self._start_publishing()

    def request_pause_all(self) -> None:
        """Phase one of pause_all only: every vCPU parks at its next safe point."""
        self._stop_publishing()
        self.engine.request_pause_all()

    # -- counters ------------------------------------------------------------------------------

    def _start_publishing(self) -> None:
        """While the VM runs, ask the vCPUs to publish their counters every STATS_PERIOD: a vCPU
        that never exits would otherwise show the counts of its last exit (query-stats then
        reads values at most that old, without waiting for any vCPU)."""
        if self._publisher is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # driven without an event loop (tests of the engine)
        self._publisher = loop.call_later(STATS_PERIOD, self._publish)

    def _publish(self) -> None:
        self.engine.request_sync(self.engine.present())
        self._publisher = asyncio.get_running_loop().call_later(STATS_PERIOD, self._publish)

    def _stop_publishing(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            self._publisher = None

    def reset(self, indices: list[int]) -> None:
        """A machine reset: the firmware image is copied in again (like ROM contents) and the
        vCPUs `indices` (the machine's present CPUs; not one being unplugged) restart at the entry
        point at their next safe point.  RAM is otherwise kept."""
        self.ram.load(IMAGE_BASE, self._image)
        for index in indices:
            self.engine.reset(index)

    # -- plug and unplug -------------------------------------------------------------------

    def plug(self, index: int, *, online: bool) -> None:
        """Start vCPU `index`'s thread; `online` sets its bit in the firmware's online bitmap first."""
        self.plug_many((index,), (online,))

    def plug_many(self, indices: Sequence[int], online: Sequence[bool]) -> None:
        """:meth:`plug` of each of `indices` (a core's threads) with the matching `online`: the
        bitmap words written once, the threads handed their work together (VcpuEngine.start_many)."""
        if not self.custom_image:
            fw.set_online_many(self.ram, indices, online)
        self.engine.start_many(indices)

    def precreate(self, count: int) -> None:
        """Create the contexts of vCPUs 0..count-1 now, parked until plugged."""
        self.engine.create_parked(range(count))

    def request_unplug(self, index: int) -> None:
        """Ask vCPU `index`'s thread to stop at its next safe point; `unplug` completes it."""
        self.engine.request_stop(index)

    async def unplug(self, index: int) -> None:
        """Stop and join vCPU `index`'s thread; its context stays parked for the next plug."""
        await self.engine.stop(index)

    # Threads to keep ahead: enough for two plugs of the board's unit (pseries cores of 8
    # threads: 16), at least SPARE_VCPU_THREADS (the CPU manager sets it from the slot layout).
    spares: int = SPARE_VCPU_THREADS

    def keep_spares(self) -> None:
        """Keep threads started ahead for the free slots' vCPUs (called once the boot CPUs are
        there, and after each plug and unplug)."""
        free = self.engine.max_vcpus - self.engine.present_count()  # each plug: not a sorted list
        self.engine.keep_spare_threads(min(self.spares, free))

    async def close(self) -> None:
        self._stop_publishing()
        await self.engine.close()

    # -- inspection ---------------------------------------------------------------------------

    def present(self) -> list[int]:
        return self.engine.present()

    def parked(self) -> list[int]:
        return self.engine.parked()

    def thread_id(self, index: int) -> int:
        return self.engine.thread_id(index)

    def stats(self, index: int) -> VcpuStats:
        return self.engine.stats(index)

    # -- vCPU thread side ---------------------------------------------------------------------

    def _fault_on_vcpu_thread(self, index: int, info: FaultInfo) -> None:
        self._handoff(self._on_fault, index, info)


def _guest_ram(ram_bytes: int, backend: MemoryBackend | None) -> GuestRam:
    """The machine's RAM: anonymous, or mapped from its memory-backend-file."""
    name = "pc.ram" if backend is None else backend.id
    fd = None
    try:
        if backend is not None and backend.mem_path is not None:
            fd = open_backing_file(backend)
            return GuestRam(ram_bytes, backing_fd=fd, shared=backend.share)
        return GuestRam(ram_bytes)
    except ObjectError as error:
        raise VcpuSetupError(str(error)) from None
    except (MemoryError, ValueError) as error:
        raise VcpuSetupError(f"cannot set up guest memory '{name}': {error}") from None
    finally:
        if fd is not None:
            os.close(fd)  # the mapping keeps the file
