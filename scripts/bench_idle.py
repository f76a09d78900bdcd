#!/usr/bin/env python3
"""What a running VM costs the host while nobody talks to it: host CPUs used, vmd under each guest
load beside QEMU 7.2 (TCG, no OS image: SeaBIOS finds nothing to boot and halts).

Each peer runs `-M q35 -smp N` (running, not -S) for a warm-up second, then its user+system CPU
time over --seconds is divided by the wall time.  Peers run one at a time.

Usage:
  python3 scripts/bench_idle.py                 # -smp 4, 5 s each
  python3 scripts/bench_idle.py --smp 16 --seconds 10

This is a benchmark, not a test: it exits non-zero only if a peer fails to start.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.peers import start_peer

LOADS = ("idle", "25", "busy")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_cpus(kind: str, args: list[str], seconds: float) -> float:
    peer = start_peer(kind, args)
    try:
        time.sleep(1.0)
        t0, c0 = time.monotonic(), cpu_seconds(peer.pid)
        time.sleep(seconds)
        return (cpu_seconds(peer.pid) - c0) / (time.monotonic() - t0)
    finally:
        peer.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smp", type=int, default=4)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--no-qemu", action="store_true", help="vmd only")
    opts = p.parse_args(argv)
    machine = ["-M", "q35", "-smp", str(opts.smp)]
    rows = []
    qemu = None if opts.no_qemu else host_cpus("qemu", machine, opts.seconds)
    for load in LOADS:
        used = host_cpus("vmd", [*machine, "-vmd-guest", f"load={load}"], opts.seconds)
        rows.append((load, used))
    print(f"host CPUs used by a running `-M q35 -smp {opts.smp}` VM, over {opts.seconds:g} s "
          f"({os.cpu_count()} host CPUs, load average {os.getloadavg()[0]:.1f} at the end)\n")  # fmt: skip
    print("| guest | QEMU 7.2 (no OS) | vmd |")
    print("|---|---:|---:|")
    for load, used in rows:
        theirs = "—" if qemu is None or load != "idle" else f"{qemu:.2f}"
        print(f"| `load={load}` | {theirs} | {used:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
