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
        self._closed = False
        self._buffer = bytearray()

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

    async def read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = await self._read_some(max(count - len(self._buffer), 1 << 20))
            if not chunk:
                raise ChannelClosed(f"Unable to read from {self.kind}: end of stream")
            self._buffer += chunk
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    async def _read_some(self, limit: int) -> bytes:
        if self.regular:
            try:
                return await asyncio.to_thread(os.read, self.fd, limit)
            except OSError as error:
                raise self._error("read from", error) from None
        loop = asyncio.get_running_loop()
        while True:
            try:
                return os.read(self.fd, limit)
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
