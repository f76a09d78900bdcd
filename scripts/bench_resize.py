#!/usr/bin/env python3
"""Benchmark a resize 1 -> N -> 1 vCPUs: one __com.vmd_set-vcpus job against the same steps done
by a client with one device_add / device_del at a time, on QEMU 7.2 and on vmd, in one run.

Each scenario gets a fresh running peer, `-M q35 -smp 1,maxcpus=N -accel tcg` (default N=64):

  * vmd, one job: `__com.vmd_set-vcpus target=N`, then `target=1`; each phase timed from the
    request to its __com.vmd_SET_VCPUS_COMPLETED (outcome `reached`: up, every new vCPU online
    in the guest; down, every removed vCPU gone, DEVICE_DELETED sent);
  * vmd, one at a time: device_add of slots 1..N-1 back to back, timed until the guest lists them
    all online (__com.vmd_query-guest-cpus polled); then device_del of each, timed until the last
    DEVICE_DELETED of a CPU;
  * QEMU 7.2, one at a time: the same device_adds, timed to the last reply (QEMU has no guest
    OS here to bring a CPU online: "all online" cannot happen); then, after `qom-set
    cpu-hotplug-legacy false` on its ICH9-LPC (else it refuses CPU unplug), the device_dels,
    and a wait of --grace seconds for DEVICE_DELETED (QEMU 7.2 under TCG sends none).

`--board pseries` does the same on `-M pseries -smp 1,maxcpus=N` (default N=16), whose slots are
cores: one thread each, the only core QEMU 7.2's TCG runs, so both peers plug the same units
(`power9_v2.0-spapr-cpu-core`); QEMU releases a core no guest took at once, so its down phase
completes too.

Usage:
  python3 scripts/bench_resize.py                 # N=64, 3 rounds, median (min - max)
  python3 scripts/bench_resize.py --vcpus 16 --rounds 1 --json out.json
  python3 scripts/bench_resize.py --board pseries  # 1 -> 16 -> 1 cores

A benchmark, not a test: it exits non-zero only if a peer fails, never because of a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient

REPO = Path(__file__).resolve().parent.parent


class Board:
    """What differs between the boards: the machine, the slot's device, QEMU's binary."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pseries = name == "pseries"
        self.machine = "pseries" if self.pseries else "q35"
        self.vmd_target = ["-vmd-target", "ppc64"] if self.pseries else []
        self.qemu = "qemu-system-ppc64" if self.pseries else "qemu-system-x86_64"

    def slot(self, index: int) -> dict[str, Any]:
        if self.pseries:
            return {"driver": "power9_v2.0-spapr-cpu-core", "id": f"cpu{index}", "core-id": index}
        return {
            "driver": "qemu64-x86_64-cpu",
            "id": f"cpu{index}",
            "socket-id": 0,
            "core-id": index,
            "thread-id": 0,
        }

    def unit(self) -> str:
        return "cores" if self.pseries else "vCPUs"


class Peer:
    def __init__(self, kind: str, vcpus: int, work: Path, opts: argparse.Namespace) -> None:
        self.kind = kind
        self.sock = work / f"{kind}-{time.monotonic_ns()}.sock"
        board: Board = opts.board
        args = ["-M", board.machine, "-smp", f"1,maxcpus={vcpus}", "-accel", "tcg", "-display", "none"]
        args += ["-nodefaults", "-no-user-config", "-qmp", f"unix:{self.sock},server=on,wait=off"]
        vmd = [sys.executable, "-m", "vmd", *board.vmd_target]
        argv = [opts.qemu or board.qemu, *args] if kind == "qemu" else [*vmd, *args]
        self.log = open(work / f"{kind}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT)
        self.qmp = QMPClient(kind)

    async def connect(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} did not start (exit status {self.proc.poll()})")
            await asyncio.sleep(0.01)
        await asyncio.wait_for(self.qmp.connect(str(self.sock)), timeout)

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.qmp.disconnect(), 5)
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()


async def wait_online(qmp: QMPClient, count: int, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while True:
            view = await qmp.execute("__com.vmd_query-guest-cpus")
            assert isinstance(view, dict)
            if view["online"] == (f"0-{count - 1}" if count > 1 else "0"):
                return
            await asyncio.sleep(0.001)  # a client polls; back to back it would starve the daemon


async def vmd_job(vcpus: int, work: Path, opts: argparse.Namespace) -> dict[str, float]:
    peer = Peer("vmd", vcpus, work, opts)
    try:
        await peer.connect()
        qmp = peer.qmp
        await wait_online(qmp, 1, opts.timeout)
        times = {}
        with qmp.listener("__com.vmd_SET_VCPUS_COMPLETED") as listener:
            for phase, target in (("up", vcpus), ("down", 1)):
                started = time.perf_counter()
                job = await qmp.execute("__com.vmd_set-vcpus", {"target": target})
                assert isinstance(job, dict)
                event = await asyncio.wait_for(listener.get(), opts.timeout)
                times[phase] = time.perf_counter() - started
                data = event["data"]
                assert isinstance(data, dict), event
                if data["outcome"] != "reached":
                    raise RuntimeError(f"vmd job {phase}: {data}")
        return times
    finally:
        await peer.stop()


async def one_at_a_time(kind: str, vcpus: int, work: Path, opts: argparse.Namespace) -> dict[str, Any]:
    peer = Peer(kind, vcpus, work, opts)
    try:
        await peer.connect()
        qmp = peer.qmp
        if kind == "vmd":
            await wait_online(qmp, 1, opts.timeout)
        result: dict[str, Any] = {}
        with qmp.listener("DEVICE_DELETED") as deleted:
            started = time.perf_counter()
            for index in range(1, vcpus):
                await qmp.execute("device_add", opts.board.slot(index))
            result["plugged"] = time.perf_counter() - started
            if kind == "vmd":
                await wait_online(qmp, vcpus, opts.timeout)
                result["up"] = time.perf_counter() - started
            elif not opts.board.pseries:  # pseries unplugs without a legacy switch
                children = await qmp.execute("qom-list", {"path": "/machine/unattached"})
                assert isinstance(children, list), children
                lpc = next(
                    f"/machine/unattached/{c['name']}" for c in children if c["type"] == "child<ICH9-LPC>"
                )
                await qmp.execute("qom-set", {"path": lpc, "property": "cpu-hotplug-legacy", "value": False})
            started = time.perf_counter()
            for index in range(vcpus - 1, 0, -1):
                await qmp.execute("device_del", {"id": f"cpu{index}"})
            result["requested"] = time.perf_counter() - started
            gone: set[str] = set()
            limit = opts.timeout if kind == "vmd" else opts.grace
            try:
                async with asyncio.timeout(limit):
                    while len(gone) < vcpus - 1:
                        event = await deleted.get()
                        data = event["data"]
                        assert isinstance(data, dict), event
                        if "device" in data:
                            gone.add(data["device"])
                result["down"] = time.perf_counter() - started
            except TimeoutError:
                result["gone"] = len(gone)
        return result
    finally:
        await peer.stop()


def fmt(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    if len(ms) == 1:
        return f"{ms[0]:.1f} ms"
    return f"{statistics.median(ms):.1f} ms ({ms[0]:.1f} - {ms[-1]:.1f})"


async def main_async(opts: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bres-", dir="/tmp"))
    runs: dict[str, list[dict[str, Any]]] = {"vmd-job": [], "vmd-steps": [], "qemu-steps": []}
    try:
        for _ in range(opts.rounds):
            runs["vmd-job"].append(await vmd_job(opts.vcpus, work, opts))
            runs["vmd-steps"].append(await one_at_a_time("vmd", opts.vcpus, work, opts))
            runs["qemu-steps"].append(await one_at_a_time("qemu", opts.vcpus, work, opts))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return runs


def report(runs: dict[str, list[dict[str, Any]]], opts: argparse.Namespace) -> str:
    n = opts.vcpus
    qemu = runs["qemu-steps"]
    q_gone = [r.get("gone") for r in qemu if "down" not in r]
    qemu_down = (
        fmt([r["down"] for r in qemu])
        if not q_gone
        else f"not reached: {max(g or 0 for g in q_gone)} of {n - 1} DEVICE_DELETED within {opts.grace:g} s"
    )
    steps, job = runs["vmd-steps"], runs["vmd-job"]

    def col(results: list[dict[str, Any]], key: str) -> str:
        return fmt([r[key] for r in results])

    header = (
        f"what (1 → {n} → 1 {opts.board.unit()}, `-M {opts.board.machine} -smp 1,maxcpus={n}`, running)",
        "QEMU 7.2, one device_add/device_del at a time",
        "vmd, one at a time",
        "vmd, one `__com.vmd_set-vcpus` job per direction",
    )
    table = [
        header,
        ("---", "---:", "---:", "---:"),
        ("up: every request answered", col(qemu, "plugged"), col(steps, "plugged"), "—"),
        (f"up: all {n} online in the guest", "n/a: no guest OS", col(steps, "up"), col(job, "up")),
        ("down: every request answered", col(qemu, "requested"), col(steps, "requested"), "—"),
        ("down: all gone (last DEVICE_DELETED)", qemu_down, col(steps, "down"), col(job, "down")),
    ]  # fmt: skip
    rows = ["| " + " | ".join(cells) + " |" for cells in table]
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--board", choices=("q35", "pseries"), default="q35")
    parser.add_argument("--vcpus", type=int, help="N (default 64; pseries: 16 cores of one thread)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--grace", type=float, default=2.0, help="how long to wait for QEMU's DEVICE_DELETED")
    parser.add_argument("--qemu", help="QEMU binary (default: qemu-system-x86_64, or -ppc64 for pseries)")
    parser.add_argument("--json", help="also write the raw figures here")
    opts = parser.parse_args()
    opts.board = Board(opts.board)
    opts.vcpus = opts.vcpus or (16 if opts.board.pseries else 64)
    runs = asyncio.run(main_async(opts))
    print(report(runs, opts))
    if opts.json:
        Path(opts.json).write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
