"""A socket chardev in server mode that a device, not a monitor, uses (the guest agent's port).

As QEMU's socket chardev does, it serves one client at a time: the next connection waits in the
backlog until the current one ends, and is then accepted (libvirt reconnects after every port
open).  vmd never closes a client on its own.  The listening socket is a path vmd binds or a
listening fd inherited from libvirt, as for monitors.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections.abc import Callable

from vmd.qmp.agent_session import AgentSession
from vmd.qmp.server import Endpoint, UnixEndpoint, adopt_listening_fd, bind_unix

log = logging.getLogger(__name__)

ACCEPT_RETRY = 0.1  # seconds between attempts after a failed accept


class ChannelListener:
    def __init__(self, chardev_id: str, endpoint: Endpoint, factory: Callable[[], AgentSession]) -> None:
        self.chardev_id = chardev_id
        self.endpoint = endpoint
        self._factory = factory
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._inode: tuple[int, int] | None = None
        self.session: AgentSession | None = None
        self.path = ""

    def open(self) -> None:
        """Bind or adopt the socket now, so that errors are start-up errors."""
        if isinstance(self.endpoint, UnixEndpoint):
            sock = bind_unix(self.endpoint)
            st = os.stat(self.endpoint.path)
            self._inode = (st.st_dev, st.st_ino)
        else:
            sock = adopt_listening_fd(self.endpoint.fd)
        name = sock.getsockname()
        self.path = name if isinstance(name, str) else ""
        sock.setblocking(False)
        self._sock = sock

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._serve(), name=f"chardev-{self.chardev_id}")

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        sock = self._sock
        assert sock is not None, "open() first"
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as error:  # out of fds, say: the channel waits and tries again
                log.warning("chardev %s: accept failed: %s", self.chardev_id, error)
                await asyncio.sleep(ACCEPT_RETRY)
                continue
            # The session is the current one from here on, so that a change of the port's state
            # while the transport is being set up reaches it.
            self.session = session = self._factory()
            try:
                await loop.connect_accepted_socket(functools.partial(_same, session), conn)
            except OSError as error:
                log.warning("chardev %s: a client could not be set up: %s", self.chardev_id, error)
                conn.close()
                self.session = None
                continue
            log.info("chardev %s: client connected", self.chardev_id)
            try:
                await session.closed
            finally:
                self.session = None
            log.info("chardev %s: client disconnected", self.chardev_id)

    @property
    def connected(self) -> bool:
        return self.session is not None

    def chardev_filename(self) -> str:
        """What query-chardev says, as QEMU says it."""
        filename = f"unix:{self.path},server=on"
        return filename if self.connected else f"disconnected:{filename}"

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        session = self.session
        if session is not None:
            session.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await session.closed
            if not session.closed.done():
                session.abort()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if isinstance(self.endpoint, UnixEndpoint) and self._inode is not None:
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(self.endpoint.path)
                if (st.st_dev, st.st_ino) == self._inode:
                    os.unlink(self.endpoint.path)


def _same(session: AgentSession) -> AgentSession:
    return session
