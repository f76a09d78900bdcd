"""Shared pieces of the QMP benchmark: a raw-socket QMP client and
subprocess handling that never leaves a peer running.

The client is deliberately tiny and identical for every peer, so that the
only thing that differs between two measurements is the server.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import gc
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

Message = dict[str, Any]

QUERY_STATUS = b'{"execute":"query-status"}\n'
QMP_CAPABILITIES = b'{"execute":"qmp_capabilities"}\n'
RECV_SIZE = 1 << 18
PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
# Poll interval while waiting for a socket to appear; small so that the
# start-up figure is not quantised by it (QEMU is ready in ~40 ms).
CONNECT_POLL_S = 0.0005


class PeerError(RuntimeError):
    """A peer failed to start, misbehaved or timed out."""


# --------------------------------------------------------------------------
# QMP client


def _set_kernel_timeouts(sock: socket.socket, seconds: float) -> None:
    # SO_RCVTIMEO/SO_SNDTIMEO instead of sock.settimeout(): with settimeout()
    # CPython poll()s before every recv/send, an extra syscall per call in the
    # hot loop.  Kernel timeouts keep the socket a plain blocking one, yet no
    # read can hang forever (an expired timeout surfaces as EAGAIN).
    sec = int(seconds)
    timeval = struct.pack("ll", sec, int((seconds - sec) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def _as_message(raw: bytes | bytearray) -> Message:
    try:
        msg = json.loads(raw)
    except ValueError as exc:
        raise PeerError(f"peer sent invalid JSON {bytes(raw[:200])!r}") from exc
    if not isinstance(msg, dict):
        raise PeerError(f"peer sent a non-object {bytes(raw[:200])!r}")
    return msg


class QmpConn:
    """Blocking QMP connection with a small buffered line reader."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock = sock
        self._buf = bytearray()
        self._timeout = timeout

    def __enter__(self) -> QmpConn:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def _fill(self) -> None:
        try:
            chunk = self._sock.recv(RECV_SIZE)
        except BlockingIOError as exc:
            raise PeerError(f"no reply within {self._timeout:g} s") from exc
        if not chunk:
            raise PeerError("peer closed the QMP connection")
        self._buf += chunk

    def read_line(self) -> bytes:
        """One `\\n`-terminated line, without the terminator (`\\r` is kept:
        it is JSON whitespace)."""
        buf = self._buf
        nl = buf.find(b"\n")
        while nl < 0:
            start = len(buf)
            self._fill()
            nl = buf.find(b"\n", start)
        line = bytes(buf[:nl])
        del buf[: nl + 1]
        return line

    def read_message(self) -> Message:
        """Next reply or greeting; asynchronous events are skipped."""
        while True:
            msg = _as_message(self.read_line())
            if "event" not in msg:
                return msg

    def send(self, raw: bytes) -> None:
        try:
            self._sock.sendall(raw)
        except BlockingIOError as exc:
            raise PeerError(f"peer stopped reading for {self._timeout:g} s") from exc

    def greeting(self) -> Message:
        msg = self.read_message()
        if "QMP" not in msg:
            raise PeerError(f"expected a QMP greeting, got {msg!r}")
        return msg

    def command(self, raw: bytes) -> Message:
        self.send(raw)
        reply = self.read_message()
        if "return" not in reply:
            raise PeerError(f"{raw.strip()!r} failed: {reply!r}")
        return reply

    def negotiate(self) -> None:
        self.greeting()
        self.command(QMP_CAPABILITIES)

    def round_trips(self, count: int) -> list[int]:
        """Sequential query-status round trips, in nanoseconds each.

        The clock stops when the reply line has arrived; parsing and checking
        it happens outside the timed window so the client's JSON cost is not
        charged to the server.
        """
        send, read_line, clock = self.send, self.read_line, time.perf_counter_ns
        samples = [0] * count
        for i in range(count):
            t0 = clock()
            send(QUERY_STATUS)
            line = read_line()
            t1 = clock()
            msg = _as_message(line)
            while "event" in msg:  # rare: retime to the real reply
                msg = _as_message(read_line())
                t1 = clock()
            if "return" not in msg:
                raise PeerError(f"query-status failed: {msg!r}")
            samples[i] = t1 - t0
        return samples

    def pipeline(self, count: int) -> int:
        """Send `count` query-status commands back to back (each with its own
        id) while reading replies; return nanoseconds until the last reply
        has arrived, after checking that every id came back in order.
        """
        if self._buf:
            raise PeerError(f"unread data before pipelining: {bytes(self._buf)!r}")
        requests = b"".join(b'{"execute":"query-status","id":%d}\n' % i for i in range(count))
        t0 = time.perf_counter_ns()
        got = self._send_interleaved(memoryview(requests), count)
        # Everything is sent, so a blocking read can no longer deadlock; it
        # also saves the select() per wake-up that the first phase pays.
        while got < count:
            try:
                self._fill()
            except PeerError as exc:
                raise PeerError(f"pipelined: {exc} ({got}/{count} replies in)") from exc
            got = self._take_replies(got)
        return time.perf_counter_ns() - t0

    def _send_interleaved(self, out: memoryview, count: int) -> int:
        """Write `out` while draining replies; return how many have arrived.

        Non-blocking and interleaved so that neither side can deadlock on a
        full socket buffer, whatever the peer's flow control (QEMU stops
        reading once 8 requests are queued; a peer that never stops reading
        must still be able to get its replies out).
        """
        sock, sent, got = self._sock, 0, 0
        sock.setblocking(False)
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
                while sent < len(out):
                    events = sel.select(self._timeout)
                    if not events:
                        raise PeerError(f"pipeline stalled: {got}/{count} replies, {sent} bytes sent")
                    sent += _send_some(sock, out[sent:])
                    if events[0][1] & selectors.EVENT_READ and _recv_some(sock, self._buf):
                        got = self._take_replies(got)
        finally:
            sock.setblocking(True)
        return got

    def _take_replies(self, got: int) -> int:
        """Consume the complete replies in the buffer, checking each id is
        the next one expected; return the new count."""
        buf = self._buf
        start = 0
        nl = buf.find(b"\n")
        while nl >= 0:
            msg = _as_message(buf[start:nl])
            start = nl + 1
            nl = buf.find(b"\n", start)
            if "event" in msg:
                continue
            if msg.get("id") != got or "return" not in msg:
                raise PeerError(f"reply {got} out of order or failed: {msg!r}")
            got += 1
        del buf[:start]
        return got


def _recv_some(sock: socket.socket, buf: bytearray) -> bool:
    """Non-blocking read into `buf`; False if nothing was there after all."""
    try:
        chunk = sock.recv(RECV_SIZE)
    except BlockingIOError:
        return False
    if not chunk:
        raise PeerError("peer closed the connection while pipelining")
    buf += chunk
    return True


def _send_some(sock: socket.socket, data: memoryview) -> int:
    try:
        return sock.send(data)
    except BlockingIOError:
        return 0


def try_connect(path: Path, timeout: float) -> QmpConn | None:
    """Connect if the server socket accepts; None if it is not there yet."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _set_kernel_timeouts(sock, timeout)
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except BaseException:
        sock.close()
        raise
    return QmpConn(sock, timeout)


# --------------------------------------------------------------------------
# Peers and processes


@dataclass(frozen=True)
class PeerSpec:
    """How to launch one QMP server.

    `template` is an argv in which the token parts `{sock}` are replaced by
    the QMP socket path and a token that is exactly `{daemon}` expands to
    `-daemonize -pidfile PIDFILE` (start-up row) or to nothing (other rows).
    """

    key: str
    label: str
    template: tuple[str, ...]
    cwd: Path | None

    @property
    def can_daemonize(self) -> bool:
        return "{daemon}" in self.template

    def argv(self, sock: Path, pidfile: Path | None) -> list[str]:
        argv: list[str] = []
        for token in self.template:
            if token == "{daemon}":
                if pidfile is not None:
                    argv += ["-daemonize", "-pidfile", str(pidfile)]
            else:
                argv.append(token.replace("{sock}", str(sock)))
        return argv


def become_subreaper() -> None:
    """Adopt the daemonized grandchildren of the peers we start (Linux).

    A -daemonize peer is re-parented to the nearest subreaper, else to PID 1;
    in containers whose PID 1 does not reap, every timed start would leave two
    zombies behind.  As the subreaper we can reap them ourselves.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: nothing adopted, nothing to reap


def reap_orphans() -> None:
    """Collect exited adopted daemons (see become_subreaper)."""
    if _live:
        return  # waitpid(-1) could steal the exit status a Popen waits for
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


_live: set[subprocess.Popen[bytes]] = set()
_pidfiles: set[Path] = set()


def spawn(argv: list[str], cwd: Path | None, log: Path) -> subprocess.Popen[bytes]:
    """Start a peer with stdout+stderr going to `log`.

    A file rather than a pipe: a daemonized child may keep the inherited
    descriptors open, and a pipe would then never reach EOF.  A new session
    so that Ctrl-C reaches only us and the cleanup order stays ours.
    """
    with log.open("ab") as out:
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise PeerError(f"cannot run {argv[0]!r}: {exc}") from exc
    _live.add(proc)
    return proc


def wait_exact(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """proc's exit status, read the moment it exits.  Popen.wait(timeout) polls with a doubling
    sleep (0.5, 1, 2 ... 50 ms), which rounds every time measured through it up to 15.5, 31.5,
    63.5, 113.5, 163.5 ... ms; a blocking wait, with a timer that kills a hung peer, does not."""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        status = proc.wait()
    finally:
        timer.cancel()
    if expired.is_set():
        raise PeerError(f"still running after {timeout:g} s")
    return status


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it does not go within `timeout`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    # Not in a finally: if Ctrl-C interrupts the wait, reap_all() retries.
    _live.discard(proc)


def watch_pidfile(pidfile: Path) -> None:
    """Remember a pidfile so that its daemon is killed at exit at the latest."""
    _pidfiles.add(pidfile)


def _alive(pid: int) -> bool:
    # /proc rather than kill(pid, 0): the daemon is not our child, and if
    # nobody reaps it, it lingers as a zombie that kill(pid, 0) still finds.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _is_ours(pid: int, marker: str) -> bool:
    """Guard against a recycled pid: our daemon's argv names its pidfile."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return marker.encode() in cmdline.split(b"\0")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL; wait until it is gone (or a zombie), then reap."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        if _wait_gone(pid, timeout):
            break
    else:
        raise PeerError(f"process {pid} survived SIGKILL")
    reap_orphans()


def kill_pidfile(pidfile: Path, timeout: float = 5.0) -> bool:
    """Kill the daemon whose pid is in `pidfile` and wait until it is gone.

    Returns False if there is no usable pidfile (yet); it then stays watched.
    """
    try:
        pid = int(pidfile.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return False
    _pidfiles.discard(pidfile)
    # A daemon that already died has an empty cmdline, so _is_ours() cannot
    # vouch for it; it is then a zombie for reap_orphans(), not a kill target.
    if pid > 1 and _alive(pid) and _is_ours(pid, str(pidfile)):
        _terminate(pid, timeout)
    reap_orphans()
    return True


def _children() -> list[int]:
    me = os.getpid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == me:
            found.append(int(entry.name))
    return found


def kill_adopted(timeout: float = 5.0) -> None:
    """Kill daemons we adopted as subreaper but cannot reach by pidfile.

    That happens when a start is interrupted (Ctrl-C, timeout, failure)
    before the daemon wrote its pidfile.  Only our own children qualify, by
    pid, never by name; Popen children are left to stop_process().
    """
    popen_pids = {proc.pid for proc in _live}
    for pid in _children():
        if pid not in popen_pids:
            _terminate(pid, timeout)
    reap_orphans()


def reap_all() -> None:
    """Last-resort cleanup (atexit): nothing we started may outlive us."""
    for proc in list(_live):
        with contextlib.suppress(Exception):  # keep reaping the others
            stop_process(proc)
    for pidfile in list(_pidfiles):
        with contextlib.suppress(Exception):
            kill_pidfile(pidfile)
    with contextlib.suppress(Exception):
        kill_adopted()


atexit.register(reap_all)


def log_tail(log: Path, limit: int = 4000) -> str:
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return text[-limit:].strip() or "(no output)"


def connect_when_ready(
    sock: Path,
    proc: subprocess.Popen[bytes] | None,
    log: Path,
    timeout: float,
) -> QmpConn:
    """Poll until the QMP socket accepts; fail early if `proc` dies."""
    deadline = time.monotonic() + timeout
    while True:
        conn = try_connect(sock, timeout)
        if conn is not None:
            return conn
        if proc is not None and proc.poll() is not None:
            raise PeerError(f"exited with status {proc.returncode} before QMP was ready:\n" + log_tail(log))
        if time.monotonic() > deadline:
            raise PeerError(f"QMP socket {sock} not ready after {timeout:g} s:\n" + log_tail(log))
        time.sleep(CONNECT_POLL_S)


# --- shared by the benchmark scripts ---------------------------------------


def percentile(sorted_values: list[int], pct: float) -> int:
    """Nearest-rank percentile: an actually observed sample, no interpolation."""
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil without floats
    return sorted_values[int(rank) - 1]


@contextmanager
def gc_paused() -> Iterator[None]:
    # A client GC pause inside a timed window would be billed to the server.
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def qemu_version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    words = out.split()
    return words[3] if len(words) > 3 and words[:3] == ["QEMU", "emulator", "version"] else "?"


def write_json(path: str, doc: dict[str, Any]) -> None:
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        Path(path).write_text(text)


class BoardPeer:
    """One QEMU or vmd of a board benchmark (bench_arm, bench_pseries, bench_s390x): started from
    `argv` with its QMP socket at `sock`, negotiated, and driven by one raw-socket client.

    `ready_ns` is exec to the qmp_capabilities reply.  Every round trip is timed the same way:
    the clock stops when the reply line has arrived and the line is parsed after, so the
    client's own JSON cost (milliseconds for a listing of thousands of slots) is charged to
    neither peer."""

    def __init__(
        self, key: str, argv: list[str], cwd: Path | None, sock: Path, log: Path, timeout: float
    ) -> None:
        self.key = key
        self.log = log
        self.timeout = timeout
        self.started = time.perf_counter_ns()
        self.proc = spawn(argv, cwd, log)
        try:
            self.conn = connect_when_ready(sock, self.proc, log, timeout)
            self.conn.negotiate()
        except BaseException:
            stop_process(self.proc)
            raise
        self.ready_ns = time.perf_counter_ns() - self.started
        self.next_id = 0
        self.polls = 0  # queries made while waiting (a benchmark may take their cost out)
        self.events: list[Message] = []  # kept by exchange() until wait_event() takes them

    def send(self, command: str, **arguments: Any) -> bytes:
        """The request line (not sent yet), with the next id."""
        self.next_id += 1
        message: dict[str, Any] = {"execute": command, "id": self.next_id}
        if arguments:
            message["arguments"] = arguments
        return json.dumps(message).encode()

    def call(self, command: str, **arguments: Any) -> Any:
        """The command's return value; PeerError if it failed."""
        reply = self.conn.command(self.send(command, **arguments))
        if "return" not in reply:
            raise PeerError(f"{self.key}: {command} {arguments}: {reply}")
        return reply["return"]

    def timed(self, command: str, **arguments: Any) -> tuple[int, Message]:
        """One round trip (ns, reply); PeerError if the command failed."""
        raw = self.send(command, **arguments)
        clock, read_line = time.perf_counter_ns, self.conn.read_line
        t0 = clock()
        self.conn.send(raw)
        while True:
            line = read_line()
            t1 = clock()
            reply: Message = json.loads(line)
            if "event" not in reply:
                break
        if "return" not in reply:
            raise PeerError(f"{self.key}: {raw.strip()!r} failed: {reply!r}")
        return t1 - t0, reply

    def exchange(self, raw: bytes) -> Message:
        """Send one request and read its reply, keeping the events that come first."""
        self.conn.send(raw)
        while True:
            message: Message = json.loads(self.conn.read_line())
            if "event" not in message:
                return message
            self.events.append(message)

    def wait_event(self, matches: Any, what: str) -> None:
        """Until an event (kept, or still to come) that `matches` arrived."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, message in enumerate(self.events):
                if matches(message):
                    del self.events[i]
                    return
            if time.monotonic() > deadline:
                raise PeerError(f"{self.key}: no {what} within {self.timeout:g} s")
            message = json.loads(self.conn.read_line())
            if "event" not in message:
                raise PeerError(f"{self.key}: unexpected reply while waiting for {what}: {message!r}")
            self.events.append(message)

    def until(self, command: str, probe: Any, what: str) -> None:
        """Repeat `command` until `probe(its return value)` holds (counted in `polls`)."""
        raw = self.send(command)
        deadline = time.monotonic() + self.timeout
        while not probe(self.conn.command(raw)["return"]):
            self.polls += 1
            if time.monotonic() > deadline:
                raise PeerError(f"{self.key}: timed out waiting for {what}")

    def close(self) -> None:
        self.conn.close()
        stop_process(self.proc)


def us(ns: float) -> str:
    """A duration for a table: µs below 10 ms, ms above."""
    return f"{ns / 1000:.0f} µs" if ns < 10_000_000 else f"{ns / 1e6:.0f} ms"


def stats(samples: list[int]) -> dict[str, int]:
    """p50, p99 and the count of `samples`."""
    ordered = sorted(samples)
    return {"p50": percentile(ordered, 50), "p99": percentile(ordered, 99), "n": len(ordered)}
