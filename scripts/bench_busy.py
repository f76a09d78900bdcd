#!/usr/bin/env python3
"""The monitor under a busy guest: QMP latencies while every vCPU works, QEMU 7.2 beside vmd.

vmd runs `-M q35 -smp N -vmd-guest load=busy` (every online vCPU runs the firmware's work loop,
N host threads on this machine's CPUs).  QEMU runs `-M q35 -smp N -bios spin.bin` under TCG, a
BIOS image whose reset vector jumps to itself: its boot CPU spins (the others wait for a SIPI
that never comes), so QEMU's guest keeps one host CPU busy.  The two peers run at the same time
but take turns: while one is measured, the other is stopped (`stop`), so neither guest takes CPU
from the other's measurement.

Each round sends --queries each of query-status, query-cpus-fast and query-hotpluggable-cpus
(one at a time, timed from the request's send to its reply), then `stop` and `cont` (each timed
to its reply; QEMU and vmd both reply to `stop` once every vCPU has stopped), then lets the guest
run again for 50 ms.

Usage:
  python3 scripts/bench_busy.py                   # -smp 64 and 255, 20 rounds
  python3 scripts/bench_busy.py --smp 64 --rounds 40

A benchmark, not a test: it exits non-zero only if a peer fails.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    PeerError,
    QmpConn,
    become_subreaper,
    connect_when_ready,
    gc_paused,
    percentile,
    positive_int,
    qemu_version,
    reap_all,
    spawn,
    stop_process,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
TIMES = "\N{MULTIPLICATION SIGN}"
LE = "\N{LESS-THAN OR EQUAL TO}"
QUERIES = ("query-status", "query-cpus-fast", "query-hotpluggable-cpus")
# (metric, target in ms for vmd's p99)
TARGETS = {"query-status": 2.0, "query-cpus-fast": 5.0, "query-hotpluggable-cpus": 5.0, "stop": 5.0}
IDLE = "query-status, the same VM with its guest at rest (load=idle)"
SET_POLICY = "__com.vmd_set-guest-policy"
COMMON = ("-display", "none", "-nodefaults", "-no-user-config", "-m", "128")


def spin_bios(path: Path) -> Path:
    """64 KiB BIOS: `jmp $` (EB FE) at the reset vector (the image's last 16 bytes)."""
    image = bytearray(64 * 1024)
    image[0xFFF0:0xFFF2] = b"\xeb\xfe"
    path.write_bytes(bytes(image))
    return path


class Peer:
    def __init__(self, key: str, argv: list[str], work: Path, timeout: float) -> None:
        self.key = key
        sock, log = work / f"{key}.sock", work / f"{key}.log"
        self.proc = spawn([*argv, "-qmp", f"unix:{sock},server=on,wait=off"], REPO_ROOT, log)
        self.conn: QmpConn = connect_when_ready(sock, self.proc, log, timeout)
        self.conn.negotiate()

    def timed(self, command: str, arguments: str = "") -> int:
        args = f',"arguments":{arguments}' if arguments else ""
        raw = f'{{"execute":"{command}"{args}}}\n'.encode()
        t0 = time.perf_counter_ns()
        self.conn.send(raw)
        reply = self.conn.read_message()  # events (STOP, RESUME) are skipped
        elapsed = time.perf_counter_ns() - t0
        if "return" not in reply:
            raise PeerError(f"{self.key}: {command} failed: {reply!r}")
        return elapsed

    def close(self) -> None:
        self.conn.close()
        stop_process(self.proc)


def measure(peers: dict[str, Peer], opts: argparse.Namespace) -> dict[str, dict[str, list[int]]]:
    samples: dict[str, dict[str, list[int]]] = {k: {c: [] for c in (*QUERIES, "stop", IDLE)} for k in peers}
    for peer in peers.values():
        peer.timed("stop")
    time.sleep(0.5)
    with gc_paused():
        for _ in range(opts.rounds):
            for key, peer in peers.items():
                peer.timed("cont")
                time.sleep(0.05)  # the guest is busy again
                for command in QUERIES:
                    for _ in range(opts.queries):
                        samples[key][command].append(peer.timed(command))
                if key == "vmd":  # the same VM, its guest at rest: what the host alone costs
                    peer.timed(SET_POLICY, '{"load-percent":0}')
                    time.sleep(0.05)
                    for _ in range(opts.queries):
                        samples[key][IDLE].append(peer.timed("query-status"))
                    peer.timed(SET_POLICY, '{"load-percent":100}')
                samples[key]["stop"].append(peer.timed("stop"))
    return samples


def fmt(ns: int) -> str:
    return f"{ns / 1e6:.2f} ms" if ns >= 100_000 else f"{ns / 1e3:.0f} µs"


def rows(n: int, samples: dict[str, dict[str, list[int]]], qemu_label: str) -> list[str]:
    lines = []
    for command in (*QUERIES, "stop", IDLE):
        q = sorted(samples.get("qemu", {}).get(command, []))
        v = sorted(samples["vmd"][command])
        for pct in (50, 99):
            vp = percentile(v, pct)
            qp = percentile(q, pct) if q else None
            ratio = f"{vp / qp:.2f}{TIMES}" if qp else "—"
            target = TARGETS.get(command) if pct == 99 else None
            goal = f"p99 {LE} {target:g} ms" if target else "—"
            met = "n/a" if target is None else ("met" if vp <= target * 1e6 else "**not met**")
            qcell = fmt(qp) if qp is not None else "—"
            busy = "" if command == IDLE else ", busy"
            what = f"{command} p{pct}, `-smp {n}`{busy}"
            lines.append(f"| {what} | {qcell} | {fmt(vp)} (max {fmt(v[-1])}) | {ratio} | {goal} | {met} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vmd", metavar="CMD", help="vmd's command (default: this python -m vmd)")
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--no-qemu", action="store_true")
    p.add_argument("--smp", type=positive_int, action="append", help="vCPUs (default: 64 and 255)")
    p.add_argument("--rounds", type=positive_int, default=20)
    p.add_argument("--queries", type=positive_int, default=10, help="of each query per round (10)")
    p.add_argument("--timeout", type=float, default=30.0)
    opts = p.parse_args(argv)
    become_subreaper()
    vmd_cmd = shlex.split(opts.vmd) if opts.vmd else [sys.executable, "-m", "vmd"]
    label = f"QEMU {qemu_version(opts.qemu)}"
    work = Path(tempfile.mkdtemp(prefix="vbusy", dir="/tmp"))
    bios = spin_bios(work / "spin.bin")
    out = [
        f"| metric | {label} (`-bios` spinning, 1 busy vCPU) | vmd (`load=busy`, all busy) "
        "| vmd / QEMU | target | met? |",
        "|---|---:|---:|---:|---|---|",
    ]
    try:
        for n in opts.smp or [64, 255]:
            peers: dict[str, Peer] = {}
            try:
                args = ["-M", "q35", "-smp", str(n), *COMMON]
                peers["vmd"] = Peer("vmd", [*vmd_cmd, *args, "-vmd-guest", "load=busy"], work, opts.timeout)
                if not opts.no_qemu:
                    qemu_args = [opts.qemu, *args, "-accel", "tcg", "-bios", str(bios)]
                    peers["qemu"] = Peer("qemu", qemu_args, work, opts.timeout)
                time.sleep(1.0)  # every vCPU came up and works
                samples = measure(peers, opts)
            finally:
                for peer in peers.values():
                    peer.close()
            out += rows(n, samples, label)
    except PeerError as exc:
        print(f"bench_busy: {exc}", file=sys.stderr)
        return 1
    finally:
        reap_all()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{os.cpu_count()} host CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
          f"{opts.rounds} rounds of {opts.queries} of each query and one stop\n")  # fmt: skip
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
