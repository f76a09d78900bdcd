"""The dump job: `dump-guest-memory`'s checks in QEMU 7.2's order and words, the pause around
the dump (a running VM goes to save-vm, STOP, and back, RESUME, whether detached or not, as
QEMU does), the writing, and the status `query-dump` and DUMP_COMPLETED report.

The bytes are copied in chunks on a worker thread, so the loop keeps serving (a detached dump's
progress shows in `query-dump`); the loop alone updates the job's state between chunks.  The fd
is written non-blocking, the thread waiting in select() on it and on an abort pipe: a reader that
stops reading (a pipe nobody drains) cannot keep the daemon from exiting."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import select
from typing import TYPE_CHECKING

from vmd.errors import GenericError
from vmd.machine.dump import elf
from vmd.qapi import compiled as ev
from vmd.qapi.compiled import DumpGuestMemoryFormat as Fmt
from vmd.qapi.compiled import DumpStatus, RunState, SysEmuTarget

if TYPE_CHECKING:
    from vmd.machine.vm import VirtualMachine
    from vmd.vcpu import GuestRam

log = logging.getLogger(__name__)

CHUNK = 4 << 20
WRITE_FAILED = "dump: failed to save memory"
IN_PROGRESS = "There is a dump in process, please wait."


class DumpJob:
    """The VM's one dump at a time and the last one's outcome."""

    def __init__(self, vm: VirtualMachine) -> None:
        self.vm = vm
        self.status = DumpStatus.NONE
        self.completed = 0
        self.total = 0
        self._task: asyncio.Task[str | None] | None = None  # a detached dump (kept referenced)
        self._abort: tuple[int, int] | None = None  # the running dump's abort pipe (read, write)
        self._closing = False

    @property
    def active(self) -> bool:
        """A dump is being written: stop, cont and migrate are refused meanwhile, as in QEMU."""
        return self.status is DumpStatus.ACTIVE

    @property
    def formats(self) -> list[Fmt]:
        return [Fmt.ELF] if elf.supported(self.vm.board.target) else []

    def query(self) -> ev.DumpQueryResult:
        return ev.DumpQueryResult(status=self.status, completed=self.completed, total=self.total)

    async def dump(
        self,
        protocol: str,
        *,
        paging: bool,
        detach: bool,
        begin: int | None,
        length: int | None,
        fmt: Fmt | None,
    ) -> None:
        """Check, open, pause, and write (or with `detach` start writing and return)."""
        if self.vm.runstate.state is RunState.INMIGRATE:
            raise GenericError("Dump not allowed during incoming migration.")
        if self.active:
            raise GenericError(IN_PROGRESS)
        if fmt not in (None, Fmt.ELF) and (paging or begin is not None or length is not None):
            raise GenericError("kdump-compressed format doesn't support paging or filter")
        if begin is not None and length is None:
            raise GenericError("Parameter 'length' is missing")
        if begin is None and length is not None:
            raise GenericError("Parameter 'begin' is missing")
        if fmt is Fmt.WIN_DMP and self.vm.board.target is not SysEmuTarget.X86_64:
            raise GenericError("Windows dump is only available for x86-64")
        if fmt is not None and fmt not in self.formats:
            # vmd writes ELF only: the others are refused as QEMU refuses one it was built without.
            raise GenericError(f"{fmt.value} is not available now")
        fd = self._open(protocol)
        # From here a failure is the dump's: query-dump says "failed" (QEMU's dump_init errors).
        self.status, self.completed, self.total = DumpStatus.ACTIVE, 0, 0
        try:
            blocks = self._blocks(begin, length)
        except GenericError:
            os.close(fd)
            self.status = DumpStatus.FAILED
            raise
        self.total = sum(block.size for block in blocks)
        resume = self.vm.runstate.running
        if resume:
            await self.vm.pause_for_dump()
        run = self._write(fd, blocks, resume)
        if detach:
            self._task = asyncio.create_task(run, name="dump-guest-memory")
            return
        error = await run
        if error is not None:
            raise GenericError(error)

    async def close(self) -> None:
        """The daemon exits: a dump still running stops where it is (the VM stays paused)."""
        self._closing = True
        if self._abort is not None:
            os.write(self._abort[1], b"x")
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    def _open(self, protocol: str) -> int:
        if protocol.startswith("fd:"):
            return self.vm.migration.fds.take(protocol[3:])
        if protocol.startswith("file:"):
            path = protocol[5:]
            try:
                return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
            except OSError as error:
                raise GenericError(
                    f"Could not open '{path}': {os.strerror(error.errno or errno.EIO)}"
                ) from None
        raise GenericError("Invalid parameter 'protocol'")

    def _blocks(self, begin: int | None, length: int | None) -> list[elf.Block]:
        """Guest RAM (one block at guest-physical 0 in vmd), cut to [begin, begin + length)."""
        size = self.vm.vcpus.ram.size_bytes
        if begin is None or length is None:
            return [elf.Block(0, 0, size)]
        if length <= 0:
            raise GenericError("Invalid parameter 'length'")
        if begin < 0:
            raise GenericError("Invalid parameter 'begin'")
        end = min(begin + length, size)
        if begin >= end:
            raise GenericError("dump: no guest memory to dump")
        return [elf.Block(begin, begin, end - begin)]

    async def _write(self, fd: int, blocks: list[elf.Block], resume: bool) -> str | None:
        """Write the core; the error text, None when it was written whole."""
        error: str | None = None
        ram = self.vm.vcpus.ram
        abort_r, abort_w = self._abort = os.pipe()
        try:
            os.set_blocking(fd, False)
            await asyncio.to_thread(_write_all, fd, abort_r, elf.header(self.vm.board.target, blocks))
            for block in blocks:
                done = 0
                while done < block.size:
                    n = min(CHUNK, block.size - done)
                    await asyncio.to_thread(_copy, ram, fd, abort_r, block.ram_offset + done, n)
                    done += n
                    self.completed += n
        except OSError as failure:
            log.warning("dump failed: %s", failure)
            error = WRITE_FAILED
        finally:
            self._abort = None
            for each in (fd, abort_r, abort_w):
                os.close(each)
        self.status = DumpStatus.FAILED if error else DumpStatus.COMPLETED
        self.vm.emit(ev.DUMP_COMPLETED, ev.DumpCompletedEventData(result=self.query(), error=error))
        if resume and not self._closing:  # after the event, as QEMU: STOP, DUMP_COMPLETED, RESUME
            self.vm.resume_after_dump()
        return error


class _Aborted(OSError):
    """The daemon is exiting (DumpJob.close)."""


def _copy(ram: GuestRam, fd: int, abort: int, addr: int, length: int) -> None:
    _write_all(fd, abort, ram.read(addr, length))


def _write_all(fd: int, abort: int, data: bytes) -> None:
    """All of `data` to the non-blocking `fd`, waiting while it is full unless `abort` is readable."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            readable, _, _ = select.select([abort], [fd], [])
            if readable:
                raise _Aborted(errno.ECANCELED, "the daemon is exiting") from None
