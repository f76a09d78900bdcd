#!/usr/bin/env python3
"""Benchmark x86 CPU hotplug over QMP against QEMU and vmd in one run; print a markdown table.

Both peers run `-M q35 -smp 1,maxcpus=255 -accel tcg` (running, not -S) and are driven by the
same raw-socket client (benchlib.QmpConn).  While one peer is measured the other one is paused
(`stop`), so that vmd's busy boot vCPU does not take a host core from QEMU's measurement and
QEMU's threads none from vmd's; peers are measured block by block in alternation.

Rows:
  * device_add of one vCPU into a free slot, reply round trip p50/p99: 254 plugs per process,
    each into a slot never used before, the hot-added CPUs left present and not running guest
    code on both sides (QEMU: no guest OS brings them up; vmd: guest policy auto-online=off),
    a fresh process per 254 plugs (QEMU 7.2 TCG crashes when re-plugging after an eject);
    also p50 of the first and of the last 25 plugs of a process (QEMU's cost grows with the
    CPUs already present);
  * vmd only, on a fresh process with the default guest (auto-online, accepts unplugs), each
    fresh slot plugged then unplugged: device_add → the guest lists the CPU online,
    device_add → ACPI_DEVICE_OST(source 1), device_del → DEVICE_DELETED for the CPU itself.
    The cycles alternate two ways of waiting for the online: as a management client waits
    (the session enabled __com.vmd_GUEST_CPU_STATE; on the event, __com.vmd_query-guest-cpus
    is asked and must list the CPU: the time is that listing's reply), and the listing polled
    back to back (each poll costs vmd a loop turn the guest model waits behind);
  * device_del reply (QEMU after `qom-set cpu-hotplug-legacy false` on its ICH9-LPC, without
    which 7.2 refuses; it then answers {} but, with no guest OS and under TCG, never completes:
    the script waits and reports what arrived);
  * query-hotpluggable-cpus at 255 slots (both), repeated and right after each device_add (vmd
    caches the encoded listing until the slots change), and vmd alone at the other sizes (both
    ways), with growth vs 255 and µs per slot.  Sizes plain `-M q35` refuses (vmd's pc-q35-7.2 has
    QEMU 7.2's limits: cpu-max 288, highest APIC ID + 1 <= 255) are reported with the error and
    then started with vmd's own `-M q35,x-vmd-max-cpus=N` where vmd has it;
  * query-cpus-fast with 255 present vCPUs (both);
  * --busy (vmd only, about 1.5 minutes more): query-status and query-cpus-fast while 1, 16,
    64 and all 255 vCPUs are online, each running the firmware's work loop.

Usage:
  python3 scripts/bench_hotplug.py               # QEMU vs `python -m vmd`, under a minute
  python3 scripts/bench_hotplug.py --quick       # one round, fewer samples
  python3 scripts/bench_hotplug.py --runs 3 --json results.json

This is a benchmark, not a test: it exits non-zero only if a peer fails, never because a
target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

import svgplot
from benchlib import (
    PeerError,
    QmpConn,
    become_subreaper,
    connect_when_ready,
    gc_paused,
    log_tail,
    percentile,
    positive_int,
    qemu_version,
    spawn,
    stop_process,
    write_json,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
PEERS = ("qemu", "vmd")
CPU_DRIVER = "qemu64-x86_64-cpu"
MAIN_SLOTS = 255
TIMES = "\N{MULTIPLICATION SIGN}"
DASH = "\N{EN DASH}"
REWARM = 5  # unrecorded query-status round trips after each cont, before a recorded block
WARMUP = 20  # unrecorded queries per process before the first recorded one
EDGE = 25  # the first and the last plugs of a process are also reported apart
BUSY_LEVELS = (1, 16, 64, MAIN_SLOTS)  # vCPUs online in the --busy rows


def machine_args(slots: int, machine: str = "q35") -> list[str]:
    return [
        "-M", machine, "-smp", f"1,maxcpus={slots}", "-accel", "tcg", "-display", "none",
        "-nodefaults", "-no-user-config",
    ]  # fmt: skip


def qmp_args(sock: Path) -> list[str]:
    return ["-qmp", f"unix:{sock},server=on,wait=off"]


def p50_us(samples: list[int]) -> float | None:
    return percentile(sorted(samples), 50) / 1000 if samples else None


def p99_us(samples: list[int]) -> float | None:
    return percentile(sorted(samples), 99) / 1000 if samples else None


def parse_cpu_list(text: str) -> set[int]:
    """Linux's range syntax as __com.vmd_query-guest-cpus gives it: 0-3,5."""
    cpus: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def slot_args(core: int) -> dict[str, Any]:
    return {"driver": CPU_DRIVER, "id": f"cpu{core}", "socket-id": 0, "core-id": core, "thread-id": 0}


# --------------------------------------------------------------------------
# A QMP session that keeps events, with their arrival times


class CommandFailed(PeerError):
    """The peer answered a command with an error."""


def as_message(raw: bytes) -> dict[str, Any]:
    try:
        msg = json.loads(raw)
    except ValueError as exc:
        raise PeerError(f"peer sent invalid JSON {raw[:200]!r}") from exc
    if not isinstance(msg, dict):
        raise PeerError(f"peer sent a non-object {raw[:200]!r}")
    return msg


def request(command: str, arguments: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"execute": command}
    if arguments is not None:
        body["arguments"] = arguments
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


class Session:
    """QmpConn plus the events it reads on the way, each stamped when its line arrived.

    Clocks stop when a reply line has arrived; the reply is parsed outside the timed window.
    Every read is bounded by the connection's kernel timeout, every wait by a deadline.
    """

    def __init__(self, conn: QmpConn, timeout: float) -> None:
        self.conn = conn
        self.timeout = timeout
        self.events: list[tuple[int, dict[str, Any]]] = []

    def send_raw(self, raw: bytes) -> tuple[Any, int, int]:
        """Send one request; (its return value, ns when sent, ns when the reply arrived)."""
        clock, read_line = time.perf_counter_ns, self.conn.read_line
        t0 = clock()
        self.conn.send(raw)
        while True:
            line = read_line()
            t1 = clock()
            msg = as_message(line)
            if "event" not in msg:
                break
            self.events.append((t1, msg))
        if "return" not in msg:
            raise CommandFailed(f"{raw.strip().decode()} failed: {msg.get('error', msg)!r}")
        return msg["return"], t0, t1

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        return self.send_raw(request(command, arguments))[0]

    def timed(self, raw: bytes) -> int:
        _, t0, t1 = self.send_raw(raw)
        return t1 - t0

    def wait_event(self, matches: Callable[[dict[str, Any]], bool], what: str) -> int:
        """Arrival time (ns) of the first event (kept or still to come) that `matches`."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, (arrived, msg) in enumerate(self.events):
                if matches(msg):
                    del self.events[i]
                    return arrived
            if time.monotonic() > deadline:
                raise PeerError(f"no {what} within {self.timeout:g} s")
            line = self.conn.read_line()
            arrived = time.perf_counter_ns()
            msg = as_message(line)
            if "event" not in msg:
                raise PeerError(f"unexpected reply while waiting for {what}: {msg!r}")
            self.events.append((arrived, msg))

    def drop_events(self) -> None:
        self.events.clear()


def is_event(name: str, **data: Any) -> Callable[[dict[str, Any]], bool]:
    def matches(msg: dict[str, Any]) -> bool:
        got = msg.get("data", {})
        return msg.get("event") == name and all(got.get(k) == v for k, v in data.items())

    return matches


def is_ost(slot: int, source: int, status: int) -> Callable[[dict[str, Any]], bool]:
    def matches(msg: dict[str, Any]) -> bool:
        info = msg.get("data", {}).get("info", {})
        return (
            msg.get("event") == "ACPI_DEVICE_OST"
            and info.get("slot") == str(slot)
            and info.get("source") == source
            and info.get("status") == status
        )

    return matches


# --------------------------------------------------------------------------
# Peers


@dataclass
class Peer:
    key: str  # "qemu" or "vmd"
    name: str  # for messages: "QEMU (qemu-r0, maxcpus=255)"
    slots: int
    proc: subprocess.Popen[bytes]
    log: Path
    session: Session | None = None
    running: bool = True

    @property
    def qmp(self) -> Session:
        if self.session is None:
            raise PeerError("not connected")
        return self.session

    def pause(self) -> None:
        if self.running:
            self.qmp.execute("stop")
            self.running = False

    def resume(self) -> None:
        if not self.running:
            self.qmp.execute("cont")
            self.running = True
        for _ in range(REWARM):
            self.qmp.execute("query-status")
        self.qmp.drop_events()  # STOP/RESUME and whatever the last block left behind


class Refused(PeerError):
    """The peer would not start with this configuration; the message is its own."""


def peer_argv(key: str, opts: argparse.Namespace, slots: int, sock: Path, machine: str) -> list[str]:
    if key == "qemu":
        prefix = [opts.qemu]
    else:
        prefix = shlex.split(opts.vmd) if opts.vmd else [sys.executable, "-m", "vmd"]
    return [*prefix, *machine_args(slots, machine), *qmp_args(sock)]


def start_peer(
    key: str, tag: str, slots: int, work: Path, opts: argparse.Namespace, machine: str = "q35"
) -> Peer:
    sock, log = work / f"{tag}.sock", work / f"{tag}.log"
    name = f"{'QEMU' if key == 'qemu' else 'vmd'} ({tag}, -M {machine} -smp 1,maxcpus={slots})"
    proc = spawn(peer_argv(key, opts, slots, sock, machine), None if key == "qemu" else REPO_ROOT, log)
    peer = Peer(key, name, slots, proc, log)
    try:
        try:
            conn = connect_when_ready(sock, proc, log, opts.timeout)
            peer.session = Session(conn, opts.timeout)
            conn.negotiate()
        except (PeerError, OSError) as exc:
            # QEMU opens its QMP socket before it checks -smp, then exits: the connection is
            # reset.  Either way, a peer that exited refused the command line: quote it.
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1.0)
            if proc.poll() is not None:
                raise Refused(f"exit status {proc.returncode}: {log_tail(log, 400)}") from exc
            raise PeerError(f"QMP start-up failed: {exc!r}") from exc
    except BaseException:
        close_peer(peer)
        raise
    return peer


def close_peer(peer: Peer) -> None:
    if peer.session is not None:
        peer.session.conn.close()
    stop_process(peer.proc)


def with_exit_status(peer: Peer, exc: Exception) -> PeerError:
    """The failure as a PeerError; if the peer died, with its exit status and its last output.
    (A peer that crashes can also surface as an OSError: a reset connection, a broken pipe.)"""
    with contextlib.suppress(subprocess.TimeoutExpired):
        peer.proc.wait(0.5 if isinstance(exc, OSError) else 0)
    if peer.proc.poll() is None:
        return exc if isinstance(exc, PeerError) else PeerError(repr(exc))
    return PeerError(f"{exc}; exited with status {peer.proc.returncode}:\n{log_tail(peer.log)}")


# --------------------------------------------------------------------------
# Samples and results


@dataclass
class RunData:
    """One run: raw nanosecond samples by metric and peer, the peers' refusals, counters, errors."""

    samples: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    refused: dict[str, dict[str, str]] = field(default_factory=dict)  # metric -> who -> message
    machines: dict[str, str] = field(default_factory=dict)  # growth metric -> vmd's -M that started
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def out(self, metric: str, peer: str) -> list[int]:
        return self.samples.setdefault(metric, {}).setdefault(peer, [])

    def got(self, metric: str, peer: str) -> list[int]:
        return self.samples.get(metric, {}).get(peer, [])

    def bump(self, name: str, by: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + by

    def fail(self, who: str, phase: str, exc: BaseException) -> None:
        msg = f"{who}: {phase} failed: {exc}"
        self.errors.append(msg)
        print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Measurements


def alternate(peers: dict[str, Peer], step: Callable[[Peer], None], data: RunData, phase: str) -> None:
    """Run `step` on each live peer in turn, that one running and the others paused.

    A peer that fails is recorded, closed and dropped; the others carry on."""
    for key, peer in list(peers.items()):
        try:
            for other in peers.values():
                if other is not peer:
                    other.pause()
            peer.resume()
            step(peer)
        except (PeerError, OSError) as exc:
            data.fail(peer.name, phase, with_exit_status(peer, exc))
            close_peer(peers.pop(key))


def query_block(peer: Peer, raw: bytes, count: int, out: list[int]) -> None:
    timed = peer.qmp.timed
    out += [timed(raw) for _ in range(count)]


def plug_block(peer: Peer, cores: range, data: RunData) -> None:
    qmp, out = peer.qmp, data.out("add", peer.key)
    first, last = data.out("add_first", peer.key), data.out("add_last", peer.key)
    changed, qhc = data.out("qhc_changed", peer.key), request("query-hotpluggable-cpus")
    for core in cores:
        elapsed = qmp.timed(request("device_add", slot_args(core)))
        out.append(elapsed)
        if core <= EDGE:
            first.append(elapsed)
        elif core >= MAIN_SLOTS - EDGE:
            last.append(elapsed)
        # What a management tool does next, and the listing has just changed.
        changed.append(qmp.timed(qhc))
    qmp.drop_events()  # vmd's guest answers each plug with an ACPI_DEVICE_OST


def blocks(total: int, size: int) -> Iterator[int]:
    for start in range(0, total, size):
        yield min(size, total - start)


def find_lpc(qmp: Session) -> str:
    for child in qmp.execute("qom-list", {"path": "/machine/unattached"}):
        if child.get("type") == "child<ICH9-LPC>":
            return f"/machine/unattached/{child['name']}"
    raise PeerError("no ICH9-LPC under /machine/unattached")


def qemu_unplugs(peer: Peer, count: int, grace: float, data: RunData) -> None:
    """QEMU 7.2: switch its ACPI CPU hotplug block to modern mode (else device_del of a CPU is
    refused), time device_del replies, then count what completes within `grace` seconds."""
    qmp = peer.qmp
    qmp.execute("qom-set", {"path": find_lpc(qmp), "property": "cpu-hotplug-legacy", "value": False})
    ids = [f"cpu{core}" for core in range(1, count + 1)]
    data.out("del_reply", "qemu").extend(qmp.timed(request("device_del", {"id": i})) for i in ids)
    time.sleep(grace)
    qmp.execute("query-status")  # events emitted meanwhile arrive before this reply
    deleted = [m.get("data", {}) for _, m in qmp.events if m.get("event") == "DEVICE_DELETED"]
    own = sum(1 for d in deleted if d.get("device") in ids)
    data.bump("qemu_unplug_requests", count)
    data.bump("qemu_cpu_deleted", own)
    data.bump("qemu_child_deleted", len(deleted) - own)
    data.counts["qemu_grace_ms"] = max(data.counts.get("qemu_grace_ms", 0), round(grace * 1000))
    qmp.drop_events()


def check_all_present(peer: Peer) -> None:
    present = len(peer.qmp.execute("query-cpus-fast"))
    if present != MAIN_SLOTS:
        raise PeerError(f"{present} CPUs present after {MAIN_SLOTS - 1} plugs, expected {MAIN_SLOTS}")


def main_round(work: Path, r: int, opts: argparse.Namespace, data: RunData) -> None:
    """query-hotpluggable-cpus at 255 slots, 254 plugs, query-cpus-fast at 255 present and
    QEMU's device_del, on one fresh process per peer, peers in alternation."""
    peers: dict[str, Peer] = {}
    try:
        for key in opts.peers:
            try:
                peers[key] = start_peer(key, f"{key}-r{r}", MAIN_SLOTS, work, opts)
            except PeerError as exc:
                data.fail(key, "start", exc)
        if "vmd" in peers:
            # Like QEMU's (no guest OS brings them up), the hot-added CPUs stay present, offline.
            try:
                peers["vmd"].qmp.execute("__com.vmd_set-guest-policy", {"auto-online": False})
            except (PeerError, OSError) as exc:
                data.fail(
                    peers["vmd"].name, "__com.vmd_set-guest-policy", with_exit_status(peers["vmd"], exc)
                )
                close_peer(peers.pop("vmd"))
        with gc_paused():
            qhc = request("query-hotpluggable-cpus")
            alternate(peers, lambda p: query_block(p, qhc, WARMUP, []), data, "warm-up")
            for n in blocks(opts.queries, opts.block):
                step = functools.partial(lambda p, n: query_block(p, qhc, n, data.out("qhc", p.key)), n=n)
                alternate(peers, step, data, "query-hotpluggable-cpus")
            for first in range(1, MAIN_SLOTS, opts.block):
                cores = range(first, min(first + opts.block, MAIN_SLOTS))
                step = functools.partial(lambda p, c: plug_block(p, c, data), c=cores)
                alternate(peers, step, data, "device_add")
            alternate(peers, check_all_present, data, "plugging")
            qcf = request("query-cpus-fast")
            for n in blocks(opts.queries, opts.block):
                step = functools.partial(lambda p, n: query_block(p, qcf, n, data.out("qcf", p.key)), n=n)
                alternate(peers, step, data, "query-cpus-fast")
        # QEMU's device_del, vmd paused meanwhile (its unplugs are timed in vmd_cycles).
        step = functools.partial(qemu_unplugs, count=opts.qemu_unplugs, grace=opts.grace, data=data)
        alternate(peers, lambda p: step(p) if p.key == "qemu" else None, data, "device_del")
    finally:
        for peer in peers.values():
            close_peer(peer)


def vmd_cycles(work: Path, r: int, opts: argparse.Namespace, data: RunData) -> None:
    """vmd alone, default guest: plug each fresh slot, poll until the guest has it online,
    unplug it, wait for DEVICE_DELETED of the CPU itself (and the closing _OST)."""
    try:
        peer = start_peer("vmd", f"vmd-cycles-r{r}", MAIN_SLOTS, work, opts)
    except PeerError as exc:
        data.fail("vmd", "start (plug/unplug cycles)", exc)
        return
    qmp, guest = peer.qmp, request("__com.vmd_query-guest-cpus")
    try:
        qmp.execute("__com.vmd_enable-events", {"events": [GUEST_CPU_STATE]})
        with gc_paused():
            for core in range(1, 1 + min(opts.cycles, MAIN_SLOTS - 1)):
                name, path = f"cpu{core}", f"/machine/peripheral/cpu{core}"
                evented = core % 2 == 1  # the other cycles poll back to back
                qmp.drop_events()
                _, sent, replied = qmp.send_raw(request("device_add", slot_args(core)))
                data.out("cycle_add", "vmd").append(replied - sent)
                if evented:
                    qmp.wait_event(is_event(GUEST_CPU_STATE, **{"cpu-index": core, "online": True}),
                                   f"{GUEST_CPU_STATE} online for CPU {core}")  # fmt: skip
                deadline = time.monotonic() + opts.timeout
                while True:
                    view, _, answered = qmp.send_raw(guest)
                    if core in parse_cpu_list(view["online"]):
                        data.out("online" if evented else "online_polled", "vmd").append(answered - sent)
                        break
                    if time.monotonic() > deadline:
                        raise PeerError(f"CPU {core} not online after {opts.timeout:g} s: {view!r}")
                ost = qmp.wait_event(is_ost(core, 1, 0), f"ACPI_DEVICE_OST(1, 0) for slot {core}")
                data.out("ost", "vmd").append(ost - sent)
                _, sent, replied = qmp.send_raw(request("device_del", {"id": name}))
                data.out("del_reply", "vmd").append(replied - sent)
                gone = qmp.wait_event(
                    is_event("DEVICE_DELETED", device=name, path=path), f"DEVICE_DELETED {path}"
                )
                data.out("deleted", "vmd").append(gone - sent)
                qmp.wait_event(is_ost(core, 3, 0), f"ACPI_DEVICE_OST(3, 0) for slot {core}")
    except (PeerError, OSError) as exc:
        data.fail(peer.name, "plug/unplug cycle", with_exit_status(peer, exc))
    finally:
        close_peer(peer)


def growth_metric(slots: int, changed: bool = False) -> str:
    return f"qhc_{'changed_' if changed else ''}{slots}"


def growth_block(peer: Peer, count: int, data: RunData) -> None:
    """`count` repeated listings, then `count` times: plug a CPU, list the slots (the listing
    has just changed), unplug the CPU again."""
    qmp, qhc = peer.qmp, request("query-hotpluggable-cpus")
    query_block(peer, qhc, count, data.out(growth_metric(peer.slots), "vmd"))
    changed, path = data.out(growth_metric(peer.slots, True), "vmd"), "/machine/peripheral/cpu1"
    for _ in range(count):
        qmp.execute("device_add", slot_args(1))
        changed.append(qmp.timed(qhc))
        qmp.execute("device_del", {"id": "cpu1"})
        qmp.wait_event(is_event("DEVICE_DELETED", device="cpu1", path=path), f"DEVICE_DELETED {path}")
        qmp.drop_events()


def start_growth_peer(slots: int, work: Path, opts: argparse.Namespace, data: RunData) -> Peer | None:
    """vmd with `slots` possible vCPUs: as QEMU is started (-M q35), else, for sizes QEMU 7.2's
    q35 refuses, with vmd's own -machine q35,x-vmd-max-cpus=N; refusals are recorded."""
    metric = growth_metric(slots)
    machines = ["q35"] + ([f"q35,x-vmd-max-cpus={slots}"] if slots > MAIN_SLOTS else [])
    for machine in machines:
        try:
            peer = start_peer(
                "vmd", f"vmd-g{slots}-{len(data.refused.get(metric, {}))}", slots, work, opts, machine
            )
        except Refused as exc:
            data.refused.setdefault(metric, {})[f"vmd -M {machine}"] = str(exc)
            continue
        except PeerError as exc:
            data.fail(f"vmd (-M {machine} -smp 1,maxcpus={slots})", "start", exc)
            return None
        data.machines[metric] = machine
        return peer
    return None


def growth(work: Path, opts: argparse.Namespace, data: RunData) -> None:
    """query-hotpluggable-cpus on vmd at each size, one process each, in alternation, listing
    just changed and repeated; QEMU is only asked whether it starts at sizes above 255."""
    peers: dict[str, Peer] = {}
    try:
        for slots in opts.sizes:
            peer = start_growth_peer(slots, work, opts, data)
            if peer is not None:
                try:
                    peer.qmp.execute("__com.vmd_set-guest-policy", {"auto-online": False})
                    peers[str(slots)] = peer
                except (PeerError, OSError) as exc:
                    data.fail(peer.name, "__com.vmd_set-guest-policy", with_exit_status(peer, exc))
                    close_peer(peer)
            if slots > MAIN_SLOTS and "qemu" in opts.peers:
                metric = growth_metric(slots)
                try:
                    close_peer(start_peer("qemu", f"qemu-g{slots}", slots, work, opts))
                    data.refused.setdefault(metric, {})["qemu"] = "starts (not measured)"
                except Refused as exc:
                    data.refused.setdefault(metric, {})["qemu"] = str(exc)
                except PeerError as exc:
                    data.fail(f"QEMU (maxcpus={slots})", "start", exc)
        with gc_paused():
            alternate(peers, lambda p: growth_block(p, WARMUP // 4, data), data, "warm-up")
            for peer in peers.values():  # the warm-up is not part of the figures
                data.out(growth_metric(peer.slots), "vmd").clear()
                data.out(growth_metric(peer.slots, True), "vmd").clear()
            for n in blocks(opts.growth_samples, opts.block):
                alternate(peers, functools.partial(growth_block, count=n, data=data), data, "growth")
    finally:
        for peer in peers.values():
            close_peer(peer)


def busy(work: Path, opts: argparse.Namespace, data: RunData) -> None:
    """vmd alone (--busy): query-status and query-cpus-fast while more and more of the 255
    vCPUs are online, each running the firmware's busy loop on the host's cores."""
    try:
        peer = start_peer("vmd", "vmd-busy", MAIN_SLOTS, work, opts)
    except PeerError as exc:
        data.fail("vmd", "start (--busy)", exc)
        return
    qmp = peer.qmp
    try:
        # A busy guest (the default rests its online CPUs in HLT): each online vCPU takes a core.
        qmp.execute("__com.vmd_set-guest-policy", {"auto-online": False, "load-percent": 100})
        for core in range(1, MAIN_SLOTS):
            qmp.execute("device_add", slot_args(core))
        online = 1
        with gc_paused():
            for level in BUSY_LEVELS:
                for core in range(online, level):
                    qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": core, "online": True})
                online = level
                for command in ("query-status", "query-cpus-fast"):
                    out = data.out(f"busy_{command}_{level}", "vmd")
                    query_block(peer, request(command), opts.busy_samples, out)
    except (PeerError, OSError) as exc:
        data.fail(peer.name, "--busy", with_exit_status(peer, exc))
    finally:
        close_peer(peer)


def run_once(opts: argparse.Namespace) -> RunData:
    data = RunData()
    work = Path(tempfile.mkdtemp(prefix="vh", dir="/tmp"))  # sun_path is 108 bytes
    try:
        for r in range(opts.rounds):
            main_round(work, r, opts, data)
            if "vmd" in opts.peers:
                vmd_cycles(work, r, opts, data)
        if "vmd" in opts.peers:
            growth(work, opts, data)
            if opts.busy:
                busy(work, opts, data)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return data


# --------------------------------------------------------------------------
# Figures and the table

Figures = dict[str, dict[str, float | None]]  # metric -> peer -> µs


def figures(data: RunData, opts: argparse.Namespace) -> Figures:
    out: Figures = {}
    for base, pcts in (
        ("add", (50, 99)),
        ("add_first", (50,)),
        ("add_last", (50,)),
        ("cycle_add", (50,)),
        ("online", (50, 99)),
        ("online_polled", (50, 99)),
        ("ost", (50,)),
        ("del_reply", (50,)),
        ("deleted", (50, 99)),
        ("qhc", (50,)),
        ("qhc_changed", (50,)),
        ("qcf", (50, 99)),
        *((growth_metric(s, changed), (50,)) for s in opts.sizes for changed in (False, True)),
        *((f"busy_{c}_{n}", (50,)) for n in BUSY_LEVELS for c in ("query-status", "query-cpus-fast")),
    ):
        for pct in pcts:
            out[f"{base}_p{pct}"] = {
                peer: (p50_us if pct == 50 else p99_us)(data.got(base, peer)) for peer in PEERS
            }
    return out


@dataclass(frozen=True)
class Row:
    metric: str
    title: str
    target: str = "—"
    meets: Callable[[float], bool] | None = None  # applied to the ratio vmd / QEMU
    qemu_na: str | None = None  # why QEMU has no figure, when that is by design
    absolute: bool = False  # `meets` is applied to vmd's figure in µs (a row QEMU cannot have)


def at_most(limit: float, text: str) -> tuple[str, Callable[[float], bool]]:
    return f"≤ {text}", lambda r: r <= limit


ADD_TARGET = at_most(0.1, f"0.1{TIMES} (1/10)")
ONLINE_TARGET = at_most(5000, "5 ms")
QHC_TARGET = at_most(0.25, f"0.25{TIMES} (1/4)")
GUEST_CPU_STATE = "__com.vmd_GUEST_CPU_STATE"
NO_GUEST = "n/a: no guest OS"
ON_EVENT = "(the listing asked on vmd's online event)"
POLLED = "(the listing polled back to back)"
BASE_ROWS = (
    Row("add_p50", "device_add of one vCPU into a free slot, reply p50", *ADD_TARGET),
    Row("add_p99", "device_add of one vCPU into a free slot, reply p99", *ADD_TARGET),
    Row("add_first_p50", f"device_add reply p50, plugs 1{DASH}{EDGE} of a process (few present)"),
    Row(
        "add_last_p50",
        f"device_add reply p50, plugs {MAIN_SLOTS - EDGE}{DASH}{MAIN_SLOTS - 1} of a process (≥ 229 present)",
    ),
    Row("cycle_add_p50", "device_add reply p50, default guest, plug/unplug cycles", qemu_na=NO_GUEST),
    Row("online_p50", f"device_add sent → guest lists the CPU online, p50 {ON_EVENT}", qemu_na=NO_GUEST),
    Row(
        "online_p99",
        f"device_add sent → guest lists the CPU online, p99 {ON_EVENT}",
        *ONLINE_TARGET,
        qemu_na=NO_GUEST,
        absolute=True,
    ),
    Row("online_polled_p50", f"device_add sent → guest lists the CPU online, p50 {POLLED}", qemu_na=NO_GUEST),
    Row("online_polled_p99", f"device_add sent → guest lists the CPU online, p99 {POLLED}", qemu_na=NO_GUEST),
    Row("ost_p50", "device_add sent → ACPI_DEVICE_OST(source 1), p50", qemu_na=NO_GUEST),
    Row("del_reply_p50", "device_del reply p50 (QEMU: after cpu-hotplug-legacy=false)"),
    Row("deleted_p50", "device_del sent → DEVICE_DELETED of the CPU itself, p50", qemu_na="unplug"),
    Row("deleted_p99", "device_del sent → DEVICE_DELETED of the CPU itself, p99", qemu_na="unplug"),
    Row("qhc_p50", "query-hotpluggable-cpus, 255 slots, 1 present, repeated, p50", *QHC_TARGET),
    Row(
        "qhc_changed_p50", "query-hotpluggable-cpus, 255 slots, right after each device_add, p50", *QHC_TARGET
    ),
    Row("qcf_p50", "query-cpus-fast, 255 present vCPUs, p50"),
    Row("qcf_p99", "query-cpus-fast, 255 present vCPUs, p99"),
)


def fmt_us(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.1f} ms"
    if value >= 1000:
        return f"{value / 1000:.2f} ms"
    return f"{value:.0f} µs" if value >= 100 else f"{value:.1f} µs"


class Report:
    """Renders one run (a list of one) or the summary of several: median (min to max)."""

    def __init__(self, runs: list[RunData], opts: argparse.Namespace, labels: dict[str, str]) -> None:
        self.runs = runs
        self.figs = [figures(d, opts) for d in runs]
        self.opts = opts
        self.labels = labels

    def values(self, metric: str, peer: str) -> list[float]:
        return [v for f in self.figs if (v := f.get(metric, {}).get(peer)) is not None]

    def median(self, metric: str, peer: str) -> float | None:
        vals = self.values(metric, peer)
        return statistics.median(vals) if vals else None

    def cell(self, metric: str, peer: str, fmt: Callable[[float], str] = fmt_us) -> str | None:
        vals = self.values(metric, peer)
        if not vals:
            return None
        if len(vals) == 1:
            return fmt(vals[0])
        return f"{fmt(statistics.median(vals))} ({fmt(min(vals))} {DASH} {fmt(max(vals))})"

    def count(self, name: str) -> int:
        return sum(d.counts.get(name, 0) for d in self.runs)

    def qemu_unplug_note(self) -> str:
        requested, own = self.count("qemu_unplug_requests"), self.count("qemu_cpu_deleted")
        if not requested:
            return "—"
        grace = max(d.counts.get("qemu_grace_ms", 0) for d in self.runs) / 1000
        children = self.count("qemu_child_deleted")
        if own:
            return f"{own} of {requested} sent (waited up to {grace:g} s)"
        lapic = "no lapic event either" if not children else f"{children} other DEVICE_DELETED"
        return f"not sent: 0 of {requested} CPUs within {grace:g} s of the {{}} reply ({lapic})"

    def header_row(self) -> list[str]:
        q, v = self.labels["qemu"], self.labels["vmd"]
        return [
            f"| metric | {q} | {v} | ratio ({v} / QEMU) | target | met? |",
            "|---|---:|---:|---:|---|---|",
        ]

    def ratio(self, metric: str) -> float | None:
        qm, vm = self.median(metric, "qemu"), self.median(metric, "vmd")
        return vm / qm if qm and vm is not None else None

    def judged(self, row: Row) -> float | None:
        """What the row's target applies to: the ratio, or vmd's own figure."""
        return self.median(row.metric, "vmd") if row.absolute else self.ratio(row.metric)

    def verdicts(self) -> dict[str, dict[str, Any]]:
        """The compared rows for --json: medians (µs), the ratio, the target and whether met."""
        out = {}
        for row in BASE_ROWS:
            judged = self.judged(row)
            out[row.metric] = {
                "title": row.title,
                "qemu_us": self.median(row.metric, "qemu"),
                "vmd_us": self.median(row.metric, "vmd"),
                "ratio": self.ratio(row.metric),
                "target": row.target,
                "met": None if row.meets is None or judged is None else row.meets(judged),
            }
        return out

    def base_rows(self) -> list[str]:
        lines = []
        for row in BASE_ROWS:
            q = self.cell(row.metric, "qemu")
            v = self.cell(row.metric, "vmd")
            if q is None and row.qemu_na == "unplug":
                q = self.qemu_unplug_note()
            elif q is None:
                q = row.qemu_na or "—"
            ratio = self.ratio(row.metric)
            shown = "—" if ratio is None else f"{ratio:.3f}{TIMES}" if ratio < 0.1 else f"{ratio:.2f}{TIMES}"
            judged = self.judged(row)
            if row.meets is None or judged is None:
                met = "n/a"
            else:
                met = "met" if row.meets(judged) else "**not met**"
            lines.append(f"| {row.title} | {q} | {v or '—'} | {shown} | {row.target} | {met} |")
        return lines

    def growth_rows(self) -> list[str]:
        lines = []
        for changed in (False, True):
            how = "right after a device_add" if changed else "repeated"
            points: list[tuple[int, float]] = []
            for slots in self.opts.sizes:
                value = self.median(f"{growth_metric(slots, changed)}_p50", "vmd")
                if value is not None:
                    points.append((slots, value))
            measured = dict(points)
            base = MAIN_SLOTS if MAIN_SLOTS in measured else (points[0][0] if points else None)
            # A repeated listing is served from vmd's cache: only the changed one should grow.
            target, linear = ("≤ linear in slots", self.linearity(points)) if changed else ("—", "n/a")
            prev: tuple[int, float] | None = None
            for slots in self.opts.sizes:
                metric = growth_metric(slots)
                machine = next((d.machines[metric] for d in self.runs if metric in d.machines), "q35")
                title = f"query-hotpluggable-cpus, vmd alone, {slots} slots, {how}, p50"
                if machine != "q35":
                    title += f" (`-M {machine}`)"
                refused = {who: msg for d in self.runs for who, msg in d.refused.get(metric, {}).items()}
                q = refused.get("qemu", "not measured")
                value = measured.get(slots)
                if value is None:
                    v = "; ".join(f"{who}: {msg}" for who, msg in refused.items() if who != "qemu") or "—"
                    lines.append(f"| {title} | {q} | {v} | — | {target} | n/a |")
                    continue
                v = f"{self.cell(f'{growth_metric(slots, changed)}_p50', 'vmd')}, {value / slots:.2f} µs/slot"
                if prev is not None:
                    v += f", +{(value - prev[1]) / (slots - prev[0]):.2f} µs per added slot"
                prev = (slots, value)
                ratio = "—"
                if base is not None and measured[base]:
                    ratio = f"{value / measured[base]:.2f}{TIMES} vs {base} (slots {slots / base:.2f}{TIMES})"
                lines.append(f"| {title} | {q} | {v} | {ratio} | {target} | {linear} |")
        return lines

    @staticmethod
    def linearity(points: list[tuple[int, float]]) -> str:
        """The issue's criterion: growth from 255 slots to each larger size is linear or better (no
        per-slot quadratic work); time may grow at most 1.5x as fast as the slots, which leaves
        room for cache effects.  Smaller sizes are shown, not judged: fixed costs dominate them."""
        base = next(((s, t) for s, t in points if s == 255), None)
        if base is None or base[1] <= 0 or len(points) < 2:
            return "n/a"
        for slots, took in points:
            if slots > base[0] and took / base[1] > 1.5 * slots / base[0]:
                return "**superlinear**"
        return "met (linear or better)"

    def busy_rows(self) -> list[str]:
        lines = []
        for level in BUSY_LEVELS:
            for command in ("query-status", "query-cpus-fast"):
                cell = self.cell(f"busy_{command}_{level}_p50", "vmd")
                if cell is not None:
                    title = f"{command} p50, vmd, 255 present, {level} online and busy (--busy)"
                    lines.append(f"| {title} | {NO_GUEST} | {cell} | — | — | n/a |")
        return lines

    def table(self) -> list[str]:
        return [*self.header_row(), *self.base_rows(), *self.growth_rows(), *self.busy_rows()]

    def sample_counts(self) -> str:
        def n(metric: str, peer: str) -> int:
            return sum(len(d.got(metric, peer)) for d in self.runs)

        return (
            f"samples: device_add {n('add', 'qemu')} QEMU / {n('add', 'vmd')} vmd; "
            f"plug/unplug cycles {n('online', 'vmd')}; query-hotpluggable-cpus "
            f"{n('qhc', 'qemu')} / {n('qhc', 'vmd')}; query-cpus-fast {n('qcf', 'qemu')} / "
            f"{n('qcf', 'vmd')}; QEMU device_del {n('del_reply', 'qemu')}"
        )


NOTES = """\
* device_add rows: `-M q35 -smp 1,maxcpus=255 -accel tcg`, running; 254 plugs per process, each
  into a slot never used before, `id` and socket/core/thread given; a fresh process per 254
  plugs for both peers.  The hot-added CPUs stay present without running guest code on both
  sides: QEMU has no guest OS to bring them up, vmd's guest model runs with auto-online=off
  (`__com.vmd_set-guest-policy`).  While one peer is measured the other is paused (`stop`).
* vmd-only rows (a fresh vmd, default guest policy): each fresh slot is plugged, waited for
  until `__com.vmd_query-guest-cpus` lists it online, then unplugged; times are from sending the
  command to the arrival of the reply or event.  Every other cycle waits as a management client
  does (the session enabled `__com.vmd_GUEST_CPU_STATE`; on the event the listing is asked once,
  and must show the CPU), the others poll the listing back to back.
* QEMU 7.2 refuses device_del of a CPU until its ACPI block is in modern mode; the script sets
  `cpu-hotplug-legacy` false on the ICH9-LPC object (found with `qom-list /machine/unattached`).
  It then answers {} but, with no guest OS to eject the CPU (and under TCG not even then, spec
  §3.1), never completes the unplug: QEMU has no unplug-completion figure.
* query-hotpluggable-cpus "repeated": the same query back to back, the slots unchanged (vmd
  serves its cached encoding); "right after a device_add": one query after each plug, as a
  management tool does (vmd re-encodes).  Growth rows: one vmd per size, each sample plugs a CPU,
  lists the slots and unplugs it again; peers and sizes in alternation, the others paused.
* QEMU 7.2 TCG crashes when a CPU is plugged after one was ejected (spec §7), so no re-plug row."""


def refusal_notes(runs: list[RunData]) -> list[str]:
    refused: dict[str, dict[str, str]] = {}
    machines: dict[str, str] = {}
    for d in runs:
        for metric, by_who in d.refused.items():
            refused.setdefault(metric, {}).update(by_who)
        machines.update(d.machines)
    out = []
    for metric in sorted(refused, key=lambda m: int(m.removeprefix("qhc_"))):
        slots = metric.removeprefix("qhc_")
        parts = [
            f"{'QEMU 7.2' if who == 'qemu' else who}: {msg.rstrip('.')}"
            for who, msg in refused[metric].items()
        ]
        if metric in machines:
            parts.append(f"vmd started with `-M {machines[metric]}`")
        else:
            parts.append("vmd could not be started with this many vCPUs")
        out.append(f"* `-smp 1,maxcpus={slots}`: " + "; ".join(parts) + ".")
    if out:
        beyond = any(m in machines and int(m.removeprefix("qhc_")) > MAIN_SLOTS for m in refused)
        out.append(
            "  vmd's pc-q35-7.2 keeps QEMU 7.2's limits (cpu-max 288; under TCG the highest APIC ID + 1 "
            "at most 255: vmd/boards/x86/apic.py), so plain `-M q35` stops at "
            "255 slots. "
            + (
                "Larger sizes were started with vmd's own `-machine q35,x-vmd-max-cpus=N` "
                "(boards.with_vmd_max_cpus), named in their rows."
                if beyond
                else "Those rows could not be measured; growth is measured up to the largest size started."
            )
        )
    return out


# --------------------------------------------------------------------------
# Command line and orchestration


def size_list(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected N,N,...: {text!r}") from exc
    if not sizes or sizes[0] < 2:
        raise argparse.ArgumentTypeError("sizes must be ≥ 2")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="CPU hotplug benchmark: QEMU vs vmd, as a markdown table.")
    p.add_argument("--vmd", metavar="CMD", help="vmd command prefix, run from the repository root")
    p.add_argument("--qemu", metavar="PATH", default="qemu-system-x86_64", help="QEMU binary (%(default)s)")
    p.add_argument("--only", choices=PEERS, help="measure one peer only")
    p.add_argument(
        "--runs", type=positive_int, default=1, help="repeat the whole table N times (%(default)s)"
    )
    p.add_argument("--quick", action="store_true", help="one round, fewer samples (about 30 s)")
    p.add_argument("--rounds", type=positive_int, help="fresh processes per run (default 4, --quick 1)")
    p.add_argument("--queries", type=positive_int, help="query samples per round and peer (100, --quick 40)")
    p.add_argument(
        "--growth-samples",
        type=positive_int,
        help="plug/list/unplug samples per growth size (60, --quick 20)",
    )
    p.add_argument(
        "--block", type=positive_int, default=25, help="samples per peer before switching (%(default)s)"
    )
    p.add_argument(
        "--cycles", type=positive_int, default=254, help="vmd plug/unplug cycles per round (%(default)s)"
    )
    p.add_argument(
        "--sizes",
        type=size_list,
        default=[16, 64, 128, 255, 1024, 4096],
        help="possible vCPUs for the query-hotpluggable-cpus growth rows (%(default)s)",
    )
    p.add_argument(
        "--qemu-unplugs", type=positive_int, default=16, help="QEMU device_dels per round (%(default)s)"
    )
    p.add_argument(
        "--grace",
        type=float,
        default=2.0,
        help="seconds to wait for QEMU to complete an unplug (%(default)s)",
    )
    p.add_argument("--busy", action="store_true", help="vmd with 1-255 vCPUs online and busy (+1.5 min)")
    p.add_argument(
        "--busy-samples", type=positive_int, default=10, help="queries per --busy level (%(default)s)"
    )
    p.add_argument(
        "--timeout", type=float, default=10.0, help="seconds any single wait may take (%(default)s)"
    )
    p.add_argument(
        "--json", metavar="PATH", help="also write results as JSON ('-' = stdout; tables to stderr)"
    )
    p.add_argument(
        "--plots",
        metavar="DIR",
        help="also draw the device_add CDF and the listing cost against possible vCPUs as SVG files in DIR",
    )
    opts = p.parse_args(argv)
    opts.rounds = opts.rounds or (1 if opts.quick else 4)
    opts.queries = opts.queries or (40 if opts.quick else 100)
    opts.growth_samples = opts.growth_samples or (20 if opts.quick else 60)
    opts.peers = [peer for peer in PEERS if opts.only in (None, peer)]
    return opts


def header(opts: argparse.Namespace, labels: dict[str, str]) -> list[str]:
    return [
        f"## CPU hotplug benchmark: {labels['qemu']} vs {labels['vmd']}",
        "",
        f"host: {platform.node()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start, "
        f"Python {platform.python_version()}; "
        f"{opts.rounds} round(s) of fresh processes per run, {opts.queries} queries per round "
        f"and peer, blocks of {opts.block}, {opts.cycles} vmd plug/unplug cycles per round",
    ]


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    # SIGTERM → SystemExit so that finally blocks and atexit reap the peers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    become_subreaper()
    labels = {"qemu": f"QEMU {qemu_version(opts.qemu)}", "vmd": "vmd"}
    out: TextIO = sys.stderr if opts.json == "-" else sys.stdout
    print("\n".join(header(opts, labels)), file=out, flush=True)

    runs: list[RunData] = []
    for i in range(opts.runs):
        t0 = time.monotonic()
        runs.append(run_once(opts))
        report = Report(runs[-1:], opts, labels)
        title = f"\n### run {i + 1}/{opts.runs}\n" if opts.runs > 1 else ""
        print(
            f"{title}\n" + "\n".join(report.table()) + f"\n\n{report.sample_counts()}; "
            f"run took {time.monotonic() - t0:.0f} s",
            file=out,
            flush=True,
        )
    summary = Report(runs, opts, labels)
    if opts.runs > 1:
        print(
            f"\n### summary: median (min {DASH} max) over {opts.runs} runs\n\n" + "\n".join(summary.table()),
            file=out,
        )
    print("\n" + "\n".join([NOTES, *refusal_notes(runs)]), file=out, flush=True)
    if opts.json:
        settings = dict(vars(opts))
        write_json(
            opts.json,
            {
                "labels": labels,
                "settings": settings,
                "runs": [
                    {
                        "figures_us": figures(d, opts),
                        "counts": d.counts,
                        "refused": d.refused,
                        "growth_machines": d.machines,
                        "samples": {m: {p: len(v) for p, v in by.items()} for m, by in d.samples.items()},
                        "errors": d.errors,
                    }
                    for d in runs
                ],
                "summary_median_us": {
                    m: {p: summary.median(m, p) for p in PEERS} for m in figures(runs[0], opts)
                },
                "summary_rows": summary.verdicts(),
            },
        )
    if opts.plots:
        for path in draw(Path(opts.plots), runs, summary, labels):
            print(f"wrote {path}", file=sys.stderr)
    return 1 if any(d.errors for d in runs) else 0


def draw(directory: Path, runs: list[RunData], summary: Report, labels: dict[str, str]) -> list[Path]:
    """Two curves a table flattens: device_add's tail, and how a listing grows with the slots."""
    written = []
    series = []
    for peer in PEERS:
        pooled = [ns / 1000 for d in runs for ns in d.got("add", peer)]
        if pooled:
            series.append(svgplot.Series(labels[peer], svgplot.cdf_points(pooled)))
    if series:
        chart = svgplot.line_chart(
            "device_add of one vCPU into a free slot: reply time",
            svgplot.Axis("reply (µs, log scale)", log=True),
            svgplot.Axis("fraction of device_adds ≤ x"),
            series,
            note=f"scripts/bench_hotplug.py, -M q35 -smp 1,maxcpus={MAIN_SLOTS}, {len(runs)} run(s)",
            legend="lower right",
        )
        written.append(svgplot.write_chart(directory / "hotplug-device-add-cdf.svg", chart))
    growth_series = []
    for changed, how in ((False, "repeated"), (True, "right after a device_add")):
        points = [
            (float(slots), value)
            for slots in summary.opts.sizes
            if (value := summary.median(f"{growth_metric(slots, changed)}_p50", "vmd")) is not None
        ]
        if points:
            growth_series.append(svgplot.Series(f"vmd, {how}", points))
    qemu = summary.median("qhc_p50", "qemu")
    if qemu is not None:
        growth_series.append(
            svgplot.Series(f"{labels['qemu']}, repeated (refuses > 288)", [(MAIN_SLOTS, qemu)])
        )
    if growth_series:
        chart = svgplot.line_chart(
            "query-hotpluggable-cpus p50 against possible vCPUs",
            svgplot.Axis("possible vCPUs (log scale)", log=True),
            svgplot.Axis("p50 (µs, log scale)", log=True),
            growth_series,
            note="scripts/bench_hotplug.py",
        )
        written.append(svgplot.write_chart(directory / "hotplug-listing-vs-slots.svg", chart))
    return written


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
