"""Drivers that put a QMP peer (vmd or QEMU 7.2) under bad input, load and faults, and measure it.

Each driver takes a running peer (tests.peers.Peer), runs for the size it is given and returns a
result whose `problems` lists everything that went wrong (empty: the peer held).  The short suite
(tests/reliability/) runs them small and asserts no problems; `scripts/stress.py` runs them long
and prints the figures.  Nothing here is timed against a threshold: latencies are measured and
reported, and only counts (lost, duplicated, reordered, crashes, hangs) are asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.peers import BASE_ARGS, REPO, Peer, RawQmp, start_peer, vmd_command
from tests.reliability.fuzz import LONG_STRINGS, LONG_STRINGS_QEMU, NEVER, RESYNC, SchemaFuzzer, reply_problem
from tests.replies import as_dict

# A reply later than this is a hang: generous, the machine is shared and slow.
HANG_TIMEOUT = 20.0


# ---------------------------------------------------------------- what a process holds


@dataclass(frozen=True)
class Resources:
    threads: int
    fds: int
    rss_kib: int

    def __str__(self) -> str:
        return f"{self.threads} threads, {self.fds} fds, {self.rss_kib / 1024:.1f} MiB"


def resources(pid: int) -> Resources:
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return Resources(
        threads=len(os.listdir(f"/proc/{pid}/task")),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        rss_kib=rss,
    )


def thread_comms(pid: int) -> dict[int, str]:
    """Every live thread of `pid`: its id and its name (comm)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            out[int(task.name)] = (task / "comm").read_text().strip()
    return out


def vcpu_thread_name(kind: str, index: int) -> str:
    # QEMU names its threads with -name ...,debug-threads=on (what the plug drivers start it with).
    return f"vcpu{index}" if kind == "vmd" else f"CPU {index}/TCG"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# ---------------------------------------------------------------- the fuzzer


@dataclass
class FuzzResult:
    inputs: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    replies: int = 0
    errors: int = 0
    crashes: int = 0
    hangs: int = 0
    lost: int = 0
    disconnects: int = 0
    malformed: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def schema_allowed(kind: str) -> Any:
    """Which commands the fuzzer sends a peer: never NEVER's; to QEMU only those vmd has too (the
    same test for both, and none of QEMU's commands that create files or devices)."""
    if kind == "vmd":
        return lambda name: name not in NEVER
    vmd_commands = set(json.loads((REPO / "schemas" / "commands.json").read_text()))
    return lambda name: name not in NEVER and name in vmd_commands


async def fuzz(
    peer: Peer,
    count: int,
    seed: int = 0,
    merge: int = 4,
    progress: Callable[[FuzzResult], None] | None = None,
    seconds: float | None = None,
) -> FuzzResult:
    """`count` inputs from `SchemaFuzzer`, sent in groups of up to `merge` (one write, or split),
    each group followed by a resync and a sentinel request whose reply must come back in time.
    Every message in between must be a well-formed reply or event, and each well-formed request's
    id must come back once and in order.  With `seconds`, it stops there if `count` is not reached."""
    rng = random.Random(seed)
    result = FuzzResult()
    started = time.monotonic()
    raw = await RawQmp.connect(peer.socket, negotiate=True)
    await raw.send(b'{"execute": "query-qmp-schema", "id": "schema"}')
    schema = (await raw.until_id("schema"))[-1]["return"]
    sizes = LONG_STRINGS if peer.kind == "vmd" else LONG_STRINGS_QEMU
    fuzzer = SchemaFuzzer(schema, rng, schema_allowed(peer.kind), sizes)
    sentinel = 0
    try:
        deadline = None if seconds is None else time.monotonic() + seconds
        while result.inputs < count and (deadline is None or time.monotonic() < deadline):
            group = [fuzzer.input() for _ in range(min(rng.randrange(1, merge + 1), count - result.inputs))]
            sentinel += 1
            tag = f"s-{sentinel}"
            writes: list[bytes] = []
            for item in group:
                result.by_kind[item.kind] = result.by_kind.get(item.kind, 0) + 1
                writes += item.chunks
                writes.append(RESYNC if item.expect_id is None else b"\n")
            writes.append(b'{"execute": "query-status", "id": "%s"}' % tag.encode())
            expected = [item.expect_id for item in group if item.expect_id is not None] + [tag]
            if progress is not None and result.inputs // 1000 != (result.inputs + len(group)) // 1000:
                progress(result)
            result.inputs += len(group)
            try:
                if rng.random() < 0.5:
                    await raw.send(b"".join(writes))  # merged: one write
                else:
                    for chunk in writes:
                        raw.writer.write(chunk)
                        await asyncio.wait_for(raw.writer.drain(), HANG_TIMEOUT)
                        if rng.random() < 0.3:
                            await asyncio.sleep(0.0005)  # let the peer read this piece alone
                await _collect(raw, expected, result, peer.kind)
            except (TimeoutError, EOFError, ConnectionError) as error:
                if not peer.alive():
                    result.crashes += 1
                    result.problems.append(f"the peer died after {[i.kind for i in group]}: {error!r}")
                    break
                if isinstance(error, TimeoutError):
                    result.hangs += 1
                    result.problems.append(f"no reply to {tag} within {HANG_TIMEOUT} s after {group!r:.600}")
                else:
                    result.disconnects += 1
                    result.problems.append(f"disconnected after {group!r:.600}: {error!r}")
                await raw.close()
                raw = await _reconnect(peer)
    finally:
        await raw.close()
    if not peer.alive() and not result.crashes:
        result.crashes += 1
        result.problems.append("the peer is gone at the end")
    result.seconds = time.monotonic() - started
    return result


async def _reconnect(peer: Peer) -> RawQmp:
    """A new connection after a hang or a disconnection; QEMU takes the next client only once it
    is done with the last one's input, so allow it time."""
    for _ in range(6):
        with contextlib.suppress(TimeoutError):
            return await RawQmp.connect(peer.socket, negotiate=True)
    raise TimeoutError("the peer takes no new connection")


async def _collect(raw: RawQmp, expected: list[str], result: FuzzResult, kind: str) -> None:
    """Read until the last id of `expected` (the sentinel), checking each message."""
    pending = list(expected)
    while pending:
        line = await raw.recv_line(HANG_TIMEOUT)
        try:
            message = json.loads(line)
        except ValueError:
            result.malformed += 1
            result.problems.append(f"not JSON: {line[:200]!r}")
            continue
        problem = reply_problem(message, kind)
        if problem is not None:
            result.malformed += 1
            result.problems.append(problem)
        if not isinstance(message, dict) or "event" in message:
            continue
        result.replies += 1
        result.errors += "error" in message
        request_id = message.get("id")
        if isinstance(request_id, str) and request_id[:2] in ("r-", "s-"):
            if request_id not in pending:
                result.problems.append(f"reply for {request_id} unexpected (duplicate or foreign)")
                continue
            position = pending.index(request_id)
            if position:
                result.lost += position
                result.problems.append(f"replies for {pending[:position]} lost before {request_id}")
            del pending[: position + 1]


# ---------------------------------------------------------------- many clients


@dataclass
class ClientsResult:
    clients: int = 0
    commands: int = 0
    replies: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    foreign: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


CLIENT_COMMANDS = (
    b'{"execute": "query-status", "id": [%d, %d]}',
    b'{"execute": "query-name", "id": [%d, %d]}',
    b'{"execute": "query-cpus-fast", "id": [%d, %d]}',
    b'{"execute": "query-version", "id": [%d, %d]}',
    b'{"execute": "qom-list", "arguments": {"path": "/machine"}, "id": [%d, %d]}',
    b'{"execute": "no-such-command", "id": [%d, %d]}',
    b'{"execute": "query-status", "arguments": {"x": 1}, "id": [%d, %d]}',
)


async def many_clients(paths: list[str], clients: int, commands: int, window: int = 16) -> ClientsResult:
    """`clients` connections at once (client i on paths[i % len(paths)]), each sending `commands`
    requests with ids [client, n] in pipelined windows of up to `window`: every reply must come back
    exactly once, in order, to the client that asked."""
    result = ClientsResult(clients=clients)
    started = time.monotonic()

    async def client(number: int) -> None:
        raw = await RawQmp.connect(paths[number % len(paths)], negotiate=True)
        rng = random.Random(number)
        expected = 0
        sent = 0
        try:
            while expected < commands:
                burst = min(rng.randrange(1, window + 1), commands - sent)
                if burst:
                    raw.writer.write(
                        b"".join(rng.choice(CLIENT_COMMANDS) % (number, sent + k) for k in range(burst))
                    )
                    sent += burst
                    await asyncio.wait_for(raw.writer.drain(), HANG_TIMEOUT)
                while expected < sent:
                    message = await raw.recv(HANG_TIMEOUT)
                    if "event" in message:
                        continue
                    result.replies += 1
                    got = message.get("id")
                    if not (isinstance(got, list) and len(got) == 2) or got[0] != number:
                        result.foreign += 1
                        result.problems.append(f"client {number} got {message!r:.200}")
                        continue
                    if got[1] == expected:
                        expected += 1
                    elif got[1] > expected:
                        result.lost += got[1] - expected
                        result.reordered += 1
                        result.problems.append(
                            f"client {number}: reply {got[1]} while waiting for {expected}"
                        )
                        expected = got[1] + 1
                    else:
                        result.duplicated += 1
                        result.problems.append(f"client {number}: reply {got[1]} again")
                result.commands += burst
        except (TimeoutError, EOFError, ConnectionError) as error:
            result.lost += sent - expected
            result.problems.append(f"client {number}: {error!r} with {sent - expected} replies missing")
        finally:
            await raw.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    result.seconds = time.monotonic() - started
    return result


# ---------------------------------------------------------------- misbehaving clients


MISBEHAVIOURS = ("disconnect", "never-read", "oversized", "slow-bytes", "flood")


async def misbehave(path: str, mode: str, seconds: float) -> int:
    """What a misbehaving client does for `seconds`; returns how many rounds it made.  Run in a
    process of its own (`python -m tests.reliability.drivers misbehave ...`), so the innocent
    client's process measures the peer, not this one's work.  A round still waiting for the peer
    when the time is up is abandoned (its connection dropped): misbehaving clients do that too."""
    deadline = time.monotonic() + seconds
    rounds = 0
    held: list[asyncio.StreamWriter] = []
    try:
        while time.monotonic() < deadline:
            rounds += 1
            try:
                await asyncio.wait_for(
                    _misbehave_once(path, mode, deadline, held), deadline - time.monotonic()
                )
            except TimeoutError:
                break
    finally:
        for writer in held:
            writer.transport.abort()
    return rounds


async def _misbehave_once(path: str, mode: str, deadline: float, held: list[asyncio.StreamWriter]) -> None:
    if mode == "disconnect":
        # Commands in flight, the connection gone before (or while) the replies come.
        _, writer = await asyncio.open_unix_connection(path)
        held.append(writer)
        writer.write(b'{"execute": "qmp_capabilities"}' + b'{"execute": "query-qmp-schema"}' * 20)
        if len(held) % 2:
            await asyncio.sleep(0.001)
        held.remove(writer)
        writer.transport.abort()
    elif mode == "never-read":
        # Thousands of big replies asked for, none read; a new such client every round.
        _, writer = await asyncio.open_unix_connection(path)
        writer.write(b'{"execute": "qmp_capabilities"}' + b'{"execute": "query-qmp-schema"}' * 5000)
        held.append(writer)
        if len(held) > 4:
            held.pop(0).transport.abort()
        await asyncio.sleep(0.5)
    elif mode == "oversized":
        # Lines of 1.5 MiB (past vmd's 1 MiB max-message), their errors read back.
        reader, writer = await asyncio.open_unix_connection(path, limit=1 << 24)
        held.append(writer)
        await reader.readline()
        writer.write(b'{"execute": "qmp_capabilities"}\n')
        await reader.readline()
        for _ in range(3):
            writer.write(b'{"execute": "query-status", "arguments": {"s": "' + b"x" * (3 << 19) + b'"}}\n')
            await writer.drain()
            await reader.readline()
        held.remove(writer)
        writer.transport.abort()
    elif mode == "slow-bytes":
        # One byte at a time of a request that never ends, then gone.
        _, writer = await asyncio.open_unix_connection(path)
        held.append(writer)
        writer.write(b'{"execute": "qmp_capabilities"}')
        for byte in b'{"execute": "query-status", "arguments": {"a": [[[[[[[[' * 20:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.002)
        held.remove(writer)
        writer.transport.abort()
    elif mode == "flood":
        # A client that reads everything but asks as fast as it can.
        reader, writer = await asyncio.open_unix_connection(path, limit=1 << 24)
        held.append(writer)
        await reader.readline()
        writer.write(b'{"execute": "qmp_capabilities"}\n')
        await reader.readline()
        while time.monotonic() < deadline:
            writer.write(b'{"execute": "query-cpus-fast"}' * 64)
            for _ in range(64):
                await reader.readline()
        held.remove(writer)
        writer.transport.abort()
    else:
        raise ValueError(mode)


@dataclass
class LatencyResult:
    mode: str
    samples: list[float] = field(default_factory=list)
    failures: int = 0
    rounds: int = 0
    before: Resources | None = None
    after: Resources | None = None
    problems: list[str] = field(default_factory=list)
    # The figures of a result read back from a file (scripts/stress.py --from-json), samples gone.
    stored: dict[str, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return int(self.stored["count"]) if self.stored else len(self.samples)

    @property
    def p50_ms(self) -> float:
        return self.stored["p50_ms"] if self.stored else percentile(self.samples, 0.5) * 1000

    @property
    def p99_ms(self) -> float:
        return self.stored["p99_ms"] if self.stored else percentile(self.samples, 0.99) * 1000

    @property
    def max_ms(self) -> float:
        return self.stored["max_ms"] if self.stored else max(self.samples, default=float("nan")) * 1000


async def innocent_latency(
    peer: Peer, mode: str | None, seconds: float, interval: float = 0.002
) -> LatencyResult:
    """An innocent client's query-status round trips (one every `interval`) while a misbehaving
    client (`mode`, None for nobody) works on the peer from another process.  vmd serves both on one
    socket; QEMU serves one client per monitor, so there the innocent one has a monitor of its own
    (the peer's last socket)."""
    result = LatencyResult(mode or "none")
    innocent_path = peer.sockets[-1]
    raw = await RawQmp.connect(innocent_path, negotiate=True)
    result.before = resources(peer.pid)
    helper = None
    if mode is not None:
        helper = subprocess.Popen(  # noqa: ASYNC220 (started, not waited for, here)
            [sys.executable, "-m", "tests.reliability.drivers", "misbehave", peer.socket, mode, str(seconds)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
    try:
        await asyncio.sleep(min(0.5, seconds / 4))  # the misbehaviour under way
        deadline = time.monotonic() + seconds * 0.75
        serial = 0
        while time.monotonic() < deadline:
            serial += 1
            sent = time.perf_counter()
            await raw.send(b'{"execute": "query-status", "id": %d}' % serial)
            try:
                reply = await raw.recv(HANG_TIMEOUT)
                while "event" in reply:
                    reply = await raw.recv(HANG_TIMEOUT)
            except (TimeoutError, EOFError) as error:
                result.failures += 1
                result.problems.append(f"innocent client: {error!r}")
                break
            result.samples.append(time.perf_counter() - sent)
            if reply.get("id") != serial or "return" not in reply:
                result.failures += 1
                result.problems.append(f"innocent client got {reply!r:.200}")
            await asyncio.sleep(interval)
        if peer.alive():
            result.after = resources(peer.pid)  # the innocent client still connected, as before
    finally:
        await raw.close()
        if helper is not None:
            try:
                out, _ = helper.communicate(timeout=seconds + HANG_TIMEOUT)
                result.rounds = int(out.strip() or 0)
                if helper.returncode:
                    result.problems.append(f"the misbehaving client failed ({helper.returncode})")
            except subprocess.TimeoutExpired:
                helper.kill()
                helper.communicate()
                result.problems.append("the misbehaving client did not finish")
    if not peer.alive():
        result.problems.append("the peer died")
    return result


# ---------------------------------------------------------------- plug and unplug


CPU = "qemu64-x86_64-cpu"

# Every guest policy of README's guest policy table that changes what a plug or an unplug does, as
# -vmd-guest arguments; `load=busy` keeps the online CPUs working meanwhile.
POLICIES = {
    "accept": "unplug=accept",
    "refuse": "unplug=refuse",
    "ignore": "unplug=ignore",
    "delay": "delay-ms=5",
    "auto-online-off": "auto-online=off",
    "busy": "load=busy",
    "maxcpus": "maxcpus=1",
}


def cpu_slot(core: int) -> dict[str, Any]:
    return {"driver": CPU, "socket-id": 0, "core-id": core, "thread-id": 0}


@dataclass
class SoakResult:
    policy: str
    cycles: int = 0
    checks: int = 0
    poller_answers: int = 0
    first: Resources | None = None
    last: Resources | None = None
    # RSS (KiB) after every tenth of the cycles: a leak grows steadily, a warm-up levels off.
    rss_kib: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Qmp:
    """A raw-socket QMP client that keeps events apart from replies (RawQmp underneath)."""

    def __init__(self, raw: RawQmp) -> None:
        self.raw = raw
        self.events: list[dict[str, Any]] = []
        self.serial = 0

    @classmethod
    async def connect(cls, path: str) -> Qmp:
        return cls(await RawQmp.connect(path, negotiate=True))

    async def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        reply = await self.call(command, arguments)
        if "error" in reply:
            raise RuntimeError(f"{command} {arguments}: {reply['error']}")
        return reply["return"]

    async def call(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        self.serial += 1
        request: dict[str, Any] = {"execute": command, "id": self.serial}
        if arguments is not None:
            request["arguments"] = arguments
        await self.raw.send(json.dumps(request))
        while True:
            message = as_dict(await self.raw.recv(HANG_TIMEOUT), "a QMP message")
            if "event" in message:
                self.events.append(message)
                continue
            if message.get("id") != self.serial:
                raise AssertionError(f"reply {message!r:.200} while waiting for {self.serial}")
            return message

    async def event(self, name: str, timeout: float = HANG_TIMEOUT, **data: Any) -> dict[str, Any]:
        """The first event `name` whose data has `data`, received since the last one taken."""
        async with asyncio.timeout(timeout):
            while True:
                for position, event in enumerate(self.events):
                    if event["event"] == name and all(
                        event.get("data", {}).get(k) == v for k, v in data.items()
                    ):
                        del self.events[: position + 1]
                        return event
                message = await self.raw.recv(timeout)
                if "event" in message:
                    self.events.append(message)
                else:
                    raise AssertionError(f"unexpected reply {message!r:.200}")

    async def close(self) -> None:
        await self.raw.close()


def _ranges(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


async def agree(peer: Peer, qmp: Qmp, guest: bool, *, settle: float = 5.0) -> tuple[set[int], list[str]]:
    """The CPUs present, once every view agrees: the slots with a CPU, query-cpus-fast (with each
    thread-id a live thread named after its vCPU), the guest's present list and the host threads
    named vCPU threads.  A thread leaves the kernel a moment after its CPU left the model, so the
    views are read again (bounded by `settle`) until they agree; the last disagreement is returned
    when they never do."""
    deadline = time.monotonic() + settle
    while True:
        slots = await qmp.execute("query-hotpluggable-cpus")
        cpus = await qmp.execute("query-cpus-fast")
        plugged = {len(slots) - 1 - i for i, s in enumerate(slots) if "qom-path" in s}
        listed = {c["cpu-index"] for c in cpus}
        threads = thread_comms(peer.pid)
        problems = []
        if plugged != listed:
            problems.append(f"slots {sorted(plugged)} but query-cpus-fast {sorted(listed)}")
        for cpu in cpus:
            name = threads.get(cpu["thread-id"])
            if name != vcpu_thread_name(peer.kind, cpu["cpu-index"]):
                problems.append(f"cpu {cpu['cpu-index']}: thread {cpu['thread-id']} is {name!r}")
        named = {
            index for index in range(len(slots)) if vcpu_thread_name(peer.kind, index) in threads.values()
        }
        if named != listed:
            problems.append(f"vCPU threads {sorted(named)} but query-cpus-fast {sorted(listed)}")
        if guest:
            present = _ranges((await qmp.execute("__com.vmd_query-guest-cpus"))["present"])
            if present != listed:
                problems.append(f"guest present {sorted(present)} but query-cpus-fast {sorted(listed)}")
        if not problems or time.monotonic() > deadline:
            return listed, problems
        await asyncio.sleep(0.01)


async def _poller(path: str, stop: asyncio.Event, result: SoakResult) -> None:
    """Concurrent queries: each pair, sent in one write, must answer without error and agree."""
    raw = await RawQmp.connect(path, negotiate=True)
    try:
        while not stop.is_set():
            await raw.send(
                b'{"execute": "query-cpus-fast", "id": 1}{"execute": "query-hotpluggable-cpus", "id": 2}'
            )
            first, _ = await raw.recv_reply(HANG_TIMEOUT)
            second, _ = await raw.recv_reply(HANG_TIMEOUT)
            if "return" not in first or "return" not in second:
                result.problems.append(f"poller: {first!r:.200} {second!r:.200}")
                continue
            slots = second["return"]
            plugged = {len(slots) - 1 - i for i, s in enumerate(slots) if "qom-path" in s}
            if {c["cpu-index"] for c in first["return"]} != plugged:
                result.problems.append(f"poller: torn view {first!r:.300} / {plugged}")
            result.poller_answers += 1
            await asyncio.sleep(0.001)
    finally:
        await raw.close()


async def _until_online(qmp: Qmp, index: int, online: bool) -> None:
    async with asyncio.timeout(HANG_TIMEOUT):
        while (index in _ranges((await qmp.execute("__com.vmd_query-guest-cpus"))["online"])) != online:  # noqa: ASYNC110
            await asyncio.sleep(0.002)


async def plug_soak(
    peer: Peer, policy: str, cycles: int, pollers: int = 2, sample_every: int = 0
) -> SoakResult:
    """`cycles` plugs and unplugs of a vCPU (rotating over slots 1-3 of `-smp 1,maxcpus=4`) on a
    running vmd started with `-vmd-guest POLICIES[policy]`, while `pollers` clients query.  After
    every step the views must agree (`agree`); resources are read after the first cycle and at the
    end, when every view is back to the boot CPU, so the two can be compared."""
    result = SoakResult(policy)
    started = time.monotonic()
    qmp = await Qmp.connect(peer.socket)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_poller(peer.socket, stop, result)) for _ in range(pollers)]
    try:
        await _until_online(qmp, 0, True)
        for cycle in range(cycles):
            core = 1 + cycle % 3
            device = f"c{core}"
            path = f"/machine/peripheral/{device}"
            await qmp.execute("device_add", {**cpu_slot(core), "id": device})
            if policy not in ("auto-online-off", "maxcpus"):
                await _until_online(qmp, core, True)
            await _check(peer, qmp, {0, core}, result, f"cycle {cycle}: after the plug")
            await qmp.execute("device_del", {"id": device})
            if policy == "refuse":
                await qmp.event("DEVICE_UNPLUG_GUEST_ERROR", device=device)
                await _check(peer, qmp, {0, core}, result, f"cycle {cycle}: after the refusal")
            elif policy == "ignore":
                await asyncio.sleep(0.002)
                await _check(peer, qmp, {0, core}, result, f"cycle {cycle}: while ignored")
            if policy in ("refuse", "ignore"):
                # The guest changes its mind: a policy change with a request pending, then again.
                await qmp.execute("__com.vmd_set-guest-policy", {"unplug": "accept"})
                await qmp.execute("device_del", {"id": device})
                await qmp.event("DEVICE_DELETED", device=device)
                await qmp.execute("__com.vmd_set-guest-policy", {"unplug": policy})
            else:
                await qmp.event("DEVICE_DELETED", device=device, path=path)
            await _check(peer, qmp, {0}, result, f"cycle {cycle}: after the unplug")
            result.cycles += 1
            if cycle == 0:
                result.first = await _quiet_resources(peer)
            if (cycle + 1) % max(1, cycles // 10) == 0:
                result.rss_kib.append(resources(peer.pid).rss_kib)
            for task in tasks:
                if task.done():
                    task.result()
            if len(result.problems) > 20:
                break
        result.last = await _quiet_resources(peer)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks), HANG_TIMEOUT)
        await qmp.close()
    result.seconds = time.monotonic() - started
    return result


async def _check(peer: Peer, qmp: Qmp, want: set[int], result: SoakResult, where: str) -> None:
    listed, problems = await agree(peer, qmp, guest=True)
    result.checks += 1
    if listed != want:
        problems.append(f"CPUs {sorted(listed)}, expected {sorted(want)}")
    result.problems += [f"{where}: {p}" for p in problems]


async def _quiet_resources(peer: Peer, spares: int = 2) -> Resources:
    """Resources once background work has settled: vmd keeps `spares` started vCPU threads ready
    while slots are free (two; none when every slot is full), refilled or retired in the
    background beside its pool's starter thread (also `spare-vcpu`); then the same reading twice
    in a row, 20 ms apart (bounded)."""
    async with asyncio.timeout(HANG_TIMEOUT):
        while peer.kind == "vmd" and list(thread_comms(peer.pid).values()).count("spare-vcpu") != 1 + spares:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    last = resources(peer.pid)
    for _ in range(100):
        await asyncio.sleep(0.02)
        now = resources(peer.pid)
        if (now.threads, now.fds) == (last.threads, last.fds):
            return now
        last = now
    return last


@dataclass
class PlugFillResult:
    """Plugs into every free slot of a peer with no guest (vmd under -S, QEMU), then refused
    requests (a plug into an occupied slot, an unplug the unbooted guest cannot do) over and over."""

    plugged: int = 0
    refused: int = 0
    first: Resources | None = None
    last: Resources | None = None
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def plug_without_guest(peer: Peer, slots: int, refused_cycles: int) -> PlugFillResult:
    result = PlugFillResult()
    started = time.monotonic()
    qmp = await Qmp.connect(peer.socket)
    try:
        for core in range(1, slots):
            await qmp.execute("device_add", {**cpu_slot(core), "id": f"c{core}"})
            listed, problems = await agree(peer, qmp, guest=False)
            if listed != set(range(core + 1)):
                problems.append(f"CPUs {sorted(listed)} after plugging core {core}")
            result.problems += [f"plug {core}: {p}" for p in problems]
            result.plugged += 1
        result.first = await _full_resources(peer)
        for cycle in range(refused_cycles):
            core = 1 + cycle % (slots - 1)
            for command, arguments in (
                ("device_add", {**cpu_slot(core), "id": f"x{cycle}"}),
                ("device_del", {"id": f"c{core}"}),
            ):
                reply = await qmp.call(command, arguments)
                if "error" not in reply:
                    result.problems.append(f"cycle {cycle}: {command} answered {reply!r:.200}")
            result.refused += 1
            if cycle % 500 == 0:
                listed, problems = await agree(peer, qmp, guest=False)
                result.problems += [f"cycle {cycle}: {p}" for p in problems]
        listed, problems = await agree(peer, qmp, guest=False)
        result.problems += problems
        result.last = await _full_resources(peer)
    finally:
        await qmp.close()
    result.seconds = time.monotonic() - started
    return result


async def _full_resources(peer: Peer) -> Resources:
    """Resources once every slot is full (vmd has retired its spare vCPU threads)."""
    return await _quiet_resources(peer, spares=0)


# ---------------------------------------------------------------- signals


SIGNAL_ARGS = ("-M", "q35", "-smp", "1,maxcpus=4", "-vmd-guest", "delay-ms=3")
SOCKET_MODE = 0o660


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _start_for_signals(workdir: Path) -> Peer:
    return start_peer("vmd", SIGNAL_ARGS, workdir=workdir, qmp_options=f",mode={SOCKET_MODE:o}")


async def signal_round(workdir: Path, signum: int, delay: float) -> list[str]:
    """vmd with a pidfile and a socket of mode 0660 in `workdir`, beside a file of somebody else's;
    `signum` lands `delay` s after a device_add (the guest acts 3 ms after each notification):

    - SIGTERM: the daemon exits; socket and pidfile are gone.
    - SIGKILL: they stay (stale); a new daemon on the same paths starts, with the same modes.
    - SIGSTOP: a second daemon on the same paths is refused and removes nothing; after SIGCONT the
      first one finishes the plug and answers.

    Each round ends with no daemon left and the bystander file untouched."""
    problems: list[str] = []
    bystander = workdir / "notes.txt"
    bystander.write_text("not vmd's\n")
    peer = _start_for_signals(workdir)
    sock, pidfile = Path(peer.socket), workdir / "vmd.pid"
    try:
        if _mode(sock) != SOCKET_MODE:
            problems.append(f"socket mode {_mode(sock):o}")
        if _mode(pidfile) != 0o600:
            problems.append(f"pidfile mode {_mode(pidfile):o}")
        qmp = await Qmp.connect(peer.socket)
        await qmp.execute("device_add", {**cpu_slot(1), "id": "c1"})
        await asyncio.sleep(delay)
        os.kill(peer.pid, signum)
        if signum == signal.SIGSTOP:
            problems += await _while_stopped(peer, qmp, workdir)
        await qmp.close()
        if signum != signal.SIGSTOP and not peer.wait_exit(HANG_TIMEOUT):
            problems.append(f"still running {HANG_TIMEOUT} s after {signal.Signals(signum).name}")
        if signum == signal.SIGKILL:
            if not pidfile.exists():
                problems.append("the pidfile vanished after SIGKILL")
            peer = _start_for_signals(workdir)  # over the stale socket and pidfile
            if pidfile.read_text().strip() != str(peer.pid):
                problems.append(f"pidfile says {pidfile.read_text()!r}, the new daemon is {peer.pid}")
            if _mode(sock) != SOCKET_MODE or _mode(pidfile) != 0o600:
                problems.append(f"after a restart: socket {_mode(sock):o}, pidfile {_mode(pidfile):o}")
            qmp = await Qmp.connect(peer.socket)
            await qmp.execute("device_add", {**cpu_slot(1), "id": "c1"})
            await _until_online(qmp, 1, True)
            await qmp.close()
        if peer.alive():
            peer.stop()
            if not peer.wait_exit(HANG_TIMEOUT):
                problems.append("the daemon did not end on SIGTERM")
        for leftover in (sock, pidfile):
            if leftover.exists():
                problems.append(f"{leftover.name} left behind after SIGTERM")
    finally:
        if peer.alive():
            peer.stop()
    if bystander.read_text() != "not vmd's\n":
        problems.append("the bystander file changed")
    left = sorted(p.name for p in workdir.iterdir()) if workdir.exists() else []
    if set(left) - {"notes.txt", "vmd.log"}:
        problems.append(f"files left in the directory: {left}")
    return problems


async def _while_stopped(peer: Peer, qmp: Qmp, workdir: Path) -> list[str]:
    problems = []
    sock, pidfile = Path(peer.socket), workdir / "vmd.pid"
    before = (sock.stat().st_ino, pidfile.stat().st_ino, pidfile.read_text())
    second = subprocess.run(  # noqa: ASYNC221 (the peer is stopped: nothing to serve meanwhile)
        [*vmd_command(), "-D", str(workdir / "second.log"), *BASE_ARGS, *SIGNAL_ARGS, "-daemonize",
         "-pidfile", str(pidfile), "-qmp", f"unix:{sock},server=on,wait=off"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    (workdir / "second.log").unlink(missing_ok=True)
    if second.returncode != 1:
        problems.append(f"a second daemon on a stopped one's paths: exit {second.returncode} {second.stderr}")
    if (sock.stat().st_ino, pidfile.stat().st_ino, pidfile.read_text()) != before:
        problems.append("the second daemon replaced the stopped one's socket or pidfile")
    os.kill(peer.pid, signal.SIGCONT)
    await _until_online(qmp, 1, True)
    listed, disagreements = await agree(peer, qmp, guest=True)
    problems += disagreements
    if listed != {0, 1}:
        problems.append(f"after SIGCONT: CPUs {sorted(listed)}")
    return problems


def _entrypoint() -> None:
    """`python -m tests.reliability.drivers misbehave PATH MODE SECONDS`: prints its rounds."""
    _, command, path, mode, seconds = sys.argv
    assert command == "misbehave"
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    rounds = asyncio.run(misbehave(path, mode, float(seconds)))
    print(rounds)


def summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:.2f} ms" if values else "no samples"


if __name__ == "__main__":
    _entrypoint()


# ---------------------------------------------------------------- hotplug chaos


@dataclass
class ChaosResult:
    steps: int = 0
    rounds: int = 0
    replies: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _chaos_request(rng: random.Random) -> dict[str, Any]:
    """One well-formed request of those that change the CPUs, the run state or the guest."""
    core = rng.randrange(0, 4)
    choice = rng.randrange(12)
    if choice < 3:
        return {"execute": "device_add", "arguments": {**cpu_slot(core), "id": f"c{core}"}}
    if choice < 6:
        return {"execute": "device_del", "arguments": {"id": f"c{core}"}}
    if choice == 6:
        return {"execute": "system_reset"}
    if choice == 7:
        return {"execute": rng.choice(["stop", "cont"])}
    if choice == 8:
        policy: dict[str, Any] = {}
        for key, values in (
            ("unplug", ["accept", "refuse", "ignore"]),
            ("delay-ms", [0, 0, 1, 3]),
            ("auto-online", [True, False]),
            ("load-percent", [0, 0, 50]),
            ("cpu0-hotplug", [False, True]),
        ):
            if rng.random() < 0.5:
                policy[key] = rng.choice(values)
        return {"execute": "__com.vmd_set-guest-policy", "arguments": policy}
    if choice == 9:
        return {
            "execute": "__com.vmd_guest-set-cpu-online",
            "arguments": {"cpu-index": core, "online": rng.random() < 0.5},
        }
    if choice == 10:
        return {"execute": "cpu-add", "arguments": {"id": core}}
    return {
        "execute": rng.choice(["query-cpus-fast", "query-hotpluggable-cpus", "__com.vmd_query-guest-cpus"])
    }


async def hotplug_chaos(peer: Peer, rounds: int, steps: int = 30, seed: int = 0) -> ChaosResult:
    """Rounds of `steps` random hotplug, run-state and guest-policy requests on a running vmd, sent
    pipelined from two clients, one of which sometimes disconnects before its replies.  No reply
    may be an internal error; after each round the guest is made cooperative again, every
    hot-plugged CPU unplugged, and the views must agree on the boot CPU alone; then a plug and an
    unplug must still work."""
    rng = random.Random(seed)
    result = ChaosResult()
    started = time.monotonic()
    qmp = await Qmp.connect(peer.socket)
    try:
        for round_number in range(rounds):
            other = await RawQmp.connect(peer.socket, negotiate=True)
            sent: list[tuple[RawQmp, str]] = []
            ids: list[str] = []
            for step in range(steps):
                request = _chaos_request(rng)
                target = other if rng.random() < 0.5 else qmp.raw
                request["id"] = f"{round_number}-{step}"
                await target.send(json.dumps(request))
                sent.append((target, json.dumps(request)))
                ids.append(request["id"])
                if rng.random() < 0.3:
                    await asyncio.sleep(rng.choice([0.0005, 0.002, 0.01]))
                result.steps += 1
            # A guest-side change waits while the VM is paused (as a Linux guest's would): a third
            # client lets it run, so that every request can be answered.
            control = await Qmp.connect(peer.socket)
            await control.call("cont")
            await control.close()
            leave_early = rng.random() < 0.3
            for (target, command), request_id in zip(sent, ids, strict=True):
                if target is other and leave_early:
                    continue
                try:
                    reply, events = await target.recv_reply(HANG_TIMEOUT)
                except TimeoutError:
                    script = [(("A" if t is qmp.raw else "B") + ": " + c) for t, c in sent]
                    result.problems.append(f"round {round_number}: no reply to {command} after {script}")
                    result.seconds = time.monotonic() - started
                    return result
                if target is qmp.raw:
                    qmp.events += events
                if reply.get("id") != request_id:
                    result.problems.append(f"round {round_number}: reply {reply!r:.200} for {request_id}")
                result.replies += 1
                if "error" in reply:
                    desc = reply["error"]["desc"]
                    result.errors[desc[:60]] = result.errors.get(desc[:60], 0) + 1
                    if "internal error" in desc or "Traceback" in desc:
                        result.problems.append(f"round {round_number}: {command}: {desc:.300}")
            await other.close()
            result.problems += [f"round {round_number}: {p}" for p in await _make_whole(peer, qmp)]
            result.rounds += 1
            if len(result.problems) > 10 or not peer.alive():
                break
    finally:
        await qmp.close()
    result.seconds = time.monotonic() - started
    return result


async def _make_whole(peer: Peer, qmp: Qmp) -> list[str]:
    """Back to a cooperative running guest with only CPU 0; what did not work is a problem."""
    problems = []
    await qmp.execute(
        "__com.vmd_set-guest-policy",
        {"unplug": "accept", "delay-ms": 0, "auto-online": True, "load-percent": 0, "cpu0-hotplug": False},
    )
    status = await qmp.execute("query-status")
    if status["status"] != "running":
        await qmp.execute("cont")
    # Offline CPUs stay offline until someone onlines them (CPU 0 too, with cpu0-hotplug).
    view = await qmp.execute("__com.vmd_query-guest-cpus")
    for index in sorted(_ranges(view["present"]) - _ranges(view["online"])):
        reply = await qmp.call("__com.vmd_guest-set-cpu-online", {"cpu-index": index, "online": True})
        if "error" in reply and "not present" not in reply["error"]["desc"]:
            problems.append(f"onlining CPU {index}: {reply['error']['desc']}")
    await _until_online(qmp, 0, True)
    deadline = time.monotonic() + HANG_TIMEOUT
    while True:
        cpus = await qmp.execute("query-cpus-fast")
        hot = [c for c in cpus if c["cpu-index"] != 0]
        if not hot:
            break
        if time.monotonic() > deadline:
            problems.append(f"CPUs {[c['qom-path'] for c in hot]} never went away")
            return problems
        for cpu in hot:
            reply = await qmp.call("device_del", {"id": cpu["qom-path"]})
            # Not found: the guest ejected it since the query.
            if "error" in reply and "not found" not in reply["error"]["desc"]:
                problems.append(f"device_del {cpu['qom-path']}: {reply['error']['desc']}")
        await asyncio.sleep(0.05)
    listed, disagreements = await agree(peer, qmp, guest=True)
    problems += disagreements
    if listed != {0}:
        problems.append(f"CPUs {sorted(listed)} after every unplug")
    # Still usable: a plug comes online, its unplug completes.
    qmp.events.clear()
    await qmp.execute("device_add", {**cpu_slot(2), "id": "probe"})
    await _until_online(qmp, 2, True)
    await qmp.execute("device_del", {"id": "probe"})
    await qmp.event("DEVICE_DELETED", device="probe")
    listed, disagreements = await agree(peer, qmp, guest=True)
    problems += disagreements
    return problems
