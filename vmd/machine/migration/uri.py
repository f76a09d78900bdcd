"""Migration URIs: parsed with QEMU 7.2's errors, and opened into a `Channel`.

The two sides word the same fault differently, as QEMU does: `migrate` says `Parameter 'uri'
expects a valid migration protocol` where `migrate-incoming` says `unknown migration protocol:`.
On the source `fd:` names a `getfd` fd only; on the target it may also be an inherited fd number.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess

from vmd.errors import GenericError
from vmd.machine.migration.channel import Channel
from vmd.machine.migration.fds import FdStore
from vmd.records import dataclass


@dataclass(frozen=True, slots=True)
class Inet:
    host: str
    port: str


@dataclass(frozen=True, slots=True)
class Unix:
    path: str


@dataclass(frozen=True, slots=True)
class Exec:
    command: str


@dataclass(frozen=True, slots=True)
class Fd:
    name: str


Address = Inet | Unix | Exec | Fd


def _inet(text: str) -> Inet:
    """HOST:PORT, HOST in brackets for IPv6 ([::]:4444), as QEMU's inet_parse takes it."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":") or not rest[1:]:
            raise GenericError(f"error parsing IPv6 address '{text}'")
        return Inet(host, rest[1:])
    host, sep, port = text.rpartition(":")
    if not sep or not port:
        raise GenericError(f"error parsing address '{text}'")
    return Inet(host, port)


def _parse(uri: str) -> Address | None:
    scheme, sep, rest = uri.partition(":")
    if not sep:
        return None
    if scheme == "tcp":
        return _inet(rest)
    if scheme == "unix":
        if not rest:
            raise GenericError("invalid Unix socket address")
        return Unix(rest)
    if scheme == "exec":
        return Exec(rest)
    if scheme == "fd":
        return Fd(rest)
    return None


def parse_outgoing(uri: str) -> Address:
    address = _parse(uri)
    if address is None:
        raise GenericError("Parameter 'uri' expects a valid migration protocol")
    return address


def parse_incoming(uri: str) -> Address:
    try:
        address = _parse(uri)
    except GenericError:
        raise
    if address is None:
        raise GenericError(f"unknown migration protocol: {uri}")
    return address


def _spawn(command: str, *, write: bool) -> Channel:
    # QEMU runs the command with /bin/sh -c; the source writes its stdin, the target reads its stdout.
    process = subprocess.Popen(
        ["/bin/sh", "-c", command],
        stdin=subprocess.PIPE if write else subprocess.DEVNULL,
        stdout=None if write else subprocess.PIPE,
        close_fds=True,
    )
    pipe = process.stdin if write else process.stdout
    assert pipe is not None
    fd = os.dup(pipe.fileno())
    pipe.close()
    return Channel(fd, "command", process)


# -- the source ----------------------------------------------------------------------------------


def claim_outgoing_fd(address: Address, fds: FdStore) -> int | None:
    """The getfd fd an fd: URI names (taken now, as QEMU takes it), checked synchronously."""
    if isinstance(address, Fd):
        return fds.take(address.name)
    return None


async def connect(address: Address, fd: int | None) -> Channel:
    """Open the source's channel (the errors are the asynchronous ones of QEMU)."""
    loop = asyncio.get_running_loop()
    if isinstance(address, Fd):
        assert fd is not None
        return Channel(fd, "socket" if _is_socket(fd) else "file")
    if isinstance(address, Exec):
        return _spawn(address.command, write=True)
    if isinstance(address, Unix):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address.path)
        except OSError as error:
            sock.close()
            raise GenericError(
                f"Failed to connect to '{address.path}': {os.strerror(error.errno or 5)}"
            ) from None
        return Channel(sock.detach(), "socket")
    assert isinstance(address, Inet)
    where = f"{address.host}:{address.port}"
    try:
        infos = await loop.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise GenericError(f"address resolution failed for {where}: {error.strerror}") from None
    last: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, sockaddr)
        except OSError as error:
            sock.close()
            last = error
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Channel(sock.detach(), "socket")
    errno_ = last.errno if last is not None and last.errno else 111
    raise GenericError(f"Failed to connect to '{where}': {os.strerror(errno_)}")


def _is_socket(fd: int) -> bool:
    import stat

    return stat.S_ISSOCK(os.fstat(fd).st_mode)


# -- the target ----------------------------------------------------------------------------------


class Listener:
    """A listening socket of the target (unix: or tcp:) and what query-migrate shows of it."""

    def __init__(self, sock: socket.socket, shown: dict[str, object], path: str | None) -> None:
        self.sock = sock
        self.shown = shown
        self._path = path

    async def accept(self) -> Channel:
        conn, _ = await asyncio.get_running_loop().sock_accept(self.sock)
        if conn.family != socket.AF_UNIX:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Channel(conn.detach(), "socket")

    def close(self) -> None:
        self.sock.close()
        if self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)


def listen(address: Unix | Inet) -> Listener:
    if isinstance(address, Unix):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(address.path)
        except OSError as error:
            sock.close()
            reason = os.strerror(error.errno or 5)
            raise GenericError(f"Failed to bind socket to {address.path}: {reason}") from None
        sock.listen(1)
        sock.setblocking(False)
        return Listener(sock, {"path": address.path, "type": "unix"}, address.path)
    host = address.host or "0.0.0.0"
    try:
        infos = socket.getaddrinfo(host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise GenericError(f"address resolution failed for {host}:{address.port}: {error.strerror}") from None
    family, kind, proto, _, sockaddr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(sockaddr)
    except OSError as error:
        sock.close()
        raise GenericError(f"Failed to bind socket: {os.strerror(error.errno or 5)}") from None
    sock.listen(1)
    sock.setblocking(False)
    bound_host, bound_port = sock.getsockname()[:2]
    ipv6 = family == socket.AF_INET6
    shown: dict[str, object] = {"port": str(bound_port), "host": bound_host, "type": "inet"}
    shown["ipv6" if ipv6 else "ipv4"] = True
    return Listener(sock, shown, None)


def open_incoming_fd(address: Exec | Fd, fds: FdStore) -> Channel:
    if isinstance(address, Exec):
        return _spawn(address.command, write=False)
    if address.name.isdigit():
        fd = int(address.name)
        try:
            os.fstat(fd)
        except OSError:
            raise GenericError(f"File descriptor named '{address.name}' has not been found") from None
    else:
        fd = fds.take(address.name)
    return Channel(fd, "socket" if _is_socket(fd) else "file")
