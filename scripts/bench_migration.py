#!/usr/bin/env python3
"""Benchmark live migration: QEMU 7.2 to QEMU 7.2 and vmd to vmd, same RAM, same settings, one run.

For each RAM size (256 MiB, 1 GiB) and guest (idle; busy writing 512 KiB of memory in a loop),
a source and an `-incoming defer` target of the same kind are started (`-M q35 -smp 1,maxcpus=4
-m SIZE`, no -S on the source: the guest runs), the target listens on a unix socket, the source
migrates to it with QEMU's defaults (max-bandwidth 128 MiB/s, downtime-limit 300 ms), and the
source's `query-migrate` at `completed` gives the figures: total time, downtime, bytes sent
(`ram.transferred`) and passes (`ram.dirty-sync-count`).  Median of the runs.

The busy guests (tests/busy_guests.py): QEMU boots a boot sector (real mode, `rep stosw` over
0x10000-0x8ffff, forever) from a raw -drive; vmd runs a vmd-ISA image (-bios) that stores to
every 512-byte block of 1 MiB..1.5 MiB, forever.  Both dirty the same 128 pages as fast as they can.

With --libvirt (root; run it under `flock /tmp/vmd-libvirt.lock`), it also times `virsh save`
and `virsh restore` of a 128 MiB domain whose <emulator> is QEMU, then vmd (libvirt's whole
sequence: stop, capabilities, getfd, migrate to the file, and back with -incoming defer), and
libvirt's live migration between two libvirtds on this host (tests/libvirt/harness.py's
PeerLibvirt): `virsh migrate --live` of that domain with 1 vCPU, after `setvcpus 3 --live` and paused
(median of the runs), then once, with a busy 3-vCPU 16 GiB guest held back by `--bandwidth 1` so
the job lasts: `domjobinfo` during it, `setvcpus` during it (libvirt's 30 s lock wait), `domjobabort`
(until virsh migrate returns; where source and destination are then), and `migrate-setspeed
1000` (until the migration completes).

Usage:
  python3 scripts/bench_migration.py              # a few minutes
  python3 scripts/bench_migration.py --libvirt    # and virsh save / restore
  python3 scripts/bench_migration.py --runs 1     # quicker
  python3 scripts/bench_migration.py --json out.json

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
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qemu.qmp import QMPClient  # noqa: E402

from tests.busy_guests import qemu_busy_disk, vmd_busy_bios  # noqa: E402
from tests.peers import Peer, short_tmpdir, start_peer  # noqa: E402

SIZES = {"256 MiB": 256, "1 GiB": 1024}
BASE = ("-M", "q35", "-smp", "1,maxcpus=4")
TIMEOUT = 300.0
SLOW_MIB = 16384  # the libvirt flows held back by --bandwidth 1


def guest_args(kind: str, busy: bool, workdir: Path) -> tuple[str, ...]:
    if not busy:
        return ()
    if kind == "qemu":
        return ("-drive", f"file={qemu_busy_disk(workdir)},format=raw,if=ide")
    return ("-bios", str(vmd_busy_bios(workdir)))


async def one_migration(kind: str, mib: int, busy: bool) -> dict[str, Any]:
    workdir = short_tmpdir()
    extra = guest_args(kind, busy, workdir)
    args = (*BASE, "-m", str(mib), *extra)
    peers: list[Peer] = []
    try:
        source = start_peer(kind, args)
        peers.append(source)
        target = start_peer(kind, (*args, "-incoming", "defer"))
        peers.append(target)
        src, dst = QMPClient("bench-src"), QMPClient("bench-dst")
        await src.connect(source.socket)
        await dst.connect(target.socket)
        try:
            await asyncio.sleep(0.5)  # let the guest run (and the busy one dirty its pages)
            uri = f"unix:{workdir}/mig.sock"
            await dst.execute("migrate-incoming", {"uri": uri})
            await src.execute("migrate", {"uri": uri})
            async with asyncio.timeout(TIMEOUT):
                while True:
                    info = await src.execute("query-migrate")
                    if info.get("status") in ("completed", "failed", "cancelled"):
                        break
                    await asyncio.sleep(0.01)
                # QEMU's first query after completion may show zeros (its statistics race).
                await asyncio.sleep(0.05)
                info = await src.execute("query-migrate")
            if info["status"] != "completed":
                raise RuntimeError(f"{kind}: migration {info}")
            confirm = 0.0
            if kind == "vmd":  # how long the source then waited for the target's confirmation
                log = source.log.read_text().splitlines()
                line = [t for t in log if "until the target confirmed" in t][-1]
                confirm = float(line.rsplit("then ", 1)[1].split(" ms")[0])
            return {
                "total_ms": info["total-time"],
                "confirm_ms": confirm,
                "downtime_ms": info["downtime"],
                "bytes": info["ram"]["transferred"],
                "passes": info["ram"]["dirty-sync-count"],
            }
        finally:
            await src.disconnect()
            await dst.disconnect()
    finally:
        for peer in peers:
            peer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def libvirt_rows(runs: int) -> list[dict[str, Any]]:
    from tests.libvirt.harness import domain_xml, emulator_wrapper, running_libvirt

    workdir = short_tmpdir()
    rows = []
    with running_libvirt(workdir) as libvirt:
        emulators = {"qemu": shutil.which("qemu-system-x86_64") or "", "vmd": str(emulator_wrapper(workdir))}
        times: dict[str, dict[str, list[float]]] = {k: {"save": [], "restore": []} for k in emulators}
        for kind, emulator in emulators.items():
            for run in range(runs):
                name = f"bench-mig-{kind}-{run}"
                libvirt.create(name, domain_xml(name, emulator))
                save = workdir / f"{name}.save"
                times[kind]["save"].append(libvirt.virsh("save", name, str(save)).seconds * 1000)
                times[kind]["restore"].append(libvirt.virsh("restore", str(save)).seconds * 1000)
                libvirt.virsh("destroy", name, check=False)
        for step in ("save", "restore"):
            q, v = statistics.median(times["qemu"][step]), statistics.median(times["vmd"][step])
            rows.append({"step": f"virsh {step}", "qemu_ms": q, "vmd_ms": v})
            print(
                f"virsh {step:>7} (128 MiB) | QEMU {q:>6.0f} ms vmd {v:>6.0f} ms | {v / q:.2f}x", flush=True
            )
    shutil.rmtree(workdir, ignore_errors=True)
    return rows


def _live_flows(libvirt: Any, peer: Any, kind: str, emulator: str, workdir: Path, run: int) -> dict[str, Any]:
    """libvirt's live-migration flows for one emulator: {step: (ms, detail)}."""
    from tests.libvirt.harness import domain_xml

    out: dict[str, Any] = {}
    argv = ["virsh", "-c", libvirt.uri, "migrate", "--live", "--unsafe"]
    target = [peer.uri, "--migrateuri", "tcp://127.0.0.1"]

    def state(on: Any, name: str) -> str:
        return str(on.virsh("domstate", "--reason", name, check=False).stdout.strip() or "gone")

    def vcpus(on: Any, name: str) -> str:
        counted = on.virsh("vcpucount", name, "--live", "--active", check=False)
        return f"{counted.stdout.strip()} vCPUs" if counted.ok else "no vCPUs"

    for variant in ("1 vCPU", "3 vCPUs (setvcpus 3 --live)", "paused, 1 vCPU"):
        name = f"bench-live-{kind}-{variant.split()[0].strip(',')}-{run}"
        libvirt.create(name, domain_xml(name, emulator))
        if variant.startswith("3"):
            libvirt.virsh("setvcpus", name, "3", "--live")
        if variant.startswith("paused"):
            libvirt.virsh("suspend", name)
        done = libvirt.virsh(*argv[3:], name, *target, check=False, timeout=TIMEOUT)
        detail = f"{state(peer, name)}, {vcpus(peer, name)}" if done.ok else done.stderr.strip()
        out[f"virsh migrate --live, {variant}"] = (done.seconds * 1000 if done.ok else None, detail)
        peer.destroy_quietly(name)
        libvirt.destroy_quietly(name)
    if run:  # the slow flows once: their figures are libvirt's waits, not the emulator's
        return out
    # A guest that rewrites 512 KiB over and over, at 1 MiB/s: vmd's job lasts until ended;
    # QEMU 7.2's converges at that speed, so the RAM is large enough that its first pass alone
    # (zero pages, 8 or 9 bytes each) outlasts libvirt's 30 s job-lock wait.
    if kind == "qemu":
        busy = {"devices": f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                           f"<source file='{qemu_busy_disk(workdir)}'/><target dev='sda' bus='sata'/>"
                           "<boot order='1'/></disk>"}  # fmt: skip
    else:
        busy = {"extra_args": ("-bios", str(vmd_busy_bios(workdir)))}
    for ending in ("domjobabort", "migrate-setspeed 1000"):
        name = f"bench-slow-{kind}-{ending.split()[0]}"
        libvirt.create(name, domain_xml(name, emulator, current=3, memory_mib=SLOW_MIB, **busy))
        time.sleep(2)  # SeaBIOS boots the boot sector
        job = subprocess.Popen([*argv, "--bandwidth", "1", name, *target], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
        started = time.monotonic()
        while "Memory total" not in libvirt.virsh("domjobinfo", name, check=False).stdout:
            if job.poll() is not None or time.monotonic() - started > 30:
                break
            time.sleep(0.05)
        time.sleep(1)
        info = libvirt.virsh("domjobinfo", name, check=False)
        fields = dict(
            (k.strip(), v.strip())
            for k, v in (ln.split(":", 1) for ln in info.stdout.splitlines() if ":" in ln)
        )
        if ending == "domjobabort":
            out["domjobinfo during the job"] = (
                info.seconds * 1000 if info.ok else None,
                f"{fields.get('Operation', info.stderr.strip())}, "
                f"iteration {fields.get('Iteration', '?')}, {fields.get('Data processed', '?')} processed, "
                f"{fields.get('Data remaining', '?')} remaining",
            )
            refused = libvirt.virsh("setvcpus", name, "2", "--live", check=False, timeout=TIMEOUT)
            out["setvcpus 2 --live during the job"] = (
                refused.seconds * 1000,
                (refused.stderr.strip().splitlines() or ["(accepted!)"])[-1].removeprefix("error: "),
            )
            began = time.monotonic()
            libvirt.virsh("domjobabort", name, check=False)
        else:
            began = time.monotonic()
            libvirt.virsh("migrate-setspeed", name, "1000", check=False)
        try:
            _, err = job.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            job.kill()
            _, err = job.communicate()
        ended = (time.monotonic() - began) * 1000
        if ending == "domjobabort":
            gone = time.monotonic()
            while peer.exists(name) and time.monotonic() - gone < 30:
                time.sleep(0.02)
            detail = (
                f"source {state(libvirt, name)}, {libvirt.vcpucount_live(name)} vCPUs; destination "
                f"{state(peer, name)} after {(time.monotonic() - began) * 1000:.0f} ms; "
                f"virsh: {err.strip().splitlines()[-1].removeprefix('error: ') if err.strip() else 'ok'}"
            )
            out["domjobabort: until virsh migrate returned"] = (ended, detail)
        else:
            ok = job.returncode == 0
            detail = f"{state(peer, name)}, {vcpus(peer, name)}" if ok else err.strip()
            out["migrate-setspeed 1000: until the migration completed"] = (ended if ok else None, detail)
        peer.destroy_quietly(name)
        libvirt.destroy_quietly(name)
    return out


def libvirt_live_rows(runs: int) -> list[dict[str, Any]]:
    """virsh migrate --live between two libvirtds on this host, QEMU then vmd as the emulator."""
    from tests.libvirt.harness import PeerLibvirt, emulator_wrapper, running_libvirt

    workdir = short_tmpdir()
    rows: list[dict[str, Any]] = []
    emulators = {"qemu": shutil.which("qemu-system-x86_64") or "", "vmd": str(emulator_wrapper(workdir))}
    results: dict[str, dict[str, list[Any]]] = {kind: {} for kind in emulators}
    with running_libvirt(workdir) as libvirt:
        (workdir / "peer").mkdir()
        peer = PeerLibvirt(workdir / "peer")
        try:
            peer.start()
            for run in range(runs):
                for kind, emulator in emulators.items():
                    for step, value in _live_flows(libvirt, peer, kind, emulator, workdir, run).items():
                        results[kind].setdefault(step, []).append(value)
        finally:
            peer.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    for step in results["vmd"]:
        row: dict[str, Any] = {"step": step}
        for kind in emulators:
            values = results[kind].get(step, [])
            times = [ms for ms, _ in values if ms is not None]
            row[f"{kind}_ms"] = statistics.median(times) if len(times) == len(values) and times else None
            row[f"{kind}_detail"] = values[-1][1] if values else "not reached"
        rows.append(row)
        cells = [f"{row[f'{k}_ms']:>6.0f} ms" if row[f"{k}_ms"] is not None else "FAILED" for k in emulators]
        ratio = f"{row['vmd_ms'] / row['qemu_ms']:.2f}x" if row["vmd_ms"] and row["qemu_ms"] else "-"
        print(f"{step} | QEMU {cells[0]} vmd {cells[1]} | {ratio}", flush=True)
        print(f"    QEMU: {row['qemu_detail']}\n    vmd:  {row['vmd_detail']}", flush=True)
    return rows


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--libvirt", action="store_true", help="also time virsh save and restore")
    parser.add_argument("--only-libvirt", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for size, mib in ({} if options.only_libvirt else SIZES).items():
        for busy in (False, True):
            row: dict[str, Any] = {"ram": size, "guest": "busy" if busy else "idle"}
            for kind in ("qemu", "vmd"):
                runs = [await one_migration(kind, mib, busy) for _ in range(options.runs)]
                row[kind] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            rows.append(row)
            q, v = row["qemu"], row["vmd"]
            print(
                f"{size:>8} {row['guest']:>4} "
                f"| total ms QEMU {q['total_ms']:>6.0f} vmd {v['total_ms']:>6.0f} "
                f"| downtime ms QEMU {q['downtime_ms']:>4.0f} vmd {v['downtime_ms']:>4.0f} "
                f"| bytes QEMU {q['bytes']:>10.0f} vmd {v['bytes']:>10.0f} "
                f"| passes QEMU {q['passes']:.0f} vmd {v['passes']:.0f} "
                f"| vmd's wait for the target's confirmation {v['confirm_ms']:.1f} ms",
                flush=True,
            )
    if options.libvirt or options.only_libvirt:
        rows += libvirt_rows(options.runs)
        rows += libvirt_live_rows(options.runs)
    if options.json:
        Path(options.json).write_text(json.dumps(rows, indent=2) + "\n")  # noqa: ASYNC240
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
