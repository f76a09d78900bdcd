#!/usr/bin/env python3
"""Benchmark ARM virt vCPU hotplug over QMP: qemu-system-aarch64 7.2 and vmd-system-aarch64.

Both peers run `-M virt,gic-version=3 -cpu cortex-a57 -accel tcg` and are driven by the same
raw-socket client (benchlib.QmpConn), one peer at a time.  QEMU 7.2 has no ARM vCPU hotplug
(device_add of a CPU is refused, query-hotpluggable-cpus is "not enabled"), so its column has the
rows it can show: start-up at cpu-max and query-cpus-fast.

Rows:
  * device_add of a CPU into a parked slot, reply round trip p50/p99, and plug -> online: a
    running VM, `-smp 1,maxcpus=512`; cycles over cores 1..511, each device_add timed to its
    reply and to the guest listing the CPU online, then device_del (accepted by the guest; its
    DEVICE_DELETED awaited before the core comes round again).  The cycles alternate two ways
    of waiting for the online: as a management client waits (the session enabled
    __com.vmd_GUEST_CPU_STATE, sent when the vCPU itself confirmed it is online: timed at its
    arrival; then __com.vmd_query-guest-cpus is asked and must list the CPU, timed at that
    listing's reply), and __com.vmd_query-guest-cpus polled back to
    back (each poll costs vmd a loop turn the guest model waits behind);
  * vmd's CPU time per timed cycle (utime + stime of the process over the cycles, less what the
    client's polls cost, measured alone: what a cycle costs whatever the machine's load);
  * plug/unplug cycles: the vCPU threads, parked contexts and RSS before and after `--cycles`
    more cycles (flat: every context was created at boot);
  * start-up at cpu-max: exec to QMP ready (qmp_capabilities answered), `-smp 1,maxcpus=512` and
    `-smp 512`, -S, median of the runs;
  * query-hotpluggable-cpus at 512 slots, p50/p99 (repeated, and right after a device_add);
  * query-cpus-fast with 512 present vCPUs, p50.

Usage:
  python3 scripts/bench_arm.py              # a minute or two
  python3 scripts/bench_arm.py --quick      # fewer samples
  python3 scripts/bench_arm.py --runs 3 --json results.json

A benchmark, not a test: it exits non-zero only if a peer fails, never because of a figure.
"""

from __future__ import annotations

import argparse
import os
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
CPU_MAX = 512
CPU = "cortex-a57-arm-cpu"
POLL_SAMPLES = 2000
GUEST_CPU_STATE = "__com.vmd_GUEST_CPU_STATE"
Samples = dict[str, list[int]]
BASE = ("-accel", "tcg", "-nodefaults", "-no-user-config", "-display", "none")
MACHINE = ("-M", "virt,gic-version=3", "-cpu", "cortex-a57")


def argv(key: str, opts: argparse.Namespace, smp: str, sock: Path, *extra: str) -> list[str]:
    head = [opts.qemu] if key == "qemu" else [sys.executable, "-m", "vmd", "-vmd-target", "aarch64"]
    return [*head, *BASE, *MACHINE, "-smp", smp, *extra, "-qmp", f"unix:{sock},server=on,wait=off"]


class Peer(BoardPeer):
    def __init__(self, key: str, opts: argparse.Namespace, work: Path, tag: str, smp: str, *extra: str):
        sock, log = work / f"{tag}.sock", work / f"{tag}.log"
        cwd = None if key == "qemu" else REPO_ROOT
        super().__init__(key, argv(key, opts, smp, sock, *extra), cwd, sock, log, opts.timeout)


def vm_counters(peer: Peer) -> dict[str, int]:
    entries = peer.call("query-stats", target="vm")
    return {s["name"]: s["value"] for entry in entries for s in entry["stats"]}


def process_state(pid: int) -> tuple[int, int]:
    """(threads, RSS in KiB) of the peer process."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the peer process (all its threads) used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def is_online_event(core: int) -> Any:
    def matches(message: dict[str, Any]) -> bool:
        data = message.get("data", {})
        return bool(
            message.get("event") == GUEST_CPU_STATE and data.get("cpu-index") == core and data.get("online")
        )

    return matches


def cycle(peer: Peer, core: int, times: Samples | None, *, evented: bool) -> None:
    """One plug (timed to its reply and to the guest's online) and unplug of `core`: `evented`
    waits for the guest's online as a management client does (the event, then one listing),
    otherwise the listing is polled back to back."""
    poll = peer.send("__com.vmd_query-guest-cpus")
    expected = "0-1" if core == 1 else f"0,{core}"  # sysfs range syntax
    peer.events.clear()
    t0 = time.perf_counter_ns()
    reply = peer.exchange(peer.send("device_add", driver=CPU, id=f"c{core}", **{"core-id": core}))
    replied = time.perf_counter_ns()
    if "return" not in reply:
        raise PeerError(f"device_add core {core}: {reply}")
    if evented:
        peer.wait_event(is_online_event(core), f"CPU {core} online")
        if times is not None:  # the guest's confirmation, as the client hears of it
            times["online_event"].append(time.perf_counter_ns() - t0)
    deadline = time.monotonic() + peer.timeout
    while peer.exchange(poll)["return"]["online"] != expected:
        peer.polls += 1
        if time.monotonic() > deadline:
            raise PeerError(f"CPU {core} did not come online")
    done = time.perf_counter_ns()
    if times is not None:
        times["device_add"].append(replied - t0)
        times["online_evented" if evented else "online_polled"].append(done - t0)
    peer.exchange(peer.send("device_del", id=f"c{core}"))
    peer.until("__com.vmd_query-guest-cpus", lambda view: view["enabled"] == "0", f"CPU {core} to go")
    peer.until("query-cpus-fast", lambda cpus: len(cpus) == 1, f"CPU {core} to leave query-cpus-fast")


def bench_hotplug(opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    times: Samples = {"device_add": [], "online_event": [], "online_evented": [], "online_polled": []}
    cycles: dict[str, Any] = {}
    cpu_per_cycle: list[float] = []
    for run in range(opts.runs):
        peer = Peer("vmd", opts, work, f"vmd-plug-{run}", f"1,maxcpus={CPU_MAX}")
        try:
            peer.until("__com.vmd_query-guest-cpus", lambda view: view["online"] == "0", "the guest to boot")
            peer.call("__com.vmd_enable-events", events=[GUEST_CPU_STATE])
            used, peer.polls = cpu_seconds(peer.proc.pid), 0
            count = min(CPU_MAX - 1, opts.plugs)
            with gc_paused():
                for core in range(1, count + 1):
                    cycle(peer, core, times, evented=core % 2 == 1)
            used, polls = cpu_seconds(peer.proc.pid) - used, peer.polls
            # What one poll costs, measured alone, is taken out.
            poll = peer.send("__com.vmd_query-guest-cpus")
            before = cpu_seconds(peer.proc.pid)
            for _ in range(POLL_SAMPLES):
                peer.conn.command(poll)
            per_poll = (cpu_seconds(peer.proc.pid) - before) / POLL_SAMPLES
            cpu_per_cycle.append(max(0.0, used - polls * per_poll) / count)
            if run == 0:
                state_before = (*process_state(peer.proc.pid), vm_counters(peer)["parked_vcpus"])
                for n in range(opts.cycles):
                    cycle(peer, 1 + n % (CPU_MAX - 1), None, evented=True)
                after = (*process_state(peer.proc.pid), vm_counters(peer)["parked_vcpus"])
                cycles = {"cycles": opts.cycles, "before": state_before, "after": after}
        finally:
            peer.close()
    return {
        "device_add": stats(times["device_add"]),
        "plug_online_event": stats(times["online_event"]),
        "plug_online": stats(times["online_evented"]),
        "plug_online_polled": stats(times["online_polled"]),
        "cycles": cycles,
        "cpu_per_cycle_ns": int(statistics.median(cpu_per_cycle) * 1e9),
    }


def bench_listings(key: str, opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if key == "vmd":
        idle, after = [], []
        peer = Peer(key, opts, work, f"{key}-hpc", f"1,maxcpus={CPU_MAX}", "-S")
        try:
            with gc_paused():
                for _ in range(opts.samples):
                    idle.append(peer.timed("query-hotpluggable-cpus")[0])
                for core in range(1, min(CPU_MAX, opts.samples + 1)):
                    peer.call("device_add", driver=CPU, **{"core-id": core})
                    after.append(peer.timed("query-hotpluggable-cpus")[0])
        finally:
            peer.close()
        found["hpc_idle"], found["hpc_after_add"] = stats(idle), stats(after)
    fast = []
    peer = Peer(key, opts, work, f"{key}-fast", str(CPU_MAX), "-S")
    try:
        with gc_paused():
            for _ in range(opts.samples):
                fast.append(peer.timed("query-cpus-fast")[0])
    finally:
        peer.close()
    found["cpus_fast"] = stats(fast)
    return found


def bench_startup(key: str, opts: argparse.Namespace, work: Path, smp: str) -> int:
    times: list[int] = []
    for _ in range(opts.runs * 3):
        peer = Peer(key, opts, work, f"{key}-start-{len(times)}-{smp.count(',')}", smp, "-S")
        times.append(peer.ready_ns)
        peer.close()
    return int(statistics.median(times))


def table(results: dict[str, Any], version: str) -> str:
    q, v, plug = results["qemu"], results["vmd"], results["hotplug"]
    none = "n/a: 7.2 has no ARM vCPU hotplug"

    def row(name: str, theirs: str, ours: str) -> str:
        return f"| {name} | {theirs} | {ours} |"

    def pair(stat: dict[str, int]) -> str:
        return f"{us(stat['p50'])} / {us(stat['p99'])}"

    lines = [
        f"| virt,gic-version=3 -cpu cortex-a57, -smp 1,maxcpus={CPU_MAX} | QEMU {version} | vmd |",
        "|---|---:|---:|",
        row("device_add into a parked slot, reply p50 / p99", none, pair(plug["device_add"])),
        row("device_add → vmd's event that the guest has the CPU online (__com.vmd_GUEST_CPU_STATE), "
            "p50 / p99 (target p50 ≤ 1 ms)", none, pair(plug["plug_online_event"])),
        row("device_add → the guest lists the CPU online, p50 / p99 (the listing asked on that event)", none,
            pair(plug["plug_online"])),
        row("device_add → the guest lists the CPU online, the listing polled back to back, p50 / p99", none,
            pair(plug["plug_online_polled"])),
    ]  # fmt: skip
    lines.append(
        row(
            "vmd's CPU time per plug → online → unplug cycle (every thread; the client's polls taken out)",
            none,
            us(plug["cpu_per_cycle_ns"]),
        )
    )
    cycles = plug.get("cycles")
    if cycles:
        (t0, r0, p0), (t1, r1, p1) = cycles["before"], cycles["after"]
        lines.append(
            row(
                f"{cycles['cycles']} more plug/unplug cycles: threads, RSS, parked contexts",
                none,
                f"{t0} → {t1} threads, {r0 / 1024:.1f} → {r1 / 1024:.1f} MiB, {p0} → {p1} parked",
            )
        )
    lines += [
        row(f"start-up to QMP ready, -smp 1,maxcpus={CPU_MAX}", us(q["startup_max"]), us(v["startup_max"])),
        row(f"start-up to QMP ready, -smp {CPU_MAX}", us(q["startup_all"]), us(v["startup_all"])),
        row(f"query-hotpluggable-cpus, {CPU_MAX} slots, p50 / p99", "n/a: \"not enabled\" in 7.2",
            pair(v["hpc_idle"])),
        row("query-hotpluggable-cpus right after a device_add, p50", "n/a", us(v["hpc_after_add"]["p50"])),
        row(f"query-cpus-fast, {CPU_MAX} present, p50", us(q["cpus_fast"]["p50"]), us(v["cpus_fast"]["p50"])),
    ]  # fmt: skip
    return "\n".join(lines)


def main(argv_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--qemu", default=shutil.which("qemu-system-aarch64") or "qemu-system-aarch64")
    parser.add_argument("--runs", type=positive_int, default=2)
    parser.add_argument("--samples", type=positive_int, default=200)
    parser.add_argument("--plugs", type=positive_int, default=200, help="timed plug/unplug cycles per run")
    parser.add_argument("--cycles", type=int, default=1000, help="untimed cycles for the flatness row")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="one run, fewer samples")
    parser.add_argument("--json", help="also write the figures here")
    opts = parser.parse_args(argv_)
    if opts.quick:
        opts.runs, opts.samples, opts.plugs, opts.cycles = 1, 50, 50, 200
    become_subreaper()
    work = Path(tempfile.mkdtemp(prefix="ba", dir="/tmp"))
    results: dict[str, Any] = {}
    try:
        for key in ("qemu", "vmd"):
            found = bench_listings(key, opts, work)
            found["startup_max"] = bench_startup(key, opts, work, f"1,maxcpus={CPU_MAX}")
            found["startup_all"] = bench_startup(key, opts, work, str(CPU_MAX))
            results[key] = found
        results["hotplug"] = bench_hotplug(opts, work)
    except PeerError as error:
        print(f"bench_arm: {error}", file=sys.stderr)
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
