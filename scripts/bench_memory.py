#!/usr/bin/env python3
"""Memory: the resident set (VmRSS) of an idle VM, and what each possible and each present vCPU
adds, QEMU 7.2 beside vmd.

  * idle VM: `-M q35 -smp 1 -m 128`, running (vmd's default guest rests in HLT; QEMU runs
    SeaBIOS, which halts: no OS image);
  * per possible vCPU: `-smp 1,maxcpus=N -S` against `-smp 1,maxcpus=1 -S`, divided by N - 1
    (vmd: N = 4096 through `-M q35,x-vmd-max-cpus=4096`; QEMU 7.2 refuses more than 288: 255);
  * per present vCPU: `-smp N,maxcpus=N -S` against `-smp 1,maxcpus=N -S`, divided by N - 1
    (every present vCPU is a host thread in both).

Each figure is the median of --runs fresh processes, measured --settle seconds after the QMP
socket answered.  Usage:

  python3 scripts/bench_memory.py [--runs 3] [--vmd-cpus 4096]

A benchmark, not a test: it exits non-zero only if a peer fails to start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.peers import start_peer

QEMU_MAX = 255  # q35's 288 cap in 7.2, kept at the largest APIC-friendly size the benches use


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def ratio(vmd: float, qemu: float) -> str:
    # A per-vCPU delta within the noise (zero or negative) has no meaningful ratio.
    return f"{vmd / qemu:.2f}\N{MULTIPLICATION SIGN}" if qemu > 0 and vmd > 0 else "—"


def kib(value: float) -> str:
    return f"{value:.1f} KiB" if abs(value) >= 1 else f"{value * 1024:.0f} B"


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def measured(kind: str, args: list[str], runs: int, settle: float) -> tuple[float, int]:
    """(median RSS in KiB, threads of the last run)."""
    values, count = [], 0
    for _ in range(runs):
        peer = start_peer(kind, args)
        try:
            time.sleep(settle)
            values.append(rss_kib(peer.pid))
            count = threads(peer.pid)
        finally:
            peer.stop()
    return statistics.median(values), count


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--settle", type=float, default=1.0, help="seconds before reading VmRSS (1)")
    p.add_argument("--vmd-cpus", type=int, default=4096, help="vmd's N (4096)")
    opts = p.parse_args(argv)
    n = opts.vmd_cpus
    wide = ["-M", f"q35,x-vmd-max-cpus={n}"]
    idle = ["-M", "q35", "-smp", "1", "-m", "128"]
    table: list[tuple[str, str, str, str]] = []

    q_idle, _ = measured("qemu", idle, opts.runs, opts.settle)
    v_idle, _ = measured("vmd", idle, opts.runs, opts.settle)
    table.append(("idle VM, `-M q35 -smp 1 -m 128`, running", f"{q_idle / 1024:.1f} MiB",
                  f"{v_idle / 1024:.1f} MiB", ratio(v_idle, q_idle)))  # fmt: skip

    def per_cpu(kind: str, machine: list[str], count: int) -> tuple[float, float, int]:
        base, _ = measured(kind, [*machine, "-smp", "1,maxcpus=1", "-S"], opts.runs, opts.settle)
        possible, _ = measured(kind, [*machine, "-smp", f"1,maxcpus={count}", "-S"], opts.runs, opts.settle)
        present, nthreads = measured(kind, [*machine, "-smp", f"{count},maxcpus={count}", "-S"], opts.runs,
                                     opts.settle)  # fmt: skip
        return (possible - base) / (count - 1), (present - possible) / (count - 1), nthreads

    q_possible, q_present, q_threads = per_cpu("qemu", ["-M", "q35"], QEMU_MAX)
    v_possible, v_present, v_threads = per_cpu("vmd", wide, n)
    table.append((f"per possible vCPU (QEMU: maxcpus={QEMU_MAX}; vmd: maxcpus={n})",
                  kib(q_possible), kib(v_possible),
                  ratio(v_possible, q_possible)))  # fmt: skip
    table.append((f"per present vCPU (QEMU: -smp {QEMU_MAX}, {q_threads} threads; vmd: -smp {n}, "
                  f"{v_threads} threads)", kib(q_present), kib(v_present),
                  ratio(v_present, q_present)))  # fmt: skip

    print(f"VmRSS, median of {opts.runs} processes each, {opts.settle:g} s after start "
          f"(load average {os.getloadavg()[0]:.1f})\n")  # fmt: skip
    print("| metric | QEMU 7.2 | vmd | vmd / QEMU |")
    print("|---|---:|---:|---:|")
    for row in table:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
