#!/usr/bin/env python3
"""Benchmark pseries CPU hotplug over QMP: qemu-system-ppc64 7.2 and vmd-system-ppc64 in one run.

Both peers run `-M pseries -accel tcg -S` (with the TCG capability warnings turned off) and are
driven by the same raw-socket client (benchlib.QmpConn), one peer at a time.

Rows:
  * start-up to QMP ready (exec to the qmp_capabilities reply) with `-smp 1,maxcpus=N`, N = 64,
    1024, 4096 possible cores (threads=1: QEMU 7.2's TCG has no SMT), median of the runs; and
    vmd alone with 512 cores of 8 threads (QEMU 7.2's TCG cannot), and at 16384 possible threads
    with x-vmd-max-cpus (QEMU 7.2's pseries stops at 4096): 16384 cores of 1, and 2048 cores of 8
    with the guest running, where cores at the top of the range are plugged, come online in the
    guest and are deleted again;
  * query-hotpluggable-cpus at the same sizes, round trip p50;
  * device_add of one core into a free slot, p50/p99: QEMU's one-thread core (the only kind its
    TCG has) beside vmd's core of 8 threads, and beside vmd's one-thread core, each into a slot
    never used before, in prelaunch;
  * device_del of a core no guest took (released at once: DEVICE_DELETED before the reply), p50,
    QEMU's one-thread core beside vmd's 8-thread and one-thread cores;
  * plug -> every thread online, and device_del -> DEVICE_DELETED of the core with the guest
    running (vmd only: QEMU has no guest OS to take the connector), 8-thread cores, p50/p99.

vmd runs as `python -m vmd` from the checkout with its bytecode compiled first, the form an
install has (PYTHONDONTWRITEBYTECODE would otherwise make every start compile vmd's sources
again, about 0.9 s of CPU), as scripts/bench_startup.py does.

Usage:
  python3 scripts/bench_pseries.py             # a few minutes
  python3 scripts/bench_pseries.py --quick     # fewer samples
  python3 scripts/bench_pseries.py --json results.json

A benchmark, not a test: it exits non-zero only if a peer fails, never because of a figure.
"""

from __future__ import annotations

import argparse
import compileall
import json
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

# vmd is importable wherever this runs: it starts vmd with the same interpreter.
from vmd.testing import cpu_set

REPO_ROOT = Path(__file__).resolve().parent.parent
CORE = "power9_v2.0-spapr-cpu-core"
MACHINE = "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off"
BASE = ("-accel", "tcg", "-nodefaults", "-no-user-config", "-display", "none")
SIZES = (64, 1024, 4096)


def argv(key: str, opts: argparse.Namespace, machine: str, smp: str, sock: Path, *extra: str) -> list[str]:
    head = [opts.qemu] if key == "qemu" else [sys.executable, "-m", "vmd", "-vmd-target", "ppc64"]
    return [*head, *BASE, "-M", machine, "-smp", smp, *extra, "-qmp", f"unix:{sock},server=on,wait=off"]


class Peer(BoardPeer):
    def __init__(
        self,
        key: str,
        opts: argparse.Namespace,
        work: Path,
        tag: str,
        smp: str,
        *extra: str,
        machine: str = MACHINE,
    ):
        sock, log = work / f"{tag}.sock", work / f"{tag}.log"
        cwd = None if key == "qemu" else REPO_ROOT
        super().__init__(key, argv(key, opts, machine, smp, sock, *extra), cwd, sock, log, opts.timeout)


def bench_scale(
    key: str, opts: argparse.Namespace, work: Path, smp: str, machine: str = MACHINE
) -> dict[str, Any]:
    starts, hpc = [], []
    for run in range(opts.runs):
        peer = Peer(key, opts, work, f"{key}-scale-{run}-{len(smp)}", smp, "-S", machine=machine)
        try:
            starts.append(peer.ready_ns)
            with gc_paused():
                for _ in range(opts.samples):
                    hpc.append(peer.timed("query-hotpluggable-cpus")[0])
        finally:
            peer.close()
    return {"startup": int(statistics.median(starts)), "hpc": stats(hpc)}


def bench_device_add(key: str, opts: argparse.Namespace, work: Path, threads: int = 0) -> dict[str, Any]:
    """QEMU: one-thread cores (-smp 1,maxcpus=64); vmd: 8-thread cores (-smp 8,maxcpus=512), or
    `threads` per core."""
    threads = threads or (1 if key == "qemu" else 8)
    smp = f"{threads},maxcpus={64 * threads},threads={threads}"
    adds: list[int] = []
    dels: list[int] = []
    for run in range(opts.runs):
        peer = Peer(key, opts, work, f"{key}-add-{run}", smp, "-S")
        try:
            with gc_paused():
                for slot in range(1, 64):
                    core = slot * threads
                    adds.append(peer.timed("device_add", driver=CORE, id=f"c{slot}", **{"core-id": core})[0])
                # Released at once (no guest took them); QEMU 7.2 races a del right after its
                # add, so the dels come after every add.  Its TCG thread budget allows them.
                for slot in range(1, 33):
                    dels.append(peer.timed("device_del", id=f"c{slot}")[0])
        finally:
            peer.close()
    return {"device_add": stats(adds), "device_del_at_once": stats(dels)}


def bench_guest(opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    """vmd with its guest running: 8-thread cores plugged until every thread is online, then
    deleted until DEVICE_DELETED of the core (the guest offlines the threads, isolates and
    releases the connector)."""
    online: list[int] = []
    gone: list[int] = []
    for run in range(opts.runs * 2):
        peer = Peer("vmd", opts, work, f"vmd-guest-{run}", "8,maxcpus=64,threads=8")
        try:
            poll = peer.send("__com.vmd_query-guest-cpus")
            deadline = time.monotonic() + opts.timeout
            while peer.conn.command(poll)["return"]["online"] != "0-7":
                if time.monotonic() > deadline:
                    raise PeerError("the guest did not boot")
            for core in (8, 16, 24):
                t0 = time.perf_counter_ns()
                peer.conn.command(peer.send("device_add", driver=CORE, id=f"c{core}", **{"core-id": core}))
                want = f"0-{core + 7}"
                deadline = time.monotonic() + opts.timeout
                while peer.conn.command(poll)["return"]["online"] != want:
                    if time.monotonic() > deadline:
                        raise PeerError(f"core {core} did not come online")
                online.append(time.perf_counter_ns() - t0)
            for core in (24, 16, 8):
                gone.append(del_until_deleted(peer, f"c{core}"))
        finally:
            peer.close()
    return {"plug_online": stats(online), "del_deleted": stats(gone)}


def del_until_deleted(peer: Peer, device: str) -> int:
    """device_del of `device`, timed (ns) to its own DEVICE_DELETED (the reply comes first)."""
    t0 = time.perf_counter_ns()
    peer.conn.command(peer.send("device_del", id=device))
    while True:
        message = json.loads(peer.conn.read_line())
        if message.get("event") == "DEVICE_DELETED" and message.get("data", {}).get("device") == device:
            return time.perf_counter_ns() - t0


BIG = 16384  # possible threads with x-vmd-max-cpus (QEMU 7.2's pseries stops at 4096)
BIG_MACHINE = f"{MACHINE},x-vmd-max-cpus={BIG}"


def bench_big(opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    """vmd alone at 16384 possible threads (2048 cores of 8), guest running: start-up,
    query-hotpluggable-cpus, then cores plugged at the top of the range (device_add, and plug ->
    every thread online in the guest) and deleted again (device_del -> DEVICE_DELETED)."""
    starts: list[int] = []
    hpc: list[int] = []
    adds: list[int] = []
    online: list[int] = []
    gone: list[int] = []
    for run in range(opts.runs):
        peer = Peer("vmd", opts, work, f"vmd-big-{run}", f"8,maxcpus={BIG},threads=8", machine=BIG_MACHINE)
        try:
            starts.append(peer.ready_ns)
            poll = peer.send("__com.vmd_query-guest-cpus")
            deadline = time.monotonic() + opts.timeout
            while peer.conn.command(poll)["return"]["online"] != "0-7":
                if time.monotonic() > deadline:
                    raise PeerError("the guest did not boot")
            with gc_paused():
                for _ in range(opts.samples):
                    hpc.append(peer.timed("query-hotpluggable-cpus")[0])
            cores = [BIG - 8 * (n + 1) for n in range(8)]  # the top cores, 16376 downwards
            for core in cores:
                t0 = time.perf_counter_ns()
                adds.append(peer.timed("device_add", driver=CORE, id=f"c{core}", **{"core-id": core})[0])
                want = set(range(core, core + 8))
                deadline = time.monotonic() + opts.timeout
                while not want <= cpu_set(peer.conn.command(poll)["return"]["online"]):
                    if time.monotonic() > deadline:
                        raise PeerError(f"core {core} did not come online")
                online.append(time.perf_counter_ns() - t0)
            for core in cores:
                gone.append(del_until_deleted(peer, f"c{core}"))
        finally:
            peer.close()
    return {
        "startup": int(statistics.median(starts)),
        "hpc": stats(hpc),
        "device_add": stats(adds),
        "plug_online": stats(online),
        "del_deleted": stats(gone),
    }


def table(results: dict[str, Any], version: str) -> str:
    q, v = results["qemu"], results["vmd"]

    def row(name: str, theirs: str, ours: str, ratio: str = "") -> str:
        return f"| {name} | {theirs} | {ours} | {ratio} |"

    def ratio(theirs: float, ours: float) -> str:
        return f"{ours / theirs:.2f}" if theirs else ""

    lines = [f"| pseries (TCG, -S) | QEMU {version} | vmd | vmd / QEMU |", "|---|---:|---:|---:|"]
    for n in SIZES:
        qs, vs = q[f"scale_{n}"], v[f"scale_{n}"]
        lines.append(row(f"start-up to QMP ready, -smp 1,maxcpus={n}", us(qs["startup"]), us(vs["startup"]),
                         ratio(qs["startup"], vs["startup"])))  # fmt: skip
    for n in SIZES:
        qs, vs = q[f"scale_{n}"], v[f"scale_{n}"]
        theirs, ours = qs["hpc"]["p50"], vs["hpc"]["p50"]
        lines.append(
            row(f"query-hotpluggable-cpus, {n} cores, p50", us(theirs), us(ours), ratio(theirs, ours))
        )
    big = results["vmd_smt8"]
    lines.append(
        row("start-up, -smp 8,maxcpus=4096,threads=8 (512 cores of 8)", "n/a (no SMT)", us(big["startup"]))
    )
    lines.append(row("query-hotpluggable-cpus, 512 cores of 8, p50", "n/a", us(big["hpc"]["p50"])))
    one = results["vmd_16k_cores"]
    lines.append(
        row(f"start-up, -smp 1,maxcpus={BIG} (x-vmd-max-cpus)", "refused (max 4096)", us(one["startup"]))
    )
    lines.append(row(f"query-hotpluggable-cpus, {BIG} cores, p50", "n/a", us(one["hpc"]["p50"])))
    huge = results["vmd_16k"]
    lines.append(row(f"start-up, -smp 8,maxcpus={BIG},threads=8 (2048 cores of 8), guest booting",
                     "n/a", us(huge["startup"])))  # fmt: skip
    lines.append(row("query-hotpluggable-cpus, 2048 cores of 8, p50", "n/a", us(huge["hpc"]["p50"])))
    for key, name in (
        ("device_add", "device_add of a core at the top (core-id 16320-16376), guest running, p50 / p99"),
        ("plug_online", "plug → all 8 threads online, 16384 threads, p50 / p99"),
        ("del_deleted", "device_del → DEVICE_DELETED, 16384 threads, p50 / p99"),
    ):
        lines.append(row(name, "n/a", f"{us(huge[key]['p50'])} / {us(huge[key]['p99'])}"))
    qa, va = q["device_add"], v["device_add"]
    lines.append(row("device_add of a core, p50 / p99 (QEMU: 1 thread, vmd: 8 threads)",
                     f"{us(qa['device_add']['p50'])} / {us(qa['device_add']['p99'])}",
                     f"{us(va['device_add']['p50'])} / {us(va['device_add']['p99'])}",
                     ratio(qa["device_add"]["p50"], va["device_add"]["p50"])))  # fmt: skip
    one_thread = results["vmd_smt1"]["device_add"]
    lines.append(row("device_add of a one-thread core (both as QEMU 7.2's TCG has them), p50 / p99",
                     f"{us(qa['device_add']['p50'])} / {us(qa['device_add']['p99'])}",
                     f"{us(one_thread['p50'])} / {us(one_thread['p99'])}",
                     ratio(qa["device_add"]["p50"], one_thread["p50"])))  # fmt: skip
    # The events before the reply: DEVICE_DELETED of each thread's interrupt presenters (icp,
    # xive-tctx) and of the thread, then of the core: 4 for a one-thread core, 25 for eight threads.
    lines.append(row("device_del of a core no guest took (events before the reply), p50 "
                     "(QEMU: 1 thread, 4 events; vmd: 8 threads, 25 events)",
                     us(qa["device_del_at_once"]["p50"]), us(va["device_del_at_once"]["p50"]),
                     ratio(qa["device_del_at_once"]["p50"], va["device_del_at_once"]["p50"])))  # fmt: skip
    one_thread_del = results["vmd_smt1"]["device_del_at_once"]
    lines.append(row("device_del of a one-thread core no guest took (both: 4 events), p50",
                     us(qa["device_del_at_once"]["p50"]), us(one_thread_del["p50"]),
                     ratio(qa["device_del_at_once"]["p50"], one_thread_del["p50"])))  # fmt: skip
    g = results["guest"]
    lines.append(row("plug → all 8 threads online in the guest, p50 / p99", "n/a (no guest OS)",
                     f"{us(g['plug_online']['p50'])} / {us(g['plug_online']['p99'])}"))  # fmt: skip
    lines.append(row("device_del → DEVICE_DELETED of the core (guest accepts), p50 / p99", "n/a",
                     f"{us(g['del_deleted']['p50'])} / {us(g['del_deleted']['p99'])}"))  # fmt: skip
    return "\n".join(lines)


def main(argv_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--qemu", default=shutil.which("qemu-system-ppc64") or "qemu-system-ppc64")
    parser.add_argument("--runs", type=positive_int, default=2)
    parser.add_argument("--samples", type=positive_int, default=50)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="one run, fewer samples")
    parser.add_argument("--json", help="also write the figures here")
    opts = parser.parse_args(argv_)
    if opts.quick:
        opts.runs, opts.samples = 1, 20
    become_subreaper()
    compileall.compile_dir(str(REPO_ROOT / "vmd"), quiet=1)
    work = Path(tempfile.mkdtemp(prefix="bp", dir="/tmp"))
    results: dict[str, Any] = {}
    try:
        for key in ("qemu", "vmd"):
            found: dict[str, Any] = {
                f"scale_{n}": bench_scale(key, opts, work, f"1,maxcpus={n}") for n in SIZES
            }
            found["device_add"] = bench_device_add(key, opts, work)
            results[key] = found
        results["vmd_smt1"] = bench_device_add("vmd", opts, work, threads=1)
        results["vmd_smt8"] = bench_scale("vmd", opts, work, "8,maxcpus=4096,threads=8")
        results["vmd_16k_cores"] = bench_scale("vmd", opts, work, f"1,maxcpus={BIG}", machine=BIG_MACHINE)
        results["vmd_16k"] = bench_big(opts, work)
        results["guest"] = bench_guest(opts, work)
    except PeerError as error:
        print(f"bench_pseries: {error}", file=sys.stderr)
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
