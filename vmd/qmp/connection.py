"""Monitors that are one connection (QEMU's client mode): a unix path vmd connects to at start-up,
or an inherited socket that is connected already (QEMU's own Python launcher passes one end of a
socketpair).

As in QEMU, nothing is accepted: the monitor is that connection, greeted as soon as the daemon
starts its monitors.  When the peer closes it the daemon goes on without it.  With `reconnect`
(seconds), a path is connected to again that long after each disconnection or failed attempt,
and each outage is reported once, in QEMU's words.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
from collections.abc import Callable

from vmd.qmp.server import ListenError, is_listening, unix_stream_from_fd
from vmd.qmp.session import QmpSession
from vmd.records import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectedFdEndpoint:
    """An inherited socket, connected to the peer."""

    fd: int


@dataclass(frozen=True, slots=True)
class UnixClientEndpoint:
    """A unix socket somebody else listens on; vmd connects to it."""

    path: str
    reconnect: float = 0.0  # seconds between attempts after a disconnection; 0: never again


ConnectionEndpoint = ConnectedFdEndpoint | UnixClientEndpoint


class ConnectError(ListenError):
    """A client-mode monitor could not connect at start-up; the message is QEMU's."""


def adopt_connected_fd(fd: int) -> socket.socket:
    sock = unix_stream_from_fd(fd)
    if is_listening(sock):
        # QEMU would take it as connected and never read a request from it.
        sock.detach()
        raise ListenError(f"fd {fd} is a listening socket: a monitor on it needs server=on")
    return sock


def _failed(path: str, error: OSError) -> str:
    return f"Failed to connect to '{path}': {os.strerror(error.errno or errno.EIO)}"


class MonitorConnection:
    """One monitor connection; its session comes from `factory`.  `label` is the chardev's id."""

    def __init__(self, endpoint: ConnectionEndpoint, factory: Callable[[], QmpSession], label: str) -> None:
        self.endpoint = endpoint
        self._factory = factory
        self._label = label
        self._sock: socket.socket | None = None
        self._session: QmpSession | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._reported = False  # the current outage was reported
        self._local_name = ""  # the socket's own address, as query-chardev shows it ("unix:" if none)

    def describe(self) -> str:
        if isinstance(self.endpoint, ConnectedFdEndpoint):
            return f"fd {self.endpoint.fd} (connected)"
        return f"unix:{self.endpoint.path} (client mode)"

    def open(self) -> None:
        """Adopt the fd or connect, synchronously (as QEMU does), so that start-up fails at once."""
        endpoint = self.endpoint
        if isinstance(endpoint, ConnectedFdEndpoint):
            self._sock = adopt_connected_fd(endpoint.fd)
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(endpoint.path)
        except OSError as error:
            sock.close()
            if endpoint.reconnect <= 0:
                raise ConnectError(_failed(endpoint.path, error)) from None
            self._report(_failed(endpoint.path, error))  # QEMU starts anyway and keeps trying
            return
        self._sock = sock

    async def start(self) -> None:
        """Serve the connection (its greeting goes out now), and keep reconnecting if asked to."""
        sock, self._sock = self._sock, None
        if sock is not None:
            await self._serve(sock)
        if isinstance(self.endpoint, UnixClientEndpoint) and self.endpoint.reconnect > 0:
            self._keeper = asyncio.get_running_loop().create_task(
                self._keep_connected(self.endpoint), name=f"reconnect-{self._label}"
            )
            self._keeper.add_done_callback(self._keeper_done)

    async def _serve(self, sock: socket.socket) -> None:
        name = sock.getsockname()
        self._local_name = name if isinstance(name, str) else ""
        sock.setblocking(False)
        _, session = await asyncio.get_running_loop().connect_accepted_socket(self._factory, sock)
        self._session = session

    async def _keep_connected(self, endpoint: UnixClientEndpoint) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._session is not None:
                await self._session.closed
                self._session = None
                log.info("%s: %s closed the connection", self._label, endpoint.path)
            await asyncio.sleep(endpoint.reconnect)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, endpoint.path)
            except OSError as error:
                sock.close()
                self._report(_failed(endpoint.path, error))
                continue
            self._reported = False
            log.info("%s: connected to %s", self._label, endpoint.path)
            await self._serve(sock)

    def _keeper_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s: reconnecting stopped", self._label, exc_info=error)

    def _report(self, message: str) -> None:
        if not self._reported:
            self._reported = True
            log.warning("Unable to connect character device %s: %s", self._label, message)

    def chardev_filename(self, connected: bool) -> str:
        """What query-chardev says, as QEMU 7.2 says it."""
        if connected:
            return f"unix:{self._local_name}"
        if isinstance(self.endpoint, ConnectedFdEndpoint):
            return f"disconnected:fd:{self.endpoint.fd}"
        return f"disconnected:unix:{self.endpoint.path}"

    async def close(self) -> None:
        """Stop reconnecting (the daemon closes the session itself)."""
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.wait([self._keeper])
            self._keeper = None
        if self._sock is not None:  # opened, never started
            self._sock.close()
            self._sock = None
