"""Listening sockets for QMP monitors: unix paths vmd binds, and listening fds it inherits.

Each connection gets its own session; unlike QEMU, which serves one client per
monitor and leaves a second one hanging until the first leaves, vmd serves every
connection concurrently, each with its own negotiation state.  Accepted connections are
served by `vmd.qmp.fd_transport`, which also receives the fds clients pass (getfd, add-fd).
(A monitor that is one connection, QEMU's client mode, is `vmd.qmp.connection`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import stat
from collections.abc import Callable

from vmd.errors import StartupError
from vmd.qmp.fd_transport import FdPassingTransport
from vmd.records import dataclass

log = logging.getLogger(__name__)

BACKLOG = 16


class ListenError(StartupError):
    """A monitor socket could not be set up; the message is for the command line user."""


@dataclass(frozen=True, slots=True)
class UnixEndpoint:
    path: str
    mode: int = 0o600


@dataclass(frozen=True, slots=True)
class FdEndpoint:
    fd: int


Endpoint = UnixEndpoint | FdEndpoint


def _remove_stale(path: str) -> None:
    """Remove a socket file left by a daemon that died; refuse to steal one somebody listens on."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ListenError(f"Failed to bind socket to {path}: Address already in use")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except OSError as error:
        raise ListenError(
            f"Failed to bind socket to {path}: {os.strerror(error.errno or errno.EIO)}"
        ) from None
    finally:
        probe.close()
    raise ListenError(f"Failed to bind socket to {path}: Address already in use")


def bind_unix(endpoint: UnixEndpoint) -> socket.socket:
    _remove_stale(endpoint.path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The umask decides the mode the socket file is created with: no window where it is wider.
    old_umask = os.umask(0o777 & ~endpoint.mode)
    try:
        sock.bind(endpoint.path)
    except OSError as error:
        sock.close()
        raise ListenError(
            f"Failed to bind socket to {endpoint.path}: {os.strerror(error.errno or errno.EIO)}"
        ) from None
    finally:
        os.umask(old_umask)
    os.chmod(endpoint.path, endpoint.mode)  # in case the umask was not the whole story (e.g. setgid dirs)
    sock.listen(BACKLOG)
    return sock


def unix_stream_from_fd(fd: int) -> socket.socket:
    """The inherited unix stream socket `fd`, with QEMU's words when it is not a socket."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        raise ListenError(f"File descriptor '{fd}' is not a socket") from None
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise ListenError(f"fd {fd} is not a unix stream socket")
    return sock


def is_listening(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


def adopt_listening_fd(fd: int) -> socket.socket:
    """A socket the parent (libvirt) created, bound and put into listening state for us."""
    sock = unix_stream_from_fd(fd)
    if not is_listening(sock):
        try:
            sock.listen(BACKLOG)
        except OSError as error:  # e.g. a connected socket; QEMU's words
            sock.detach()
            raise ListenError(
                f"Failed to listen on fd socket: {os.strerror(error.errno or errno.EINVAL)}"
            ) from None
    return sock


class MonitorListener:
    """One monitor endpoint; every accepted connection gets a protocol from `factory`."""

    def __init__(self, endpoint: Endpoint, factory: Callable[[], asyncio.Protocol]) -> None:
        self.endpoint = endpoint
        self._factory = factory
        self._sock: socket.socket | None = None
        self._listening: socket.socket | None = None
        self._inode: tuple[int, int] | None = None
        self.first_client = asyncio.get_running_loop().create_future()

    def describe(self) -> str:
        if isinstance(self.endpoint, UnixEndpoint):
            return f"unix:{self.endpoint.path}"
        return f"fd {self.endpoint.fd}"

    def open(self) -> None:
        """Bind or adopt the socket synchronously, so errors surface before the daemon reports ready."""
        if isinstance(self.endpoint, UnixEndpoint):
            sock = bind_unix(self.endpoint)
            st = os.stat(self.endpoint.path)
            self._inode = (st.st_dev, st.st_ino)
        else:
            sock = adopt_listening_fd(self.endpoint.fd)
        name = sock.getsockname()
        self.path = name if isinstance(name, str) else ""  # an inherited socket's too
        self._sock = sock

    path = ""

    async def start(self) -> None:
        """Accept connections (clients that connected since `open` are in the backlog)."""
        sock, self._sock = self._sock, None
        assert sock is not None, "open() first"
        # Accepted here, not by a loop server: connections get the transport that receives fds.
        sock.setblocking(False)
        self._listening = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept_ready)

    def _accept_ready(self) -> None:
        assert self._listening is not None
        try:
            conn, _ = self._listening.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            log.warning("%s: accept failed: %s", self.describe(), error)
            return
        FdPassingTransport(asyncio.get_running_loop(), conn, self._accepted())

    def chardev_filename(self, connected: bool) -> str:
        """What query-chardev says, as QEMU says it."""
        filename = f"unix:{self.path},server=on"
        return filename if connected else f"disconnected:{filename}"

    def _accepted(self) -> asyncio.Protocol:
        if not self.first_client.done():
            self.first_client.set_result(None)
        return self._factory()

    async def close(self) -> None:
        if self._sock is not None:  # opened, never started
            self._sock.close()
            self._sock = None
        if self._listening is not None:
            asyncio.get_running_loop().remove_reader(self._listening.fileno())
            self._listening.close()
            self._listening = None
        if isinstance(self.endpoint, UnixEndpoint) and self._inode is not None:
            # Remove the file only if it is still ours (a newer daemon may have replaced it).
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(self.endpoint.path)
                if (st.st_dev, st.st_ino) == self._inode:
                    os.unlink(self.endpoint.path)
