"""A transport for accepted monitor connections that also receives file descriptors.

QMP clients pass fds with SCM_RIGHTS ancillary data on the monitor socket, in the same message as
the command that names them (`getfd`, `add-fd`: libvirt passes its migration socket and its save
file so).  The loop's own transports read with recv(), which drops such fds, so monitor
connections use this one: non-blocking recvmsg()/send() on the loop's readers and writers, with
asyncio.Transport's flow control (pause_writing above the high-water mark, pause_reading).  The
fds of each message reach the protocol (`fds_received`) before its bytes do.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import socket
from typing import Any, Protocol

log = logging.getLogger(__name__)

MAX_FDS = 16  # per message; QEMU takes one
READ_SIZE = 65536


class FdReceiver(Protocol):
    def fds_received(self, fds: list[int]) -> None: ...


class FdPassingTransport(asyncio.Transport):
    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: asyncio.Protocol
    ) -> None:
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._buffer = bytearray()
        self._closing = False
        self._finished = False
        self._reading = True
        self._protocol_paused = False
        self._high = 64 * 1024
        self._low = 16 * 1024
        sock.setblocking(False)
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._add_reader)

    # -- reading -------------------------------------------------------------------------------

    def _add_reader(self) -> None:
        if self._reading and not self._closing:
            self._loop.add_reader(self._fd, self._read_ready)

    def _read_ready(self) -> None:
        try:
            data, ancillary, _, _ = self._sock.recvmsg(READ_SIZE, socket.CMSG_SPACE(MAX_FDS * 4))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._fatal(error)
            return
        fds = _fds_of(ancillary)
        if fds:
            receiver = getattr(self._protocol, "fds_received", None)
            if receiver is None:
                for fd in fds:
                    os.close(fd)
            else:
                receiver(fds)
        if not data:
            self._loop.remove_reader(self._fd)
            if not self._protocol.eof_received():
                self.close()
            return
        self._protocol.data_received(data)

    def pause_reading(self) -> None:
        if self._reading and not self._closing:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._reading and not self._closing:
            self._reading = True
            self._loop.add_reader(self._fd, self._read_ready)

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    # -- writing -------------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        if not self._buffer:
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as error:
                self._fatal(error)
                return
            if sent == len(data):
                return
            self._buffer += memoryview(data)[sent:]
            self._loop.add_writer(self._fd, self._write_ready)
        else:
            self._buffer += data
        self._maybe_pause_protocol()

    def _write_ready(self) -> None:
        try:
            sent = self._sock.send(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._loop.remove_writer(self._fd)
            self._buffer.clear()
            self._fatal(error)
            return
        del self._buffer[:sent]
        self._maybe_resume_protocol()
        if not self._buffer:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._finish(None)

    def _maybe_pause_protocol(self) -> None:
        if not self._protocol_paused and len(self._buffer) > self._high:
            self._protocol_paused = True
            self._protocol.pause_writing()

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and len(self._buffer) <= self._low:
            self._protocol_paused = False
            self._protocol.resume_writing()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = 64 * 1024 if high is None else high
        self._low = self._high // 4 if low is None else low
        self._maybe_pause_protocol()

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def can_write_eof(self) -> bool:
        return False

    # -- the end -------------------------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        if not self._buffer:
            self._loop.call_soon(self._finish, None)

    def abort(self) -> None:
        self._closing = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._buffer.clear()
        self._loop.call_soon(self._finish, None)

    def _fatal(self, error: OSError) -> None:
        log.debug("monitor connection: %s", error)
        self._closing = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._loop.call_soon(self._finish, error)

    def _finish(self, error: Exception | None) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            self._protocol.connection_lost(error)
        finally:
            self._sock.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._sock
        with contextlib.suppress(OSError):
            if name == "peername":
                return self._sock.getpeername()
            if name == "sockname":
                return self._sock.getsockname()
        return default


def _fds_of(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            numbers = array.array("i")
            numbers.frombytes(payload[: len(payload) - len(payload) % numbers.itemsize])
            fds.extend(numbers)
    for fd in fds:
        os.set_inheritable(fd, False)
    return fds
