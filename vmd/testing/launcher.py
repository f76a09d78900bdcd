"""Start vmd from a test, with QEMU's arguments, as QEMU's own Python launcher starts QEMU.

vmd runs in the foreground, its output (stdout, stderr, its log) in a file.  It gets one end of a
socketpair as a client-mode monitor (`-chardev socket,id=vmdtesting,fd=N`): its greeting on the
other end says vmd is up, every monitor socket bound, with no polling and no socket file; the
test's `qemu.qmp.QMPClient` speaks over it.  A listening socket (`-qmp unix:PATH,server=on,wait=off`,
on a short path) is there for the software under test.  `stop()` asks `quit`, waits for the exit,
kills after a timeout, and keeps the log.

`VmdProcess` is the synchronous half (the process, its sockets, its log); `Vm` adds the negotiated
client.  Nothing here imports the daemon: vmd is a separate process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from qemu.qmp import QMPClient, Runstate

__all__ = [
    "DEFAULT_ARGS",
    "Vm",
    "VmdLaunchError",
    "VmdLauncher",
    "VmdProcess",
    "connect_shared",
    "launch_vm",
    "short_tmpdir",
    "spawn",
    "vmd_command",
]

# What every VM gets before the test's own arguments: no default devices, no display (QEMU's
# launcher passes "-display none" too).
DEFAULT_ARGS: tuple[str, ...] = ("-nodefaults", "-no-user-config", "-display", "none")
MONITOR_ID = "vmdtesting"  # the chardev of the launcher's own monitor
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# sizeof(sockaddr_un.sun_path) is 108 with the terminating NUL; leave room for the file names.
_SOCKET_DIR_MAX = 80


def short_tmpdir(prefix: str = "vmd-") -> Path:
    """A new directory whose socket paths fit in sun_path: under $TMPDIR when that is short, else
    /tmp (pytest's tmp_path is often too long for a unix socket)."""
    base = tempfile.gettempdir()
    if len(os.fsencode(base)) > _SOCKET_DIR_MAX - 20:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def vmd_command(target: str = "x86_64") -> list[str]:
    """vmd as qemu-system-<target>, run by this interpreter (the environment vmd is installed in)."""
    command = [sys.executable, "-m", "vmd"]
    return command if target == "x86_64" else [*command, "-vmd-target", target]


class VmdLaunchError(RuntimeError):
    """vmd did not start: its exit status (None: it did not greet in time and was killed), the
    command line and everything it wrote."""

    def __init__(self, reason: str, returncode: int | None, command: Sequence[str], log: str) -> None:
        super().__init__(
            f"{reason}\n  exit status: {returncode}\n  command: {' '.join(command)}\n  log:\n{log}"
        )
        self.returncode = returncode
        self.command = tuple(command)
        self.log = log


class VmdProcess:
    """A vmd process started by `spawn`: its pid, its sockets, its log; stopped synchronously."""

    def __init__(
        self, popen: subprocess.Popen[bytes], command: Sequence[str], workdir: Path, monitor: socket.socket
    ) -> None:
        self.popen = popen
        self.command = tuple(command)
        self.workdir = workdir
        self.socket = str(workdir / "qmp.sock")  # for the software under test
        self.log_path = workdir / "vmd.log"
        self.monitor: socket.socket | None = monitor  # the launcher's end of the socketpair
        self._log: str | None = None
        self._own_workdir = True

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    @property
    def log(self) -> str:
        """What vmd wrote (stdout, stderr and its log) so far; all of it once stopped."""
        if self._log is not None:
            return self._log
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_greeting(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        """Block until vmd greets on the launcher's monitor: it is up.  The connection is kept, not
        negotiated (so no events pile up on it), for `stop_sync`."""
        assert self.monitor is not None, "the monitor was handed to a client"
        self.monitor.settimeout(timeout)
        try:
            greeting = json.loads(self._read_line())
        except (OSError, EOFError, ValueError) as error:
            if isinstance(error, TimeoutError):
                reason, status = "vmd did not greet in time", None
                self.kill()
            else:  # it closed the monitor: it is exiting
                reason = "vmd exited before QMP was ready"
                try:
                    status = self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    status = self.kill()
            self._finish()
            raise VmdLaunchError(reason, status, self.command, self.log) from None
        assert isinstance(greeting, dict), greeting
        assert "QMP" in greeting, greeting
        return greeting

    def _read_line(self) -> bytes:
        assert self.monitor is not None
        line = b""
        while not line.endswith(b"\n"):
            chunk = self.monitor.recv(1)
            if not chunk:
                raise EOFError("vmd closed the monitor")
            line += chunk
        return line

    def stop_sync(self, timeout: float = STOP_TIMEOUT) -> int:
        """`quit` on the launcher's monitor, or SIGTERM if a client has it; wait for the exit,
        SIGKILL after `timeout`.  Returns the exit status."""
        if self.alive():
            if self.monitor is not None:
                with contextlib.suppress(OSError):
                    self.monitor.sendall(b'{"execute": "qmp_capabilities"}\n{"execute": "quit"}\n')
            else:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.send_signal(signal.SIGTERM)
        try:
            status = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            status = self.kill()
        self._finish()
        return status

    def kill(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.popen.kill()
        status = self.popen.wait()
        self._finish()
        return status

    def _finish(self) -> None:
        """Close the monitor, keep the log in memory and remove the directory."""
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
        if self._log is None:
            self._log = self.log
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._own_workdir = False


def spawn(
    args: Sequence[str] = (),
    *,
    target: str = "x86_64",
    base_args: Sequence[str] = DEFAULT_ARGS,
    command: Sequence[str] | None = None,
) -> VmdProcess:
    """Start vmd with QEMU's arguments `args` (after `base_args`); it does not wait for it."""
    args = list(args)
    if "-daemonize" in args or "--daemonize" in args:
        raise ValueError(
            "vmd.testing runs vmd in the foreground (it waits for it and keeps its output): drop -daemonize"
        )
    workdir = short_tmpdir()
    ours, theirs = socket.socketpair()
    try:
        argv = [*(command or vmd_command(target)), *base_args, *args]
        argv += ["-qmp", f"unix:{workdir / 'qmp.sock'},server=on,wait=off"]
        argv += ["-chardev", f"socket,id={MONITOR_ID},fd={theirs.fileno()}"]
        argv += ["-mon", f"chardev={MONITOR_ID},mode=control"]
        with open(workdir / "vmd.log", "wb") as log:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(theirs.fileno(),),
            )
    except BaseException:
        ours.close()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    finally:
        theirs.close()  # the child has its copy: when it exits, our end sees EOF
    return VmdProcess(popen, argv, workdir, ours)


async def wait_exit(process: VmdProcess, timeout: float) -> int:
    """The exit status, awaited without polling or threads (a pidfd); TimeoutError after `timeout`."""
    if (status := process.popen.poll()) is not None:
        return status
    loop = asyncio.get_running_loop()
    pidfd = os.pidfd_open(process.pid)
    exited: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        await asyncio.wait_for(exited, timeout)
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return process.popen.wait()


class Vm:
    """A running vmd and a negotiated `qemu.qmp.QMPClient` for it.

    `qmp`: the client; `pid`; `socket`: a QMP socket path for the software under test (vmd serves
    every connection at once); `log`: what vmd wrote; `returncode` once it exited.
    """

    def __init__(self, process: VmdProcess, qmp: QMPClient, *, shared: bool = False) -> None:
        self.process = process
        self.qmp = qmp
        self.shared = shared
        self._status: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def socket(self) -> str:
        return self.process.socket

    @property
    def log(self) -> str:
        return self.process.log

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """Stop vmd as QEMU's launcher stops QEMU: `quit`, wait, SIGKILL after `timeout`.  Returns the
        exit status (0 after a clean quit; -9 if it had to be killed)."""
        if self.shared:
            raise RuntimeError(
                "this VM is shared by the module's tests (vmd_vm_module): use vmd_vm to stop one"
            )
        if self._status is not None:
            return self._status
        if self.process.alive() and self.qmp.runstate == Runstate.RUNNING:
            with contextlib.suppress(Exception):  # it may be gone already, or go before it answers
                await asyncio.wait_for(self.qmp.execute("quit"), timeout)
        await self.disconnect()
        try:
            status = await wait_exit(self.process, timeout)
        except TimeoutError:
            status = self.process.kill()
        self.process.stop_sync(0)  # it has exited: this keeps the log and removes the directory
        self._status = status
        return status

    async def disconnect(self) -> None:
        """Disconnect the client (vmd goes on)."""
        if self.qmp.runstate == Runstate.IDLE:
            return
        # After `quit` (or once vmd is gone) the client sees the connection close: not an error here.
        with contextlib.suppress(EOFError, ConnectionError):
            await asyncio.wait_for(self.qmp.disconnect(), STOP_TIMEOUT)


async def connect_shared(process: VmdProcess, timeout: float = START_TIMEOUT) -> Vm:
    """A `Vm` with a client of its own on an already running vmd's socket (vmd serves every
    connection at once); `stop()` is refused, `disconnect()` leaves vmd running."""
    if not process.alive():
        raise VmdLaunchError("vmd is not running any more", process.returncode, process.command, process.log)
    qmp = QMPClient("vmd-testing")
    await asyncio.wait_for(qmp.connect(process.socket), timeout)
    return Vm(process, qmp, shared=True)


class VmdLauncher:
    """`async with VmdLauncher(args) as vm:` starts vmd, waits for QMP, and stops it on the way out.

    `args` are QEMU's (`-M q35 -smp 1,maxcpus=4 ...`), after `base_args`; `target` is
    qemu-system-<target>'s; `command` replaces `python -m vmd`.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        target: str = "x86_64",
        base_args: Sequence[str] = DEFAULT_ARGS,
        command: Sequence[str] | None = None,
        timeout: float = START_TIMEOUT,
        name: str = "vmd-testing",
    ) -> None:
        self.args = tuple(args)
        self.target = target
        self.base_args = tuple(base_args)
        self.command = None if command is None else tuple(command)
        self.timeout = timeout
        self.name = name
        self.vm: Vm | None = None

    async def start(self) -> Vm:
        process = spawn(self.args, target=self.target, base_args=self.base_args, command=self.command)
        monitor, process.monitor = process.monitor, None
        assert monitor is not None
        qmp = QMPClient(self.name)
        started = time.monotonic()
        try:
            await asyncio.wait_for(qmp.connect(monitor), self.timeout)  # the greeting, then qmp_capabilities
        except Exception as error:
            with contextlib.suppress(Exception):
                await qmp.disconnect()
            monitor.close()
            try:
                status: int | None = await wait_exit(
                    process, max(0.0, self.timeout - (time.monotonic() - started))
                )
            except TimeoutError:
                process.kill()
                status = None
            process.stop_sync(0)
            reason = "vmd exited before QMP was ready" if status is not None else "vmd did not greet in time"
            raise VmdLaunchError(reason, status, process.command, process.log) from error
        self.vm = Vm(process, qmp)
        return self.vm

    async def stop(self) -> int | None:
        if self.vm is None:
            return None
        return await self.vm.stop()

    async def __aenter__(self) -> Vm:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def launch_vm(
    args: Sequence[str] = (),
    *,
    target: str = "x86_64",
    base_args: Sequence[str] = DEFAULT_ARGS,
    command: Sequence[str] | None = None,
    timeout: float = START_TIMEOUT,
) -> VmdLauncher:
    """`async with launch_vm(["-M", "q35", "-smp", "1,maxcpus=4"]) as vm: await vm.qmp.execute(...)`"""
    return VmdLauncher(args, target=target, base_args=base_args, command=command, timeout=timeout)
