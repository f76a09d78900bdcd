#!/usr/bin/env python3
"""Benchmark of the native vCPU engine (not a test).  Prints a markdown table.

    python scripts/bench_vcpu.py              # everything (valgrind for the callgrind rows)
    python scripts/bench_vcpu.py --quick      # fewer trials, shorter runs
    python scripts/bench_vcpu.py --no-callgrind

Figures:
* guest instructions per second of one vCPU (tight ALU loop; the firmware's memory/atomic loop);
* host instructions per guest instruction under ``valgrind --tool=callgrind``: the same loop run
  for two lengths, the difference divided by the difference of retired guest instructions, so
  start-up costs cancel out (target <= 8 on the tight loop);
* speed-up of 2 busy vCPUs over 1 (target >= 1.8x on 2 host cores);
* pause-all latency with 1, 64 and 256 running vCPUs (target <= 2 ms at 256), in C (request +
  futex wait) and through asyncio (request + eventfd wake-up of the loop);
* event-loop lag (late 1 ms timers on uvloop) while 2 and 64 vCPUs run the firmware (target p99 <= 5 ms);
* memory per parked and per running vCPU (RSS deltas).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vmd.firmware import standard as fw  # noqa: E402
from vmd.firmware.asm import assemble  # noqa: E402
from vmd.vcpu import GuestRam, VcpuEngine  # noqa: E402

CODE = 0x1000
RAM_BYTES = 16 << 20

# Loops of known length: (name, source with {n} = iterations, guest instructions per iteration).
LOOPS: dict[str, tuple[str, int]] = {
    "tight (addi + bnez)": (
        """
        li r1, {n}
    loop:
        addi r1, r1, -1
        bnez r1, loop
        hlt
        """,
        2,
    ),
    "ALU (4 ops + bnez)": (
        """
        li r1, {n}
    loop:
        add r2, r2, r1
        xor r3, r3, r2
        shli r4, r3, 3
        addi r1, r1, -1
        bnez r1, loop
        hlt
        """,
        5,
    ),
    "firmware work loop (ld/st/aadd)": (
        f"""
        li r2, {fw.LAYOUT.progress_addr(0)}
        li r3, {fw.ONLINE_MASK}
        li r6, {fw.SHARED_COUNTER}
        li r7, 1
        li r20, {{n}}
    loop:
        ld64 r11, [r2]
        addi r11, r11, 1
        st64 r11, [r2]
        aadd r12, [r6], r7
        ld64 r9, [r3]
        addi r20, r20, -1
        bnez r20, loop
        hlt
        """,
        7,
    ),
}
SPIN = "loop: addi r1, r1, 1\njmp loop"


def quiet_engine(ram: GuestRam, entry: int = CODE) -> VcpuEngine:
    return VcpuEngine(ram, entry=entry, on_io=lambda *a: None, on_fault=lambda i, f: print("FAULT", i, f))


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


# --------------------------------------------------------------------------- throughput


def rate(engine: VcpuEngine, cpus: list[int], seconds: float) -> float:
    """Guest instructions per second summed over `cpus` (counts read while paused)."""
    time.sleep(0.1)  # warm up
    engine.pause_all_blocking(10)
    c0, t0 = sum(engine.stats(i).instructions for i in cpus), time.perf_counter()
    engine.resume_all()
    time.sleep(seconds)
    engine.pause_all_blocking(10)
    c1, t1 = sum(engine.stats(i).instructions for i in cpus), time.perf_counter()
    engine.resume_all()
    return (c1 - c0) / (t1 - t0)


def throughput(seconds: float) -> dict[str, float]:
    out: dict[str, float] = {}
    ram = GuestRam(RAM_BYTES)
    ram.load(CODE, assemble(SPIN, base=CODE).image)
    engine = quiet_engine(ram)
    engine.start(0)
    out["1 vCPU, tight loop"] = rate(engine, [0], seconds)
    engine.start(1)
    out["2 vCPUs, tight loop (sum)"] = rate(engine, [0, 1], seconds)
    engine.close_blocking(10)

    ram = GuestRam(RAM_BYTES)
    image = fw.firmware()
    ram.load(image.entry, image.image)
    fw.set_work(ram, True)  # a busy guest
    fw.set_online(ram, 0, True)
    fw.set_online(ram, 1, True)
    engine = quiet_engine(ram, image.entry)
    engine.start(0)
    out["1 vCPU, firmware work loop"] = rate(engine, [0], seconds)
    engine.start(1)
    out["2 vCPUs, firmware work loop (sum, shared counter contended)"] = rate(engine, [0, 1], seconds)
    engine.close_blocking(10)
    return out


# --------------------------------------------------------------------------- callgrind

_CHILD = """
import sys
sys.path.insert(0, {root!r})
from vmd.firmware.asm import assemble
from vmd.vcpu import GuestRam, VcpuEngine
ram = GuestRam(1 << 20)
ram.load(0x1000, assemble({source!r}, base=0x1000).image)
engine = VcpuEngine(ram, entry=0x1000, on_io=lambda *a: None, on_fault=lambda i, f: None)
result = engine.run_until_halt(0)
print(result.instructions)
"""


def callgrind_run(source: str, n: int) -> tuple[int, int]:
    """(host instructions inside vmd_vcpu_run, guest instructions retired)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        code = _CHILD.format(root=str(ROOT), source=source.format(n=n))
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                "--toggle-collect=vmd_vcpu_run",
                sys.executable,
                "-c",
                code,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        guest = int(proc.stdout.split()[-1])
        m = re.search(r"^(?:summary|totals):\s+(\d+)", out.read_text(), re.MULTILINE)
        if not m:
            raise RuntimeError("no totals in the callgrind output")
        return int(m.group(1)), guest


def host_per_guest(n1: int, n2: int) -> dict[str, tuple[float, int]]:
    out: dict[str, tuple[float, int]] = {}
    for name, (source, _per_iter) in LOOPS.items():
        h1, g1 = callgrind_run(source, n1)
        h2, g2 = callgrind_run(source, n2)
        out[name] = ((h2 - h1) / (g2 - g1), g2 - g1)
    return out


# --------------------------------------------------------------------------- pause latency


def pause_latency(n: int, trials: int, halted: bool = False) -> tuple[list[float], list[float]]:
    """Latencies (ms) of pause-all with `n` vCPUs: blocking C wait, and asyncio via the eventfd."""
    ram = GuestRam(RAM_BYTES)
    image = fw.firmware()
    ram.load(image.entry, image.image)
    fw.set_work(ram, True)  # a busy guest
    for cpu in range(n):
        fw.set_online(ram, cpu, not halted)
    engine = quiet_engine(ram, image.entry)
    for cpu in range(n):
        engine.start(cpu)
    deadline = time.monotonic() + 60
    while any((fw.progress(ram, c) == 0) != halted or fw.cpu_state(ram, c) == 0 for c in range(n)):
        if time.monotonic() > deadline:
            raise RuntimeError("vCPUs did not start")
        time.sleep(0.01)

    blocking: list[float] = []
    for _ in range(trials):
        time.sleep(0.02)
        t0 = time.perf_counter()
        engine.pause_all_blocking(30)
        blocking.append((time.perf_counter() - t0) * 1e3)
        engine.resume_all()

    async def via_loop() -> list[float]:
        lat: list[float] = []
        for _ in range(trials):
            await asyncio.sleep(0.02)
            t0 = time.perf_counter()
            async with asyncio.timeout(30):
                await engine.pause_all()
            lat.append((time.perf_counter() - t0) * 1e3)
            engine.resume_all()
        return lat

    looped = asyncio.run(via_loop())
    engine.close_blocking(30)
    return blocking, looped


# --------------------------------------------------------------------------- event-loop lag


def loop_lag(n: int, seconds: float) -> list[float]:
    """Lateness (ms) of 1 ms timers on the daemon's kind of loop (uvloop) while `n` vCPUs run the
    firmware's work loop: what every QMP reply waits for on top of its own work.  libuv's timers
    have a 1 ms clock, so even an idle loop shows up to ~1 ms: compare with n = 0."""
    import uvloop

    ram = GuestRam(RAM_BYTES)
    image = fw.firmware()
    ram.load(image.entry, image.image)
    fw.set_work(ram, True)  # a busy guest
    for cpu in range(n):
        fw.set_online(ram, cpu, True)
    engine = quiet_engine(ram, image.entry)
    for cpu in range(n):
        engine.start(cpu)

    async def measure() -> list[float]:
        loop = asyncio.get_running_loop()
        late: list[float] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            due = time.perf_counter() + 0.001
            woken = loop.create_future()
            loop.call_later(0.001, woken.set_result, None)
            await woken
            late.append((time.perf_counter() - due) * 1e3)
        return late

    try:
        return uvloop.run(measure())
    finally:
        engine.close_blocking(30)


# --------------------------------------------------------------------------- memory


def memory(n: int) -> tuple[float, float]:
    """(bytes per parked vCPU, bytes per running vCPU), from RSS deltas."""
    gc.collect()
    ram = GuestRam(RAM_BYTES)
    ram.load(CODE, assemble("hlt\njmp 0x1000", base=CODE).image)
    engine = quiet_engine(ram)
    r0 = rss_bytes()
    for i in range(n):  # one at a time: a context each, and glibc reuses one cached stack
        engine.start(i)
        engine.stop_blocking(i, 10)
    gc.collect()
    r1 = rss_bytes()
    for i in range(n):
        engine.start(i)
    deadline = time.monotonic() + 30
    while any(engine.stats(i).halts == 0 for i in range(n)):
        if time.monotonic() > deadline:
            raise RuntimeError("vCPUs did not halt")
        time.sleep(0.01)
    r2 = rss_bytes()
    engine.close_blocking(10)
    return (r1 - r0) / n, (r2 - r1) / n


# --------------------------------------------------------------------------- report


def summarize(ms: list[float]) -> str:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"median {statistics.median(ms):.3f} ms, p90 {p90:.3f} ms, max {ms[-1]:.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer trials, shorter runs")
    parser.add_argument("--no-callgrind", action="store_true", help="skip the valgrind rows")
    args = parser.parse_args()
    seconds, trials = (0.5, 10) if args.quick else (2.0, 30)

    rows: list[tuple[str, str, str]] = []

    def row(name: str, value: str, target: str = "") -> None:
        rows.append((name, value, target))
        print(f"  {name}: {value}", file=sys.stderr)

    host = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"vmd vCPU engine benchmark ({host})", file=sys.stderr)

    tp = throughput(seconds)
    for name, value in tp.items():
        row(f"guest instructions/s, {name}", f"{value / 1e6:.0f} M/s")
    one, two = tp["1 vCPU, tight loop"], tp["2 vCPUs, tight loop (sum)"]
    row("speed-up of 2 busy vCPUs over 1 (tight loop)", f"{two / one:.2f}x", ">= 1.8x")

    if args.no_callgrind:
        pass
    elif shutil.which("valgrind") is None:
        row("host instructions per guest instruction", "valgrind not installed", "<= 8")
    else:
        n1, n2 = (200_000, 600_000) if args.quick else (1_000_000, 3_000_000)
        for name, (ratio, guest) in host_per_guest(n1, n2).items():
            target = "<= 8" if name.startswith("tight") else ""
            row(
                f"host instructions per guest instruction, {name}",
                f"{ratio:.2f} (over {guest:,} insns)",
                target,
            )

    for n in (1, 64, 256):
        blocking, looped = pause_latency(n, trials)
        target = "<= 2 ms" if n == 256 else ""
        row(f"pause-all latency, {n} running vCPUs, C wait", summarize(blocking), target)
        row(f"pause-all latency, {n} running vCPUs, asyncio", summarize(looped), target)
    blocking, _ = pause_latency(256, trials, halted=True)
    row("pause-all latency, 256 halted vCPUs, C wait", summarize(blocking))

    for n in (0, 2, 64):
        late = sorted(loop_lag(n, seconds))
        p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
        row(
            f"event-loop lag with {n} busy vCPUs (1 ms timers, uvloop)",
            f"p50 {statistics.median(late):.3f} ms, p99 {p99:.3f} ms, max {late[-1]:.3f} ms",
            "p99 <= 5 ms" if n else "(baseline)",
        )

    parked, running = memory(256)
    row(
        "memory per parked vCPU (RSS delta)",
        f"{parked / 1024:.1f} KiB (C context {VcpuEngine.context_bytes()} B)",
    )
    row("memory per running vCPU (RSS delta, on top of its context)", f"{running / 1024:.1f} KiB")

    print(f"\n### vmd vCPU engine ({host})\n")
    print("| figure | value | target |")
    print("|---|---|---|")
    for figure, text, goal in rows:
        print(f"| {figure} | {text} | {goal} |")


if __name__ == "__main__":
    main()
