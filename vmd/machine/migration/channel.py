"""The migration's byte channel: one fd (a socket, a pipe, a regular file), read and written from
the event loop without ever blocking it.

Sockets and pipes are made non-blocking and waited on with the loop's readers and writers; a
regular file (libvirt's save file) cannot block for long, and is written and read from a worker
thread.  Writes go out at the fd's current offset (libvirt puts its own header first).  Errors
become `ChannelError` with QEMU's words: `Unable to write to socket: Broken pipe`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import stat
import subprocess
from collections.abc import Callable

# What a unix socket may hold in flight, each way (the kernel caps it at net.core.wmem_max and
# rmem_max).  The default (208 KiB) is less than the last pass of a busy guest: the source then
# waits, with its guest stopped, for the target to drain the socket.  With room for it, the last
# pages go out in one write and the downtime is the source's alone, as QEMU's buffered file makes it.
UNIX_BUFFER = 4 << 20
READ_BUFFER = 1 << 20


def _widen_unix_buffers(fd: int) -> None:
    sock = socket.socket(fileno=os.dup(fd))
    try:
        if sock.family == socket.AF_UNIX:  # TCP tunes its own buffers
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                if sock.getsockopt(socket.SOL_SOCKET, option) < UNIX_BUFFER:
                    sock.setsockopt(socket.SOL_SOCKET, option, UNIX_BUFFER)
    except OSError:
        pass  # a socket that refuses keeps its size: slower, not wrong
    finally:
        sock.close()


class ChannelError(Exception):
    pass


class ChannelClosed(ChannelError):
    """The peer closed the channel (end of file where more was expected)."""


class Channel:
    """`kind` names the channel in errors ("socket", "command", "file"); `process` is the child
    of an exec: URI, reaped when the channel closes."""

    def __init__(self, fd: int, kind: str, process: subprocess.Popen[bytes] | None = None) -> None:
        self.fd = fd
        self.kind = kind
        self.process = process
        mode = os.fstat(fd).st_mode
        self.regular = stat.S_ISREG(mode)
        self.is_socket = stat.S_ISSOCK(mode)
        if not self.regular:
            os.set_blocking(fd, False)
        if self.is_socket:
            _widen_unix_buffers(fd)
        self._closed = False
        self._in = bytearray(READ_BUFFER)
        self._start = self._end = 0  # the bytes read and not handed on yet: _in[_start:_end]

    # -- writing -------------------------------------------------------------------------------

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        if self.regular:
            await asyncio.to_thread(self._write_blocking, view)
            return
        loop = asyncio.get_running_loop()
        while view:
            try:
                sent = os.write(self.fd, view)
            except BlockingIOError:
                await self._wait(loop, writable=True)
                continue
            except OSError as error:
                raise self._error("write to", error) from None
            view = view[sent:]

    def _write_blocking(self, view: memoryview) -> None:
        while view:
            try:
                sent = os.write(self.fd, view)
            except OSError as error:
                raise self._error("write to", error) from None
            view = view[sent:]

    # -- reading -------------------------------------------------------------------------------
    # One reusable buffer: what arrives is read into it (readv) and handed on from it, so a page
    # record goes from the kernel to the buffer to guest RAM, with no bytes object in between.

    async def read_exactly(self, count: int) -> bytes:
        while self._end - self._start < count:
            if self._start:
                self._compact()
            if count > len(self._in):  # a new buffer: the old one may still be exported
                grown = bytearray(count)
                grown[: self._end] = self._in[: self._end]
                self._in = grown
            await self._fill()
        data = bytes(self._in[self._start : self._start + count])
        self._start += count
        return data

    async def read_into(self, count: int, sink: Callable[[memoryview], None]) -> None:
        """The next `count` bytes, handed to `sink` in pieces as they arrive (each valid only
        during the call)."""
        view = memoryview(self._in)
        while count:
            if self._start == self._end:
                self._start = self._end = 0
                await self._fill(count)
            n = min(count, self._end - self._start)
            sink(view[self._start : self._start + n])
            self._start += n
            count -= n

    def _compact(self) -> None:
        kept = self._end - self._start
        self._in[:kept] = self._in[self._start : self._end]
        self._start, self._end = 0, kept

    async def _fill(self, limit: int | None = None) -> None:
        """Read what is there (at least a byte, waiting for it) after the buffered bytes."""
        room = memoryview(self._in)[self._end :]
        if limit is not None:
            room = room[:limit]
        got = await self._read_some(room)
        if not got:
            raise ChannelClosed(f"Unable to read from {self.kind}: end of stream")
        self._end += got

    async def _read_some(self, room: memoryview) -> int:
        if self.regular:
            try:
                return await asyncio.to_thread(os.readv, self.fd, [room])
            except OSError as error:
                raise self._error("read from", error) from None
        loop = asyncio.get_running_loop()
        while True:
            try:
                return os.readv(self.fd, [room])
            except BlockingIOError:
                await self._wait(loop, writable=False)
            except OSError as error:
                raise self._error("read from", error) from None

    async def _wait(self, loop: asyncio.AbstractEventLoop, *, writable: bool) -> None:
        if self._closed:
            raise ChannelClosed(f"Unable to use {self.kind}: it was closed")
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        add, remove = (
            (loop.add_writer, loop.remove_writer) if writable else (loop.add_reader, loop.remove_reader)
        )
        add(self.fd, wake)
        try:
            await ready
        finally:
            remove(self.fd)

    def _error(self, verb: str, error: OSError) -> ChannelError:
        reason = os.strerror(error.errno or errno.EIO)
        return ChannelError(f"Unable to {verb} {self.kind}: {reason}")

    # -- the end -------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Wake a peer or a pending wait: no more data either way (sockets only)."""
        if self.is_socket and not self._closed:
            sock = socket.socket(fileno=os.dup(self.fd))
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                sock.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        os.close(self.fd)
        process = self.process
        if process is not None and process.poll() is None:
            # Reaped off the loop: a command may take its time to see the end of its input.
            asyncio.get_running_loop().run_in_executor(None, process.wait)
