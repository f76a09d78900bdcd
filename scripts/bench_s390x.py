#!/usr/bin/env python3
"""Benchmark s390x CPU hotplug over QMP: qemu-system-s390x 7.2 and vmd-system-s390x in one run.

Both peers run `-M s390-ccw-virtio -smp 1,maxcpus=248 -accel tcg -S` (QEMU's firmware panics on
`cont` without a boot device, and QEMU then exits, so QEMU is measured in prelaunch, where
device_add works as well) and are driven by the same raw-socket client (benchlib.QmpConn), one
peer at a time.

Rows:
  * device_add of one CPU into a free slot, reply round trip p50/p99: core-ids 1..247, each
    into a slot never used before (s390x never gives a CPU back), a fresh process per round;
  * plug -> online (vmd only: QEMU has no guest to bring a CPU up): fresh running VMs whose
    guest configures and onlines every hot-added CPU (the default policy), four CPUs plugged in
    each; from the device_add to the guest listing the CPU online (__com.vmd_query-guest-cpus
    polled back to back), p50/p99;
  * start-up at cpu-max: exec to the first reply (QMP ready, qmp_capabilities answered), with
    `-smp 1,maxcpus=248` and with `-smp 248` (every CPU present), median of the runs;
  * query-hotpluggable-cpus at 248 slots, round trip p50/p99 (repeated, then right after each
    device_add, when vmd re-encodes the changed slot);
  * query-cpus-fast with 248 present CPUs, round trip p50.

Usage:
  python3 scripts/bench_s390x.py             # a minute or two
  python3 scripts/bench_s390x.py --quick     # fewer samples
  python3 scripts/bench_s390x.py --runs 3 --json results.json

A benchmark, not a test: it exits non-zero only if a peer fails, never because of a figure.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    BoardPeer,
    PeerError,
    become_subreaper,
    gc_paused,
    positive_int,
    qemu_version,
    stats,
    us,
    write_json,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
CPU_MAX = 248
CPU = "qemu-s390x-cpu"
BASE = ("-accel", "tcg", "-nodefaults", "-no-user-config", "-display", "none", "-M", "s390-ccw-virtio")


def argv(key: str, opts: argparse.Namespace, smp: str, sock: Path, *extra: str) -> list[str]:
    head = [opts.qemu] if key == "qemu" else [sys.executable, "-m", "vmd", "-vmd-target", "s390x"]
    return [*head, *BASE, "-smp", smp, *extra, "-qmp", f"unix:{sock},server=on,wait=off"]


class Peer(BoardPeer):
    def __init__(self, key: str, opts: argparse.Namespace, work: Path, tag: str, smp: str, *extra: str):
        sock, log = work / f"{tag}.sock", work / f"{tag}.log"
        cwd = None if key == "qemu" else REPO_ROOT
        super().__init__(key, argv(key, opts, smp, sock, *extra), cwd, sock, log, opts.timeout)


def bench_device_add(key: str, opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    plugs: list[int] = []
    hpc_idle: list[int] = []
    hpc_after: list[int] = []
    fast: list[int] = []
    for run in range(opts.runs):
        peer = Peer(key, opts, work, f"{key}-add-{run}", f"1,maxcpus={CPU_MAX}", "-S")
        try:
            with gc_paused():
                for _ in range(opts.samples):
                    hpc_idle.append(peer.timed("query-hotpluggable-cpus")[0])
                for core in range(1, CPU_MAX):
                    plugs.append(
                        peer.timed("device_add", driver=CPU, id=f"cpu{core}", **{"core-id": core})[0]
                    )
                    hpc_after.append(peer.timed("query-hotpluggable-cpus")[0])
                for _ in range(opts.samples):
                    fast.append(peer.timed("query-cpus-fast")[0])
        finally:
            peer.close()
    return {
        "device_add": stats(plugs),
        "hpc_idle": stats(hpc_idle),
        "hpc_after_add": stats(hpc_after),
        "cpus_fast_248": stats(fast),
    }


def bench_plug_online(opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Fresh VMs, each running the boot CPU's guest; `online_plugs` CPUs plugged one by one, each
    timed until the guest lists it online (every online CPU runs the firmware's busy loop, so
    with many of them a new vCPU waits for a host CPU: the figure is kept to a few)."""
    samples: list[int] = []
    for run in range(opts.runs * 4):
        peer = Peer("vmd", opts, work, f"vmd-online-{run}", f"1,maxcpus={CPU_MAX}")
        try:
            poll = peer.send("__com.vmd_query-guest-cpus")
            deadline = time.monotonic() + opts.timeout
            while peer.conn.command(poll)["return"]["online"] != "0":  # the guest has booted
                if time.monotonic() > deadline:
                    raise PeerError("the guest did not boot")
            for core in range(1, opts.online_plugs + 1):
                t0 = time.perf_counter_ns()
                peer.conn.command(peer.send("device_add", driver=CPU, **{"core-id": core}))
                deadline = time.monotonic() + opts.timeout
                while peer.conn.command(poll)["return"]["online"] != f"0-{core}":
                    if time.monotonic() > deadline:
                        raise PeerError(f"CPU {core} did not come online")
                samples.append(time.perf_counter_ns() - t0)
        finally:
            peer.close()
    return stats(samples)


def bench_startup(key: str, opts: argparse.Namespace, work: Path, smp: str) -> int:
    times: list[int] = []
    for _ in range(opts.runs * 3):
        peer = Peer(key, opts, work, f"{key}-start-{len(times)}-{smp.count(',')}", smp, "-S")
        times.append(peer.ready_ns)
        peer.close()
    return int(statistics.median(times))


def table(results: dict[str, Any], version: str) -> str:
    q, v = results["qemu"], results["vmd"]

    def row(name: str, theirs: str, ours: str) -> str:
        return f"| {name} | {theirs} | {ours} |"

    def pair(stat: dict[str, int]) -> str:
        return f"{us(stat['p50'])} / {us(stat['p99'])}"

    lines = [
        f"| s390-ccw-virtio, -smp 1,maxcpus={CPU_MAX} | QEMU {version} | vmd |",
        "|---|---:|---:|",
        row("device_add, p50 / p99", pair(q["device_add"]), pair(v["device_add"])),
        row(
            "plug → configured and online in the guest, p50 / p99",
            "n/a (no guest OS)",
            pair(results["plug_online"]),
        ),
        row(f"start-up to QMP ready, -smp 1,maxcpus={CPU_MAX}", us(q["startup_max"]), us(v["startup_max"])),
        row(f"start-up to QMP ready, -smp {CPU_MAX}", us(q["startup_all"]), us(v["startup_all"])),
        row(f"query-hotpluggable-cpus, {CPU_MAX} slots, p50 / p99", pair(q["hpc_idle"]), pair(v["hpc_idle"])),
        row(
            "query-hotpluggable-cpus right after a device_add, p50",
            us(q["hpc_after_add"]["p50"]),
            us(v["hpc_after_add"]["p50"]),
        ),
        row(
            f"query-cpus-fast, {CPU_MAX} present, p50",
            us(q["cpus_fast_248"]["p50"]),
            us(v["cpus_fast_248"]["p50"]),
        ),
    ]
    return "\n".join(lines)


def main(argv_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--qemu", default=shutil.which("qemu-system-s390x") or "qemu-system-s390x")
    parser.add_argument("--runs", type=positive_int, default=2)
    parser.add_argument("--samples", type=positive_int, default=200)
    parser.add_argument(
        "--online-plugs", type=positive_int, default=4, help="CPUs plugged per VM, timed to online"
    )
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="one run, fewer samples")
    parser.add_argument("--json", help="also write the figures here")
    opts = parser.parse_args(argv_)
    if opts.quick:
        opts.runs, opts.samples = 1, 50
    become_subreaper()
    work = Path(tempfile.mkdtemp(prefix="bs", dir="/tmp"))
    results: dict[str, Any] = {}
    try:
        for key in ("qemu", "vmd"):
            found = bench_device_add(key, opts, work)
            found["startup_max"] = bench_startup(key, opts, work, f"1,maxcpus={CPU_MAX}")
            found["startup_all"] = bench_startup(key, opts, work, str(CPU_MAX))
            results[key] = found
        results["plug_online"] = bench_plug_online(opts, work)
    except PeerError as error:
        print(f"bench_s390x: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    version = qemu_version(opts.qemu)
    print(table(results, version))
    if opts.json:
        write_json(opts.json, {"qemu": version, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
