"""The vCPU engine: guest RAM, one named host thread per present vCPU, and their control.

Why one module of ~750 lines: it is the whole boundary to C (one importer of the bindings, by
design), and splitting the engine from its RAM and thread plumbing would spread that boundary.

This is the only importer of the cffi module ``vmd._native`` (built from
``native/``); nothing else sees cffi.  The guest ISA is ``native/ISA.md``.

Threads
-------
Every present vCPU is a ``threading.Thread`` named ``vcpu{N}`` (the OS thread
name too) that loops in :func:`vmd_vcpu_run` with the GIL released.  HLT,
pause and fault waits happen in C, on futexes; the thread only comes back to
Python for an exit:

* IO (``IN``/``OUT``): ``on_io(index, port, size, is_write, value)`` is called
  *on the vCPU thread*; for ``IN`` its return value (``None``: all ones) is
  what the guest reads.  If it raises, the vCPU faults with ``VMM_ERROR``.
* FAULT: ``on_fault(index, FaultInfo)`` is called on the vCPU thread; the vCPU
  then executes nothing until :meth:`VcpuEngine.reset` or :meth:`VcpuEngine.stop`.
* STOP: ``on_stopped(index)`` (if given) is called on the vCPU thread, which ends.

The callbacks run on vCPU threads, never on the event loop: a caller that
owns loop state must hand over with ``loop.call_soon_threadsafe(...)``.  This
module never looks up an event loop for them.

The engine's own methods belong to the thread that owns the VM (the event
loop); :meth:`VcpuEngine.kick`, :meth:`VcpuEngine.post_interrupt`,
:meth:`VcpuEngine.stats` and the ``wait_*`` methods may be called from any thread.
Waits never block the loop: the async methods are woken through the engine's
eventfd (:attr:`VcpuEngine.event_fd`, readable when a pause-all completes or
a vCPU thread exits); the blocking ``wait_*`` methods release the GIL and are
meant for ``asyncio.to_thread`` or for programs without a loop.

Contexts
--------
A vCPU index gets one native context on first use; it is never destroyed
while the engine lives.  Stopping a vCPU *parks* its context (like KVM vCPU
fds, which cannot be destroyed) and the next :meth:`VcpuEngine.start` of the
same index reuses it (:meth:`VcpuEngine.context_id` stays the same,
``VcpuStats.plugs`` counts the reuses).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import enum
import hashlib
import importlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any, Final

from vmd import vcpu_cgroup
from vmd.records import dataclass
from vmd.spare_threads import Spare, SpareThreads

log = logging.getLogger(__name__)

BUILD_HINT: Final = (
    "build it with `pip install -e .` (or, in a source checkout, `python native/vcpu_build.py`)"
)


def _load_native() -> ModuleType:
    try:
        return importlib.import_module("vmd._native")
    except ImportError as exc:
        raise ImportError(
            f"vmd's native vCPU engine (the extension module vmd._native) is missing or broken: "
            f"{BUILD_HINT}. ({exc})",
            name="vmd._native",
        ) from exc


_native = _load_native()
_ffi: Any = _native.ffi
_lib: Any = _native.lib

NUM_REGS: Final = int(_lib.VMD_REGS)
IRQ_VECTORS: Final = int(_lib.VMD_IRQ_VECTORS)
DEFAULT_MAX_VCPUS: Final = 4096
_NO_BUDGET: Final = (1 << 64) - 1
_ERANGE: Final = 34
_ENOMEM: Final = 12
_EBUSY: Final = 16


class ExitReason(enum.Enum):
    """Why a vCPU came back from guest code (``struct vmd_exit.reason``)."""

    IO = 1
    KICK = 2
    FAULT = 3
    STOP = 4
    HALT = 5  # only in run_until_halt()
    STEPS = 6  # only in run_until_halt(max_steps=...)


class FaultCode(enum.Enum):
    """What went wrong (``enum vmd_fault``, plus the VMM's own failure)."""

    ILLEGAL_INSTRUCTION = 1
    PC_OUT_OF_RANGE = 2
    PC_MISALIGNED = 3
    MEM_OUT_OF_RANGE = 4
    MEM_MISALIGNED = 5
    VMM_ERROR = 100  # the VMM failed handling an exit (on_io raised, ...)


class VcpuState(enum.Enum):
    """Where a vCPU is (``enum vmd_state``)."""

    UNPLUGGED = 0
    READY = 1
    RUNNING = 2
    OUTSIDE = 3  # in its thread's Python code, handling an exit
    HALTED = 4
    PAUSED = 5
    FAULTED = 6
    STOPPED = 7


@dataclass(frozen=True, slots=True)
class FaultInfo:
    """A guest fault: `pc` of the faulting instruction (for PC faults, the bad
    fetch address), `addr` the data address (MEM faults) or fetch address (PC
    faults), `insn` the raw instruction word (0 when it could not be fetched)."""

    code: FaultCode
    pc: int
    addr: int = 0
    insn: int = 0
    error: BaseException | None = None

    def __str__(self) -> str:
        text = f"{self.code.name.lower().replace('_', ' ')} at pc {self.pc:#x}"
        if self.code in (FaultCode.MEM_OUT_OF_RANGE, FaultCode.MEM_MISALIGNED):
            text += f" (address {self.addr:#x})"
        elif self.code is FaultCode.ILLEGAL_INSTRUCTION:
            text += f" (instruction {self.insn:#018x})"
        elif self.error is not None:
            text += f" ({type(self.error).__name__}: {self.error})"
        return text


@dataclass(frozen=True, slots=True)
class HaltResult:
    """How a :meth:`VcpuEngine.run_until_halt` ended."""

    reason: ExitReason  # HALT, STEPS or FAULT
    pc: int  # HALT: the HLT's address; STEPS: next instruction; FAULT: as FaultInfo.pc
    regs: tuple[int, ...]
    instructions: int  # retired
    fault: FaultInfo | None = None


class VcpuError(RuntimeError):
    """A request the engine cannot honour (vCPU not present, already present, busy, ...)."""


class VcpuFault(Exception):
    """A synchronous run (:meth:`VcpuEngine.run_until_halt`) ended in a guest fault."""

    def __init__(self, info: FaultInfo, result: HaltResult) -> None:
        super().__init__(str(info))
        self.info = info
        self.result = result


@dataclass(frozen=True, slots=True)
class VcpuStats:
    """Counters of one vCPU since it was plugged.  A running vCPU publishes its
    instruction count at every exit, halt and pause, and when asked: each
    :meth:`VcpuEngine.stats` call asks, so the next one is fresh."""

    instructions: int
    exits: Mapping[ExitReason, int]
    halts: int
    halted_ns: int
    pauses: int
    plugs: int
    state: VcpuState
    thread_id: int | None


IoHandler = Callable[[int, int, int, bool, int], "int | None"]
FaultHandler = Callable[[int, FaultInfo], None]
StoppedHandler = Callable[[int], None]


def _set_thread_name(tid: int, name: str) -> None:
    """Name an OS thread of this process (cosmetic: a thread gone already is no error)."""
    _lib.vmd_thread_set_name(tid, name.encode())


def _check(rc: int, what: str) -> None:
    if rc == -_ERANGE:
        raise ValueError(f"{what}: outside guest RAM")
    if rc:
        raise ValueError(f"{what}: invalid size or alignment")


async def _until_task_gone(tid: int, limit: float = 2.0) -> None:
    """Wait until the kernel has released thread `tid`.

    A joined thread can still be finishing its exit in the kernel for a moment, and until then it
    is in its cgroup: management software that removes a vCPU's cgroup as soon as the unplug is
    reported (libvirt does) would find it busy.  Usually this returns at the first look."""
    path = f"/proc/self/task/{tid}"
    delay, waited = 50e-6, 0.0
    while os.path.exists(path) and waited < limit:  # noqa: ASYNC240 (procfs: no disk I/O)
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 0.005)


class GuestRam:
    """The guest's RAM: one zeroed region, allocated once, shared by every vCPU.

    Reads and writes are single-copy atomic per aligned word, so the VMM can
    look at RAM while vCPUs run (as QEMU does).  Sizes are multiples of 4 KiB.
    """

    def __init__(self, size_bytes: int, *, backing_fd: int | None = None, shared: bool = False) -> None:
        """Anonymous RAM, or with `backing_fd` the first `size_bytes` of that open file (which
        must be at least that long), shared with the file or a private copy of it."""
        if size_bytes <= 0 or size_bytes % 4096:
            raise ValueError(f"guest RAM size must be a positive multiple of 4096, not {size_bytes}")
        if backing_fd is None:
            ptr = _lib.vmd_ram_new(size_bytes)
        else:
            ptr = _lib.vmd_ram_new_file(size_bytes, backing_fd, int(shared))
        if ptr == _ffi.NULL:
            errno = _ffi.errno
            raise MemoryError(f"cannot map {size_bytes} bytes of guest RAM: {os.strerror(errno)}")
        self._ptr: Any = _ffi.gc(ptr, _lib.vmd_ram_free)
        self._size = size_bytes
        # Whether dirty bits were ever taken (vmd.vcpu.PageEncoder): until then they are the
        # pages written since the RAM was made.  File-backed RAM counts every page written.
        self.synced = False

    @property
    def size_bytes(self) -> int:
        return self._size

    def read(self, addr: int, length: int) -> bytes:
        if addr < 0 or length < 0:
            raise ValueError("negative address or length")
        buf = _ffi.new("uint8_t[]", length)
        _check(_lib.vmd_ram_read(self._ptr, addr, buf, length), f"read {length} bytes at {addr:#x}")
        return bytes(_ffi.buffer(buf, length))

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        if addr < 0:
            raise ValueError("negative address")
        raw = bytes(data)
        _check(_lib.vmd_ram_write(self._ptr, addr, raw, len(raw)), f"write {len(raw)} bytes at {addr:#x}")

    def load(self, addr: int, image: bytes | bytearray | memoryview) -> None:
        """Copy a program or data image into RAM at `addr`."""
        self.write(addr, image)

    def read_uint(self, addr: int, size: int) -> int:
        """An aligned 1/2/4/8-byte little-endian load (atomic)."""
        if addr < 0:
            raise ValueError("negative address")
        out = _ffi.new("uint64_t *")
        _check(_lib.vmd_ram_load(self._ptr, addr, size, out), f"{size}-byte load at {addr:#x}")
        return int(out[0])

    def write_uint(self, addr: int, size: int, value: int) -> None:
        """An aligned 1/2/4/8-byte little-endian store (atomic); `value` is truncated."""
        if addr < 0:
            raise ValueError("negative address")
        rc = _lib.vmd_ram_store(self._ptr, addr, size, value & ((1 << (8 * size)) - 1))
        _check(rc, f"{size}-byte store at {addr:#x}")

    def read_u64(self, addr: int) -> int:
        return self.read_uint(addr, 8)

    def write_u64(self, addr: int, value: int) -> None:
        self.write_uint(addr, 8, value)

    # -- migration: dirty pages and page records (native/vcpu.h) -------------------------------

    @property
    def pages(self) -> int:
        return int(_lib.vmd_ram_pages(self._ptr))

    def dirty_count(self) -> int:
        """Pages written since the last :meth:`PageEncoder.sync` took their bits."""
        return int(_lib.vmd_ram_dirty_count(self._ptr))

    def decode(self, records: bytes | bytearray | memoryview) -> None:
        """Apply page records made by :class:`PageEncoder` (no vCPU may run meanwhile)."""
        raw = _ffi.from_buffer(records)
        if int(_lib.vmd_ram_decode(self._ptr, raw, len(raw))):
            raise ValueError("a page record is cut short or names a page outside guest RAM")

    def checksum(self) -> str:
        """A digest of all of guest RAM (tests compare source and target at switchover)."""
        digest = hashlib.sha256()
        step = 1 << 22
        for addr in range(0, self._size, step):
            digest.update(self.read(addr, min(step, self._size - addr)))
        return digest.hexdigest()


class PageDecoder:
    """The target's side of :class:`PageEncoder`: records fed in pieces as they come off the
    channel, cut anywhere, page bytes copied straight into guest RAM.  Everything in C: no
    per-page Python, no copy of a record before it is decoded.  No vCPU may run meanwhile."""

    def __init__(self, ram: GuestRam) -> None:
        self._ram = ram
        self._state: Any = _ffi.new("uint64_t[4]")

    def feed(self, piece: bytes | bytearray | memoryview) -> None:
        raw = _ffi.from_buffer(piece)
        if int(_lib.vmd_ram_decode_stream(self._ram._ptr, self._state, raw, len(raw))):
            raise ValueError("a page record names a page outside guest RAM")

    @property
    def whole(self) -> bool:
        """No record is cut (a RAM record of the stream must end with its last page)."""
        return int(self._state[0]) == 0 and int(self._state[2]) == 0


@dataclass(slots=True)
class PageCounts:
    zero: int = 0  # pages sent as a marker (QEMU's "duplicate")
    normal: int = 0  # pages sent whole


class PageEncoder:
    """One migration's view of guest RAM: the pages still to send (a bitmap), and a buffer the
    records of the next of them are encoded into.  Everything in C: no per-page Python."""

    RECORD_BYTES: Final = 8 + 4096

    def __init__(self, ram: GuestRam, chunk_bytes: int = 1 << 20) -> None:
        self._ram = ram
        self._words = int(_lib.vmd_ram_map_words(ram._ptr))
        self._map: Any = _ffi.new("uint64_t[]", self._words)
        self._cap = max(chunk_bytes, self.RECORD_BYTES)
        self._buf: Any = _ffi.new("uint8_t[]", self._cap)
        self._cursor: Any = _ffi.new("uint64_t *")
        self._counts: Any = _ffi.new("uint64_t[2]")
        self._written: Any = _ffi.NULL
        self.counts = PageCounts()

    def mark_all(self) -> None:
        """The first pass sends every page.  The first migration of a RAM knows which pages were
        ever written (their dirty bits were never taken before): the others go as zero pages
        without being read (reading untouched memory costs a page fault each)."""
        if not self._ram.synced:
            self._written = _ffi.new("uint64_t[]", self._words)
            _lib.vmd_ram_dirty_sync(self._ram._ptr, self._written)
        else:
            _lib.vmd_ram_dirty_sync(self._ram._ptr, self._map)  # stale bits: every page goes anyway
        self._ram.synced = True
        pages = self._ram.pages
        for i in range(self._words):
            bits = min(64, pages - 64 * i)
            self._map[i] = (1 << bits) - 1
        self._cursor[0] = 0

    def sync(self) -> int:
        """Take the pages written since the last sync into the set to send; how many are set."""
        self._cursor[0] = 0
        self._ram.synced = True
        self._written = _ffi.NULL  # a pass is over: from now on every page sent is read
        return int(_lib.vmd_ram_dirty_sync(self._ram._ptr, self._map))

    def next_chunk(self, most: int | None = None) -> memoryview | None:
        """The records of the next pages to send (valid until the next call), None when none is
        left; `most` bytes at most (at least one record) if given.  Encoding releases the GIL."""
        self._counts[0] = self._counts[1] = 0
        ram, counts = self._ram._ptr, self._counts
        cap = self._cap if most is None else min(self._cap, max(most, self.RECORD_BYTES))
        used = int(_lib.vmd_ram_encode(ram, self._map, self._cursor, self._buf, cap, counts, self._written))
        self.counts.zero += int(self._counts[0])
        self.counts.normal += int(self._counts[1])
        if used == 0:
            return None
        return memoryview(_ffi.buffer(self._buf, used))


@dataclass(eq=False, slots=True)
class _Slot:
    """A present vCPU: its context and its thread."""

    index: int
    ctx: Any
    thread: threading.Thread


_engines: weakref.WeakSet[VcpuEngine] = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    # vCPU threads are daemon threads (a forgotten engine must not hang the
    # interpreter's exit): stop and join them before the interpreter goes away.
    for engine in list(_engines):
        engine.close_blocking(timeout=5.0)


class VcpuEngine:
    """The vCPUs of one VM: contexts, their threads, pause/resume, kicks and interrupts."""

    def __init__(
        self,
        ram: GuestRam,
        *,
        entry: int,
        on_io: IoHandler,
        on_fault: FaultHandler,
        on_stopped: StoppedHandler | None = None,
        max_vcpus: int = DEFAULT_MAX_VCPUS,
        own_cgroup: bool = False,
    ) -> None:
        """`own_cgroup`: put the vCPU threads in a CPU cgroup of their own where the process may
        (vmd.vcpu_cgroup): the daemon does, so that busy vCPUs never delay its event loop."""
        if not 0 <= entry < ram.size_bytes or entry % 8:
            raise ValueError(f"entry point {entry:#x} is not an aligned address in guest RAM")
        ptr = _lib.vmd_engine_new(ram._ptr, max_vcpus)
        if ptr == _ffi.NULL:
            raise ValueError(f"cannot create a vCPU engine for {max_vcpus} vCPUs")
        self._eng: Any = _ffi.gc(ptr, _lib.vmd_engine_free)
        self._ram = ram
        self._entry = entry
        self._on_io = on_io
        self._on_fault = on_fault
        self._on_stopped = on_stopped
        self._max = max_vcpus
        self._contexts: dict[int, Any] = {}
        self._present: dict[int, _Slot] = {}
        self._closed = False
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._reader_loop: asyncio.AbstractEventLoop | None = None
        self._cgroup = vcpu_cgroup.create() if own_cgroup else None
        prepare = None if self._cgroup is None else self._cgroup.adopt_current
        self._spares = SpareThreads("spare-vcpu", _set_thread_name, prepare)
        _engines.add(self)

    # -- properties ---------------------------------------------------------------------------

    @property
    def ram(self) -> GuestRam:
        return self._ram

    @property
    def entry(self) -> int:
        return self._entry

    @property
    def max_vcpus(self) -> int:
        return self._max

    @property
    def event_fd(self) -> int:
        """An eventfd, readable whenever a pause-all completed or a vCPU thread exited."""
        return int(_lib.vmd_engine_eventfd(self._eng))

    @property
    def paused(self) -> bool:
        """True from pause_all() (its request phase) to resume_all()."""
        return bool(_lib.vmd_engine_paused(self._eng))

    def present(self) -> list[int]:
        """Indices with a vCPU thread (plugged), in index order."""
        return sorted(self._present)

    def present_count(self) -> int:
        """How many vCPUs have a thread (plugged)."""
        return len(self._present)

    def parked(self) -> list[int]:
        """Indices whose context exists but has no thread (unplugged)."""
        return sorted(i for i in self._contexts if i not in self._present)

    # -- plug and unplug ----------------------------------------------------------------------

    def start(self, index: int) -> None:
        """Plug vCPU `index`: reuse its parked context (or create one) and start thread ``vcpu{index}``.

        The vCPU starts at the engine's entry point with zeroed registers; if
        the engine is paused it starts paused."""
        self.start_many((index,))

    def start_many(self, indices: Iterable[int]) -> None:
        """:meth:`start` of each of `indices` (a core's threads), in order.  The threads that
        were spares get their work only once every one is plugged and named: a woken thread
        wants the GIL at once, and each of its turns would be a thread switch in the middle of
        the plug.  If one cannot start, the ones before it are started (and stay so)."""
        indices = list(indices)
        woken: list[tuple[Spare, int, Any]] = []
        try:
            batch = self._start_on_spares(indices, woken)
            for index in indices[batch:]:  # the pool ran short: threads started the usual way
                handed = self._start(index)
                if handed is not None:
                    woken.append(handed)
        finally:
            for spare, index, ctx in woken:
                spare.hand(self._vcpu_main, index, ctx)
            self._spares.refill()

    def _start_on_spares(self, indices: list[int], woken: list[tuple[Spare, int, Any]]) -> int:
        """Plug the first of `indices` onto spares, as many as the pool has, in one C call
        (contexts, plugs and OS names: vmd_engine_plug_batch); each is added to `woken`, still to
        be handed its work.  Returns how many; raises as :meth:`start` for the first that fails
        (the spares not used go back to the pool)."""
        if self._closed:
            raise VcpuError("the vCPU engine is closed")
        spares: list[Spare] = []
        for index in indices:
            if not 0 <= index < self._max:
                raise VcpuError(f"vCPU index {index} is out of range 0..{self._max - 1}")
            if index in self._present:
                break  # _start says so, in its order
            spare = self._spares.take(refill=False)  # start_many refills the pool once, at its end
            if spare is None:
                break
            spares.append(spare)
        count = len(spares)
        if not count:
            return 0
        out = _ffi.new("vmd_vcpu *[]", count)
        err = _ffi.new("int *")
        tids = [spare.native_id for spare in spares]
        done = int(_lib.vmd_engine_plug_batch(self._eng, count, indices[:count], tids, self._entry, out, err))
        for position in range(done):
            index, ctx, spare = indices[position], out[position], spares[position]
            self._contexts[index] = ctx
            self._present[index] = _Slot(index, ctx, spare.thread)
            spare.thread.name = f"vcpu{index}"  # the OS name is set already
            woken.append((spare, index, ctx))
        for spare in reversed(spares[done:]):
            self._spares.give_back(spare)
        if done < count:
            index = indices[done]
            if int(err[0]) == -_ENOMEM:
                raise MemoryError(f"cannot allocate the context of vCPU {index}")
            ctx = _lib.vmd_engine_peek(self._eng, index)  # made before the plug failed
            if ctx != _ffi.NULL:
                self._contexts[index] = ctx
            raise VcpuError(f"vCPU {index}: its context is still in use (error {-int(err[0])})")
        return done

    def _start(self, index: int) -> tuple[Spare, int, Any] | None:
        """Plug `index`: on a spare (returned, named, still to be handed its work) or on a new
        thread (started, None)."""
        if self._closed:
            raise VcpuError("the vCPU engine is closed")
        if index in self._present:
            raise VcpuError(f"vCPU {index} is already present")
        ctx = self._context(index)
        rc = int(_lib.vmd_vcpu_plug(ctx, self._entry, 0))
        if rc:
            raise VcpuError(f"vCPU {index}: its context is still in use (error {-rc})")
        spare = self._spares.take(refill=False)  # start_many refills the pool once, at its end
        if spare is not None:  # a thread that runs already: nothing to wait for
            self._present[index] = _Slot(index, ctx, spare.thread)
            spare.rename(f"vcpu{index}", _set_thread_name)
            return spare, index, ctx
        thread = threading.Thread(target=self._vcpu_main, args=(index, ctx), name=f"vcpu{index}", daemon=True)
        slot = _Slot(index, ctx, thread)
        self._present[index] = slot
        try:
            thread.start()
        except BaseException:
            del self._present[index]
            _lib.vmd_vcpu_unplug(ctx)
            raise
        # Python 3.11 does not name OS threads: do it now, so the name is there on return
        # (the thread also names itself when it enters C).
        if thread.native_id is not None:
            _lib.vmd_thread_set_name(thread.native_id, f"vcpu{index}".encode())
        return None

    def create_parked(self, indices: Iterable[int]) -> None:
        """Create the contexts of these vCPUs now, parked (no thread): a later :meth:`start`
        reuses them.  For a machine that sizes everything for every possible vCPU at boot (ARM
        virt's vCPU hotplug); starting one later costs no allocation."""
        for index in indices:
            self._context(index)

    def keep_spare_threads(self, count: int) -> None:
        """Keep `count` threads started ahead (vmd.spare_threads), so that :meth:`start` of a vCPU
        hands one of them its context instead of waiting for a new thread to run."""
        self._spares.keep(0 if self._closed else count)

    def spare_threads(self) -> int:
        """How many spare threads are ready now."""
        return self._spares.ready()

    async def stop(self, index: int) -> None:
        """Unplug vCPU `index`: stop it at its next safe point, join its thread, park its context.

        Waits through the engine's eventfd; the event loop is never blocked."""
        slot = self._slot(index)
        _lib.vmd_vcpu_request_stop(slot.ctx)
        await self._until(lambda: bool(_lib.vmd_vcpu_exited(slot.ctx)))
        tid = slot.thread.native_id
        self._retire(slot)
        if tid is not None:
            await _until_task_gone(tid)

    def request_stop(self, index: int) -> None:
        """Ask vCPU `index` to stop, without waiting; :meth:`wait_exited` (thread-safe, blocking)
        or :meth:`stop` (which then completes at once) finish the unplug."""
        _lib.vmd_vcpu_request_stop(self._slot(index).ctx)

    def stop_blocking(self, index: int, timeout: float | None = None) -> None:
        """:meth:`stop` for callers without an event loop (blocks, GIL released)."""
        slot = self._slot(index)
        _lib.vmd_vcpu_request_stop(slot.ctx)
        if not self.wait_exited(index, timeout):
            raise TimeoutError(f"vCPU {index} did not stop within {timeout} s")
        self._retire(slot)

    async def close(self) -> None:
        """Stop and join every vCPU thread; the engine accepts no new vCPUs afterwards."""
        self._closed = True
        self._spares.close()
        slots = list(self._present.values())
        for slot in slots:
            _lib.vmd_vcpu_request_stop(slot.ctx)
        await self._until(lambda: all(_lib.vmd_vcpu_exited(s.ctx) for s in slots))
        for slot in slots:
            self._retire(slot)
        if self._cgroup is not None:
            delay, waited = 50e-6, 0.0
            while not self._cgroup.remove() and waited < 2.0:  # exiting threads are in it a moment
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 0.01)

    def close_blocking(self, timeout: float | None = None) -> None:
        """:meth:`close` for callers without an event loop; threads that do not
        stop within `timeout` are left alone (and logged)."""
        self._closed = True
        self._spares.close()
        slots = list(self._present.values())
        for slot in slots:
            _lib.vmd_vcpu_request_stop(slot.ctx)
        for slot in slots:
            if self.wait_exited(slot.index, timeout):
                self._retire(slot)
            else:
                log.error("vCPU %d did not stop within %s s; its thread is left running", slot.index, timeout)
        if self._cgroup is not None:
            deadline = time.monotonic() + 2.0
            while not self._cgroup.remove() and time.monotonic() < deadline:
                time.sleep(0.001)

    # -- run control --------------------------------------------------------------------------

    async def pause_all(self) -> None:
        """Park every present vCPU; returns once all have acknowledged.

        Two phases: every vCPU gets its request (and kick) first, then the
        acknowledgements are awaited together.  Halted vCPUs are not woken.
        Afterwards no guest instruction executes until :meth:`resume_all`.
        Wrap in ``asyncio.timeout()`` to bound the wait."""
        self._favour_parking(True)
        try:
            if int(_lib.vmd_engine_pause_all(self._eng)) == 0:
                return
            await self._until(lambda: int(_lib.vmd_engine_pause_outstanding(self._eng)) == 0)
        finally:
            self._favour_parking(False)

    def request_pause_all(self) -> None:
        """Phase one of :meth:`pause_all` only; complete it with :meth:`wait_paused`
        (e.g. ``await asyncio.to_thread(engine.wait_paused, 5.0)``) or :meth:`pause_all`."""
        self._favour_parking(True)  # until pause_all or resume_all
        _lib.vmd_engine_pause_all(self._eng)

    def pause_all_blocking(self, timeout: float | None = None) -> None:
        """:meth:`pause_all` for callers without an event loop (blocks, GIL released)."""
        _lib.vmd_engine_pause_all(self._eng)
        if not self.wait_paused(timeout):
            raise TimeoutError(f"vCPUs did not acknowledge the pause within {timeout} s")

    def resume_all(self) -> None:
        """Let every vCPU run again (a pause-all still waiting completes)."""
        self._favour_parking(False)
        _lib.vmd_engine_resume_all(self._eng)

    def wait_paused(self, timeout: float | None = None) -> bool:
        """Block (GIL released) until the last pause-all is acknowledged; False on timeout.
        Thread-safe: meant for ``asyncio.to_thread``."""
        return int(_lib.vmd_engine_wait_paused(self._eng, _ns(timeout))) == 0

    def wait_exited(self, index: int, timeout: float | None = None) -> bool:
        """Block (GIL released) until the thread of vCPU `index` has exited; False on timeout.
        Thread-safe: meant for ``asyncio.to_thread``; a join afterwards returns at once."""
        ctx = self._contexts.get(index)
        if ctx is None:
            raise VcpuError(f"vCPU {index} has never been started")
        return int(_lib.vmd_vcpu_wait_exited(ctx, _ns(timeout))) == 0

    def kick(self, index: int) -> None:
        """Bring vCPU `index` to a safe point (out of HLT) and once through its thread's loop."""
        _lib.vmd_vcpu_kick(self._slot(index).ctx)

    def post_interrupt(self, index: int, vector: int) -> None:
        """Set `vector` (0..63) pending on vCPU `index` and wake it from HLT."""
        if not 0 <= vector < IRQ_VECTORS:
            raise ValueError(f"interrupt vector {vector} is out of range 0..{IRQ_VECTORS - 1}")
        _lib.vmd_vcpu_post_interrupt(self._slot(index).ctx, vector)

    def reset(self, index: int, entry: int | None = None) -> None:
        """Restart vCPU `index` at `entry` (default: the engine's) with zeroed registers and no
        pending interrupts, at its next safe point; this also ends a FAULTED state."""
        entry = self._entry if entry is None else entry
        if int(_lib.vmd_vcpu_reset(self._slot(index).ctx, entry)):
            raise ValueError(f"entry point {entry:#x} is not an aligned address in guest RAM")

    # -- inspection ---------------------------------------------------------------------------

    def thread_id(self, index: int) -> int:
        """The host TID of vCPU `index`'s thread (QMP ``query-cpus-fast`` ``thread-id``)."""
        tid = self._slot(index).thread.native_id
        if tid is None:  # pragma: no cover - start() returns after the thread started
            raise VcpuError(f"vCPU {index} has no thread yet")
        return tid

    @staticmethod
    def context_bytes() -> int:
        """The size of one native context: what a parked vCPU costs in C."""
        return int(_lib.vmd_vcpu_context_size())

    def context_id(self, index: int) -> int:
        """An identity of the native context of `index` (stable across unplug and replug)."""
        return int(_ffi.cast("uintptr_t", self._existing(index)))

    def state(self, index: int) -> VcpuState:
        return VcpuState(int(_lib.vmd_vcpu_state(self._existing(index))))

    def request_sync(self, indices: Iterable[int]) -> None:
        """Ask the running vCPUs among `indices` to publish their counters at their next safe
        point: a vCPU that never exits publishes only when asked.  Does not wait."""
        contexts = [self._existing(index) for index in indices]
        if contexts:
            _lib.vmd_vcpus_request_sync(_ffi.new("vmd_vcpu *[]", contexts), len(contexts))

    def stats(self, index: int) -> VcpuStats:
        """Counters of vCPU `index` (present or parked), as last published.  Never blocks."""
        out = _ffi.new("struct vmd_stats *")
        _lib.vmd_vcpu_stats(self._existing(index), out)
        exits = {reason: int(out.exits[reason.value]) for reason in ExitReason}
        return VcpuStats(
            instructions=int(out.insns),
            exits=exits,
            halts=int(out.halts),
            halted_ns=int(out.halt_ns),
            pauses=int(out.pauses),
            plugs=int(out.plugs),
            state=VcpuState(int(out.state)),
            thread_id=int(out.tid) or None,
        )

    def save_context(self, index: int) -> tuple[tuple[int, ...], int, int]:
        """(registers, pc, pending interrupts) of vCPU `index`, for migration: only while the
        engine is paused."""
        regs = _ffi.new("uint64_t[]", NUM_REGS)
        pc = _ffi.new("uint64_t *")
        irq = _ffi.new("uint64_t *")
        if int(_lib.vmd_vcpu_save(self._existing(index), regs, pc, irq)):
            raise VcpuError(f"vCPU {index} may run: pause the engine first")
        return tuple(int(v) for v in regs), int(pc[0]), int(irq[0])

    def restore_context(self, index: int, regs: Iterable[int], pc: int, irq: int) -> None:
        """Load a migrated context into vCPU `index` (engine paused, vCPU not run since)."""
        values = list(regs)
        if len(values) != NUM_REGS:
            raise ValueError(f"a vCPU context has {NUM_REGS} registers, not {len(values)}")
        rc = int(_lib.vmd_vcpu_restore(self._context(index), values, pc, irq))
        if rc == -_EBUSY:
            raise VcpuError(f"vCPU {index} has run: a context can only be loaded before")
        if rc:
            raise ValueError(f"pc {pc:#x} is not an aligned address in guest RAM")

    def registers(self, index: int) -> tuple[int, ...]:
        """r0..r255 of vCPU `index`; only while it is paused, faulted, stopped or parked."""
        return self._regs(index)[0]

    def pc(self, index: int) -> int:
        """The pc of vCPU `index`; only while it is paused, faulted, stopped or parked."""
        return self._regs(index)[1]

    # -- synchronous runs (tests and tools) ---------------------------------------------------

    def run_until_halt(
        self,
        index: int,
        *,
        entry: int | None = None,
        max_steps: int | None = None,
        timeout: float | None = None,
        on_io: IoHandler | None = None,
    ) -> HaltResult:
        """Run vCPU `index` on the *calling* thread until it executes HLT with no
        interrupt pending, faults, or starts more than `max_steps` instructions.

        Blocks (GIL released while guest code runs): for tests, tools and
        benchmarks, never on an event loop.  IO exits call `on_io` (default: the
        engine's).  Raises VcpuFault on a guest fault (its ``result`` has the
        final state) and TimeoutError after `timeout` seconds."""
        if index in self._present:
            raise VcpuError(f"vCPU {index} is present: stop it first")
        ctx = self._context(index)
        start = self._entry if entry is None else entry
        rc = int(_lib.vmd_vcpu_plug(ctx, start, _lib.VMD_PLUG_EXIT_ON_HALT))
        if rc == -_EBUSY:
            raise VcpuError(f"vCPU {index}: its context is in use")
        if rc:
            raise ValueError(f"entry point {start:#x} is not an aligned address in guest RAM")
        handler = self._on_io if on_io is None else on_io
        timed_out = threading.Event()
        timer: threading.Timer | None = None
        if timeout is not None:

            def expire() -> None:
                timed_out.set()
                _lib.vmd_vcpu_kick(ctx)

            timer = threading.Timer(timeout, expire)
            timer.name = f"vcpu{index}-watchdog"
            timer.start()
        try:
            if max_steps is not None:
                _lib.vmd_vcpu_set_steps(ctx, max_steps)
            info = _lib.vmd_vcpu_exit_info(ctx)
            while True:
                reason = ExitReason(int(_lib.vmd_vcpu_run(ctx)))
                if reason is ExitReason.IO:
                    fault = self._serve_io(index, ctx, info, handler)
                    if fault is not None:
                        return self._finish_halt(ctx, ExitReason.FAULT, fault)
                elif reason is ExitReason.KICK:
                    if timed_out.is_set():
                        raise TimeoutError(f"vCPU {index} did not halt within {timeout} s")
                elif reason is ExitReason.FAULT:
                    return self._finish_halt(ctx, reason, _fault_info(info))
                else:
                    return self._finish_halt(ctx, reason, None)
        finally:
            if timer is not None:
                timer.cancel()
                timer.join()
            _lib.vmd_vcpu_set_steps(ctx, _NO_BUDGET)
            _lib.vmd_vcpu_unplug(ctx)

    # -- internals ----------------------------------------------------------------------------

    def _favour_parking(self, on: bool) -> None:
        if self._cgroup is not None:
            self._cgroup.favour(on)

    def _context(self, index: int) -> Any:
        if not 0 <= index < self._max:
            raise VcpuError(f"vCPU index {index} is out of range 0..{self._max - 1}")
        ctx = self._contexts.get(index)
        if ctx is None:
            ctx = _lib.vmd_engine_vcpu(self._eng, index)
            if ctx == _ffi.NULL:
                raise MemoryError(f"cannot allocate the context of vCPU {index}")
            self._contexts[index] = ctx
        return ctx

    def _existing(self, index: int) -> Any:
        ctx = self._contexts.get(index)
        if ctx is None:
            raise VcpuError(f"vCPU {index} has never been started")
        return ctx

    def _slot(self, index: int) -> _Slot:
        slot = self._present.get(index)
        if slot is None:
            raise VcpuError(f"vCPU {index} is not present")
        return slot

    def _regs(self, index: int) -> tuple[tuple[int, ...], int]:
        regs = _ffi.new("uint64_t[]", NUM_REGS)
        pc = _ffi.new("uint64_t *")
        if int(_lib.vmd_vcpu_get_regs(self._existing(index), regs, pc, 0)):
            raise VcpuError(f"vCPU {index} is running: pause it first")
        return tuple(int(v) for v in regs), int(pc[0])

    def _finish_halt(self, ctx: Any, reason: ExitReason, fault: FaultInfo | None) -> HaltResult:
        regs = _ffi.new("uint64_t[]", NUM_REGS)
        pc = _ffi.new("uint64_t *")
        _lib.vmd_vcpu_get_regs(ctx, regs, pc, 1)
        stats = _ffi.new("struct vmd_stats *")
        _lib.vmd_vcpu_stats(ctx, stats)
        result = HaltResult(
            reason=reason,
            pc=int(pc[0]),
            regs=tuple(int(v) for v in regs),
            instructions=int(stats.insns),
            fault=fault,
        )
        if fault is not None:
            raise VcpuFault(fault, result)
        return result

    def _retire(self, slot: _Slot) -> None:
        # The thread's exit notification comes from C after Python is done with the
        # thread, so this join does not wait.
        slot.thread.join()
        _lib.vmd_vcpu_unplug(slot.ctx)
        if self._present.get(slot.index) is slot:
            del self._present[slot.index]

    def _serve_io(self, index: int, ctx: Any, info: Any, handler: IoHandler) -> FaultInfo | None:
        """Handle one IO exit on the vCPU thread; a FaultInfo if the handler failed."""
        size = int(info.size)
        is_write = bool(info.is_write)
        try:
            result = handler(index, int(info.port), size, is_write, int(info.value))
            if not is_write:
                mask = (1 << (8 * size)) - 1
                _lib.vmd_vcpu_complete_in(ctx, mask if result is None else int(result) & mask)
        except Exception as exc:
            log.exception("vCPU %d: the handler of port %#x failed", index, int(info.port))
            _lib.vmd_vcpu_fail(ctx)
            return FaultInfo(FaultCode.VMM_ERROR, int(info.pc), int(info.port), 0, exc)
        return None

    def _vcpu_main(self, index: int, ctx: Any) -> None:
        try:
            if self._cgroup is not None:
                self._cgroup.adopt_current()  # a spare did already
            rc = int(_lib.vmd_vcpu_thread_enter(ctx))
            if rc:
                raise OSError(-rc, f"vCPU {index}: cannot enter its context")
            info = _lib.vmd_vcpu_exit_info(ctx)
            while True:
                reason = int(_lib.vmd_vcpu_run(ctx))
                if reason == 1:  # IO
                    fault = self._serve_io(index, ctx, info, self._on_io)
                    if fault is not None:
                        self._report_fault(index, fault)
                elif reason == 3:  # FAULT
                    self._report_fault(index, _fault_info(info))
                elif reason == 4:  # STOP
                    break
                # KICK: nothing to do but run again
        except BaseException as exc:  # the top level reports everything
            log.exception("vCPU %d: its thread failed", index)
            _lib.vmd_vcpu_fail(ctx)
            self._report_fault(index, FaultInfo(FaultCode.VMM_ERROR, 0, 0, 0, exc))
        finally:
            if self._on_stopped is not None:
                try:
                    self._on_stopped(index)
                except Exception:
                    log.exception("vCPU %d: on_stopped failed", index)

    def _report_fault(self, index: int, fault: FaultInfo) -> None:
        try:
            self._on_fault(index, fault)
        except Exception:
            log.exception("vCPU %d: on_fault failed for %s", index, fault)

    async def _until(self, done: Callable[[], bool]) -> None:
        """Wait, woken by the eventfd, until `done()`; cancellable."""
        if done():
            return
        loop = asyncio.get_running_loop()
        if self._reader_loop is not None and self._reader_loop is not loop:
            raise VcpuError("the vCPU engine is already waited on from another event loop")
        waiter = (done, loop.create_future())
        if not self._waiters:
            loop.add_reader(self.event_fd, self._on_event)
            self._reader_loop = loop
        self._waiters.append(waiter)
        try:
            if not done():  # signalled before the reader was added: the eventfd stays readable
                await waiter[1]
        finally:
            self._waiters.remove(waiter)
            if not self._waiters:
                loop.remove_reader(self.event_fd)
                self._reader_loop = None

    def _on_event(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.event_fd, 8)  # drain: the eventfd is level-triggered
        for done, fut in self._waiters:
            if not fut.done() and done():
                fut.set_result(None)


def set_thread_slice(ns: int, tid: int = 0) -> int:
    """Ask for an `ns` scheduler slice for thread `tid` (0: the calling one); 0 or -errno (older
    kernels have no such setting).  See ``vmd_thread_set_slice`` in native/vcpu.h."""
    return int(_lib.vmd_thread_set_slice(tid, ns))


def _ns(timeout: float | None) -> int:
    return -1 if timeout is None else max(0, int(timeout * 1e9))


def _fault_info(info: Any) -> FaultInfo:
    return FaultInfo(FaultCode(int(info.fault)), int(info.pc), int(info.addr), int(info.insn))
