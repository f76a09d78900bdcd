"""Start QMP peers — vmd or real QEMU — as daemons on short unix-socket paths.

Both are started with -daemonize, whose parent exits only once the QMP socket
listens: readiness needs no polling.  Exit is awaited through a pidfd, also
without polling.  `RawQmp` talks bytes to a socket for wire-level tests;
`qmp_client` gives a negotiated `qemu.qmp.QMPClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient
from qemu.qmp.events import EventListener

from tests.needs import require_qemu
from tests.replies import as_event

REPO = Path(__file__).resolve().parent.parent
# QMP allows 1024 levels of nesting; Python's json module recurses once per level.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
TIMEOUT = 10.0

# What every peer gets unless a test says otherwise: no devices, no display, wait for `cont`.
BASE_ARGS = ("-nodefaults", "-no-user-config", "-display", "none")


def vmd_command(target: str = "x86_64") -> list[str]:
    """vmd as qemu-system-<target> (`python -m vmd -vmd-target T`, what vmd-system-<T> runs)."""
    command = [sys.executable, "-m", "vmd"]
    return command if target == "x86_64" else [*command, "-vmd-target", target]


def read_terminal(path: str, until: bytes, timeout: float = TIMEOUT) -> bytes:
    """What a terminal (a pty serial port's path) gives until `until` appears or `timeout` passes."""
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    got = b""
    try:
        deadline = time.monotonic() + timeout
        while until not in got and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                got += os.read(fd, 4096)
    finally:
        os.close(fd)
    return got


def startup_error(argv: Sequence[str], program: str) -> str:
    """The one-line error with which a peer (QEMU or vmd) refuses to start, its program name cut.

    The QMP socket is never bound: the start must fail before monitors open."""
    done = subprocess.run(
        [*argv, "-S", *BASE_ARGS, "-qmp", "unix:/tmp/vmd-tests-never.sock,server=on,wait=off"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(program + ": ")
    return line.removeprefix(program + ": ")


def short_tmpdir() -> Path:
    # sun_path holds 108 bytes: pytest's tmp_path is often longer than that.
    return Path(tempfile.mkdtemp(prefix="vt", dir="/tmp"))


@dataclass
class Peer:
    """A daemonized QMP peer; `kind` is "vmd" or "qemu"."""

    kind: str
    workdir: Path
    sockets: list[str]
    pid: int
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def socket(self) -> str:
        return self.sockets[0]

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{self.pid}").exists() and _state(self.pid) != "Z"

    def wait_exit(self, timeout: float = TIMEOUT) -> bool:
        """Wait for the process to end, without polling (pidfd)."""
        try:
            fd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return True
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            return bool(ready)
        finally:
            os.close(fd)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        if not self.wait_exit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait_exit()

    def thread_names(self) -> list[str]:
        tasks = Path(f"/proc/{self.pid}/task")
        return sorted((t / "comm").read_text().strip() for t in tasks.iterdir())


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "?"


def start_peer(
    kind: str,
    args: Sequence[str] = (),
    *,
    monitors: int = 1,
    base: Sequence[str] = BASE_ARGS,
    workdir: Path | None = None,
    target: str = "x86_64",
    qmp_options: str = "",
    pass_fds: Sequence[int] = (),
) -> Peer:
    """vmd or QEMU (`kind`) as qemu-system-`target`, daemonized, with `monitors` QMP sockets
    (`qmp_options`, e.g. ",mode=0660", added to each -qmp; the fds `pass_fds` inherited, as
    libvirt passes a save file)."""
    workdir = workdir or short_tmpdir()
    sockets = [str(workdir / f"m{i}.sock") for i in range(monitors)]
    pidfile = workdir / f"{kind}.pid"
    log = workdir / f"{kind}.log"
    # QEMU missing: the test fails or is skipped (tests.needs).
    command = [*vmd_command(target), "-D", str(log)] if kind == "vmd" else [require_qemu(target)]
    command += [*base, *args, "-daemonize", "-pidfile", str(pidfile)]
    for sock in sockets:
        command += ["-qmp", f"unix:{sock},server=on,wait=off{qmp_options}"]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=60, pass_fds=tuple(pass_fds)
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed to start ({done.returncode}): {' '.join(command)}\n{done.stderr}")
    pid = int(pidfile.read_text().strip())
    return Peer(kind, workdir, sockets, pid, log)


class RawQmp:
    """Bytes in, parsed JSON objects out, every wait under a timeout."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, path: str, *, negotiate: bool = False) -> RawQmp:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path, limit=1 << 24), TIMEOUT)
        raw = cls(reader, writer)
        greeting = await raw.recv()
        assert "QMP" in greeting, greeting
        raw.greeting = greeting
        if negotiate:
            await raw.send(b'{"execute": "qmp_capabilities"}')
            assert await raw.recv() == {"return": {}}
        return raw

    greeting: dict[str, Any]

    async def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT)

    async def recv_line(self, timeout: float = TIMEOUT) -> bytes:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            raise EOFError("peer closed the connection")
        return line

    async def recv(self, timeout: float = TIMEOUT) -> Any:
        return json.loads(await self.recv_line(timeout))

    async def recv_reply(self, timeout: float = TIMEOUT) -> tuple[Any, list[Any]]:
        """The next non-event message, and the events received before it."""
        events = []
        while True:
            message = await self.recv(timeout)
            if isinstance(message, dict) and "event" in message:
                events.append(message)
                continue
            return message, events

    async def until_id(self, request_id: Any, timeout: float = TIMEOUT) -> list[Any]:
        """Everything received up to and including the reply carrying `request_id`."""
        received = []
        while True:
            message = await self.recv(timeout)
            received.append(message)
            if isinstance(message, dict) and message.get("id") == request_id and "event" not in message:
                return received

    async def at_eof(self, timeout: float = TIMEOUT) -> bool:
        return await asyncio.wait_for(self.reader.read(1), timeout) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), TIMEOUT)


@contextlib.asynccontextmanager
async def qmp_client(path: str, name: str = "test") -> AsyncIterator[QMPClient]:
    client = QMPClient(name)
    await asyncio.wait_for(client.connect(path), TIMEOUT)
    try:
        yield client
    finally:
        await asyncio.wait_for(client.disconnect(), TIMEOUT)


async def events_until(
    listener: EventListener, name: str, timeout: float = TIMEOUT * 3
) -> list[tuple[str, Any]]:
    """The events `listener` hears, (name, data) each, up to and including the first `name`."""
    seen: list[tuple[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            event = as_event(await listener.get())
            seen.append((event["event"], event.get("data")))
            if event["event"] == name:
                return seen
