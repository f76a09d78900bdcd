"""The monitor styles of QEMU's own Python launcher (qemu.machine.QEMUMachine), against QEMU 7.2
and vmd side by side: a connected socketpair passed as `-chardev socket,id=mon,fd=N`, and a
client-mode `-chardev socket,id=mon,path=PATH` (the test listens, the binary connects).

No package carries qemu.machine, so `Launcher` below starts a binary exactly as QEMUMachine 7.2
starts QEMU (the same base arguments, an inherited socketpair end or a path the test listens on,
`close_fds=False`, output to a log file) and talks to it with qemu.qmp's QEMUMonitorProtocol
as QEMUMachine does: it waits for the greeting, negotiates, sends commands, and shuts down with
`quit`, then waits (SIGKILL after a timeout).

Then what happens around those styles: the peer closing the connection (both go on, the chardev
shows as disconnected), nobody listening at start-up (the same error and exit status),
`reconnect=`, and the inherited fds each style must not be given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp.legacy import QEMUMonitorProtocol

from tests.needs import require_qemu
from tests.peers import REPO, TIMEOUT, vmd_command

pytestmark = pytest.mark.qemu

KINDS = ["qemu", "vmd"]
PROGRAM = {"qemu": "qemu-system-x86_64", "vmd": "vmd"}


def binary(kind: str) -> list[str]:
    return [require_qemu()] if kind == "qemu" else vmd_command()


@pytest.fixture
def event_loop_for_legacy() -> Iterator[None]:
    """QEMUMonitorProtocol runs its own loop on the thread's current one, as in a plain script."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


class Launcher:
    """QEMUMachine 7.2's way to start a VM and talk to it, for any binary (QEMU or vmd)."""

    def __init__(
        self, argv: Sequence[str], args: Sequence[str], workdir: Path, monitor_address: str | None
    ) -> None:
        self.argv = list(argv)
        self.args = list(args)
        self.workdir = workdir
        self.monitor_address = monitor_address
        self.pair: tuple[socket.socket, socket.socket] | None = None
        self.popen: subprocess.Popen[bytes] | None = None
        self.qmp: QEMUMonitorProtocol | None = None
        self.greeting: dict[str, Any] = {}
        self.log_path = workdir / "launcher.log"

    def base_args(self) -> list[str]:
        args = ["-display", "none", "-vga", "none"]
        if self.pair is not None:
            fd = self.pair[0].fileno()
            os.set_inheritable(fd, True)
            chardev = f"socket,id=mon,fd={fd}"
        else:
            chardev = f"socket,id=mon,path={self.monitor_address}"  # no server=on: the binary connects
        return [*args, "-chardev", chardev, "-mon", "chardev=mon,mode=control"]

    def launch(self, timeout: float = TIMEOUT) -> None:
        if self.monitor_address is None:
            self.pair = socket.socketpair()
            self.qmp = QEMUMonitorProtocol(self.pair[1], nickname="vm")
        else:
            self.qmp = QEMUMonitorProtocol(self.monitor_address, server=True, nickname="vm")  # listens now
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                [*self.argv, *self.base_args(), *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=False,
                cwd=REPO,
            )
        if self.pair is not None:
            self.pair[0].close()
            greeting = self.qmp.connect()  # waits for the greeting, then negotiates
        else:
            greeting = self.qmp.accept(timeout)
        assert greeting is not None
        self.greeting = greeting

    def cmd(self, name: str, **args: Any) -> dict[str, Any]:
        assert self.qmp is not None
        return self.qmp.cmd_raw(name, args or None)

    def event_wait(self, name: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        assert self.qmp is not None
        while True:
            event = self.qmp.pull_event(wait=timeout)
            assert event is not None
            if event["event"] == name:
                return event

    def close_monitor(self) -> None:
        """The launcher's side of the monitor goes away; the VM does not."""
        assert self.qmp is not None
        self.qmp.close()
        self.qmp = None

    def shutdown(self, timeout: float = TIMEOUT) -> int:
        """`quit`, close, wait; SIGKILL after `timeout`."""
        assert self.popen is not None
        if self.qmp is not None:
            try:
                if self.popen.poll() is None:
                    self.cmd("quit")
            finally:
                with contextlib.suppress(EOFError):  # the binary closed the connection on quit, as expected
                    self.qmp.close()
                self.qmp = None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise

    @property
    def log(self) -> str:
        return self.log_path.read_text()


def run_launcher(kind: str, style: str, workdir: Path, *extra: str) -> tuple[Launcher, dict[str, Any]]:
    address = None if style == "socketpair" else str(workdir / f"{kind}-mon.sock")
    launcher = Launcher(binary(kind), ["-nodefaults", "-S", *extra], workdir, address)
    launcher.launch()
    return launcher, launcher.greeting


def monitor_entry(chardevs: list[dict[str, Any]], label: str = "mon") -> dict[str, Any]:
    (entry,) = [c for c in chardevs if c["label"] == label]
    return entry


def conversation(kind: str, style: str, workdir: Path) -> dict[str, Any]:
    launcher, greeting = run_launcher(kind, style, workdir)
    try:
        seen: dict[str, Any] = {
            "greeting": sorted(greeting["QMP"]),
            "capabilities": greeting["QMP"]["capabilities"],
        }
        seen["query-status"] = launcher.cmd("query-status")
        seen["chardev"] = monitor_entry(launcher.cmd("query-chardev")["return"])
        seen["cont"] = launcher.cmd("cont")
        seen["event"] = launcher.event_wait("RESUME")["event"]
        seen["stop"] = launcher.cmd("stop")
        seen["error"] = launcher.cmd("no-such-command")
    finally:
        seen["exit status"] = launcher.shutdown()
    return seen


@pytest.mark.parametrize("style", ["socketpair", "path"])
def test_qemus_launcher_runs_vmd_as_it_runs_qemu(
    style: str, workdir: Path, event_loop_for_legacy: None
) -> None:
    vmd = conversation("vmd", style, workdir)
    assert vmd == conversation("qemu", style, workdir)
    assert vmd["query-status"] == {"return": {"running": False, "singlestep": False, "status": "prelaunch"}}
    # a connecting socket, and a socketpair's end, have no name of their own
    assert vmd["chardev"] == {"label": "mon", "filename": "unix:", "frontend-open": True}
    assert vmd["error"] == {
        "error": {"class": "CommandNotFound", "desc": "The command no-such-command has not been found"}
    }
    assert vmd["exit status"] == 0


def raw_monitor(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(TIMEOUT)
    sock.connect(path)
    raw_exchange(sock, None)  # the greeting
    assert raw_exchange(sock, {"execute": "qmp_capabilities"}) == {"return": {}}
    return sock


def raw_exchange(sock: socket.socket, request: dict[str, Any] | None) -> dict[str, Any]:
    """Send `request` (if any) and read the next message that is not an event."""
    if request is not None:
        sock.sendall(json.dumps(request).encode())
    buffered = b""
    while True:
        while b"\n" not in buffered:
            chunk = sock.recv(4096)
            assert chunk, "the peer closed the connection"
            buffered += chunk
        line, _, buffered = buffered.partition(b"\n")
        message = json.loads(line)
        if "event" not in message:
            assert not buffered
            return dict(message)


def after_the_peer_left(kind: str, style: str, workdir: Path) -> dict[str, Any]:
    """The launcher's connection closes; a second monitor looks at the VM."""
    second = str(workdir / f"{kind}-m2.sock")
    launcher, _ = run_launcher(kind, style, workdir, "-qmp", f"unix:{second},server=on,wait=off")
    other = raw_monitor(second)
    try:
        launcher.close_monitor()
        # The binary notices the hang-up asynchronously: ask until the chardev says so (bounded).
        deadline = time.monotonic() + TIMEOUT
        while True:
            entry = monitor_entry(raw_exchange(other, {"execute": "query-chardev"})["return"])
            if entry["filename"].startswith("disconnected:") or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        seen = {"chardev": entry, "alive": launcher.popen is not None and launcher.popen.poll() is None}
        seen["status"] = raw_exchange(other, {"execute": "query-status"})
        seen["quit"] = raw_exchange(other, {"execute": "quit"})
    finally:
        other.close()
    seen["exit status"] = launcher.shutdown()
    return seen


def test_when_the_launcher_closes_a_socketpair_monitor_the_vm_goes_on(
    workdir: Path, event_loop_for_legacy: None
) -> None:
    vmd = after_the_peer_left("vmd", "socketpair", workdir)
    qemu = after_the_peer_left("qemu", "socketpair", workdir)
    # the fd number is the one given on the command line: the same in both runs, or compared as such
    assert vmd["chardev"]["filename"].removeprefix("disconnected:fd:").isdigit()
    vmd["chardev"]["filename"] = qemu["chardev"]["filename"] = "disconnected:fd:N"
    assert vmd == qemu
    assert vmd["alive"] is True
    assert vmd["exit status"] == 0


def test_when_the_listener_closes_a_client_mode_monitor_the_vm_goes_on(
    workdir: Path, event_loop_for_legacy: None
) -> None:
    vmd = after_the_peer_left("vmd", "path", workdir)
    qemu = after_the_peer_left("qemu", "path", workdir)
    for kind, seen in (("vmd", vmd), ("qemu", qemu)):
        assert seen["chardev"]["filename"] == f"disconnected:unix:{workdir}/{kind}-mon.sock"
        seen["chardev"]["filename"] = "disconnected:unix:PATH"
    assert vmd == qemu
    assert vmd["alive"] is True


def first_error(kind: str, argv: Sequence[str], pass_fds: Sequence[int] = ()) -> tuple[int, str]:
    """(exit status, the first line of stderr without the program's name) of a start that fails."""
    done = subprocess.run(
        [*binary(kind), "-nodefaults", "-display", "none", "-S", *argv],
        capture_output=True,
        text=True,
        timeout=20,
        pass_fds=pass_fds,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
    )
    line = done.stderr.strip().splitlines()[0] if done.stderr.strip() else ""
    return done.returncode, line.removeprefix(PROGRAM[kind] + ": ")


def both_fail_alike(argv: Sequence[str], pass_fds: Sequence[int] = ()) -> str:
    vmd = first_error("vmd", argv, pass_fds)
    assert vmd == first_error("qemu", argv, pass_fds)
    assert vmd[0] == 1
    return vmd[1]


def test_a_client_mode_monitor_with_nobody_listening_stops_the_start(workdir: Path) -> None:
    absent = f"{workdir}/absent.sock"
    chardev = f"socket,id=mon,path={absent}"
    assert both_fail_alike(["-chardev", chardev, "-mon", "chardev=mon,mode=control"]) == (
        f"-chardev {chardev}: Failed to connect to '{absent}': No such file or directory"
    )
    assert both_fail_alike(["-qmp", f"unix:{absent}"]) == (
        f"-qmp unix:{absent}: Failed to connect to '{absent}': No such file or directory"
    )
    # a socket file nobody listens on any more (its owner died)
    stale = f"{workdir}/stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(stale)
    assert both_fail_alike(["-qmp", f"unix:{stale}"]) == (
        f"-qmp unix:{stale}: Failed to connect to '{stale}': Connection refused"
    )
    # -daemonize: the parent says so too, with exit status 1
    assert both_fail_alike(["-qmp", f"unix:{absent}", "-daemonize"]) == (
        f"-qmp unix:{absent}: Failed to connect to '{absent}': No such file or directory"
    )


def test_a_socket_fd_must_be_a_socket_and_a_listening_monitor_needs_a_listening_one(workdir: Path) -> None:
    assert both_fail_alike(["-chardev", "socket,id=mon,fd=77", "-mon", "chardev=mon,mode=control"]) == (
        "-chardev socket,id=mon,fd=77: File descriptor '77' is not a socket"
    )
    read_end, write_end = os.pipe()
    try:
        chardev = f"socket,id=mon,fd={read_end}"
        assert both_fail_alike(["-chardev", chardev, "-mon", "chardev=mon,mode=control"], [read_end]) == (
            f"-chardev {chardev}: File descriptor '{read_end}' is not a socket"
        )
    finally:
        os.close(read_end)
        os.close(write_end)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        chardev = f"socket,id=mon,fd={theirs.fileno()},server=on,wait=off"
        argv = ["-chardev", chardev, "-mon", "chardev=mon,mode=control"]
        assert (
            both_fail_alike(argv, [theirs.fileno()])
            == f"-chardev {chardev}: Failed to listen on fd socket: Invalid argument"
        )


def test_vmd_refuses_a_listening_fd_as_a_connected_one(workdir: Path) -> None:
    """QEMU takes it as connected and starts with a monitor that never reads a request; vmd says so."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listening:
        listening.bind(str(workdir / "l.sock"))
        listening.listen()
        chardev = f"socket,id=mon,fd={listening.fileno()}"
        argv = ["-chardev", chardev, "-mon", "chardev=mon,mode=control"]
        refusal = f"fd {listening.fileno()} is a listening socket: a monitor on it needs server=on"
        assert first_error("vmd", argv, [listening.fileno()]) == (1, f"-chardev {chardev}: {refusal}")


def reconnecting(kind: str, workdir: Path) -> dict[str, Any]:
    """reconnect=1 with nobody listening at start-up; then a listener comes, leaves a connection
    and takes the next one.  A socketpair monitor (`ctl`) watches."""
    path = str(workdir / f"{kind}-back.sock")
    ctl, theirs = socket.socketpair()
    ctl.settimeout(TIMEOUT)
    log = workdir / f"{kind}-reconnect.log"
    argv = [*binary(kind), "-nodefaults", "-display", "none", "-S"]
    argv += ["-chardev", f"socket,id=ctl,fd={theirs.fileno()}", "-mon", "chardev=ctl,mode=control"]
    argv += ["-chardev", f"socket,id=mon,path={path},reconnect=1", "-mon", "chardev=mon,mode=control"]
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, pass_fds=[theirs.fileno()], cwd=REPO
        )
    theirs.close()
    seen: dict[str, Any] = {}
    try:
        raw_exchange(ctl, None)
        raw_exchange(ctl, {"execute": "qmp_capabilities"})
        seen["before"] = monitor_entry(raw_exchange(ctl, {"execute": "query-chardev"})["return"])
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(path)
            listener.listen()
            listener.settimeout(3)  # reconnect=1: the next attempt comes within a second
            for turn in ("first", "second"):
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(TIMEOUT)
                    seen[f"{turn} greeting"] = sorted(raw_exchange(conn, None)["QMP"])
                    assert raw_exchange(conn, {"execute": "qmp_capabilities"}) == {"return": {}}
                    seen[turn] = monitor_entry(raw_exchange(ctl, {"execute": "query-chardev"})["return"])
                    if turn == "second":
                        seen["quit"] = raw_exchange(ctl, {"execute": "quit"})
        seen["exit status"] = popen.wait(TIMEOUT)
    finally:
        ctl.close()
        if popen.poll() is None:
            popen.kill()
            popen.wait()
    report = (
        f"Unable to connect character device mon: Failed to connect to '{path}': No such file or directory"
    )
    seen["reports"] = log.read_text().count(report)
    return seen


@pytest.mark.slow
def test_reconnect_connects_when_the_listener_comes_and_again_after_it_closed(workdir: Path) -> None:
    vmd = reconnecting("vmd", workdir)
    qemu = reconnecting("qemu", workdir)
    for kind, seen in (("vmd", vmd), ("qemu", qemu)):
        assert seen["before"]["filename"] == f"disconnected:unix:{workdir}/{kind}-back.sock"
        seen["before"]["filename"] = "disconnected:unix:PATH"
    assert vmd == qemu
    assert vmd["first"] == vmd["second"] == {"label": "mon", "filename": "unix:", "frontend-open": True}
    assert vmd["reports"] == 1  # once for the outage, not once per attempt
    assert vmd["exit status"] == 0
