#!/usr/bin/env python3
"""Start-up benchmark: QEMU 7.2 and vmd side by side, interleaved in one run, as a markdown table.

Rows (median of --runs, each run alternating QEMU and vmd so that both see the same load):
  * `-version` and `-machine help`: spawn to exit;
  * start to QMP greeting: `-M q35 -smp 1,maxcpus=255 -S ... -daemonize`, spawn until the greeting
    has arrived on the socket (bench_qmp.py's start-up row); and on to the reply to the first
    command (qmp_capabilities, then query-status), the monitor really answering;
  * libvirt's capability probe: spawn `-machine none,accel=kvm:tcg ... -daemonize` as libvirt does,
    then the conversation libvirt 9.0 has with it (see PROBE), until the last reply; and the
    conversation alone, from the greeting on.

vmd is measured in its installed form (bytecode compiled, no editable-install finder): --vmd, else
`.venv-run/bin/vmd` when scripts/run has made it, else `python -m vmd` from the checkout after
compiling its bytecode (PYTHONDONTWRITEBYTECODE would otherwise make every start compile).

Usage:
  python3 scripts/bench_startup.py              # 15 runs
  python3 scripts/bench_startup.py --runs 30 --vmd /path/to/venv/bin/vmd

A benchmark, not a test: it exits non-zero only if a peer fails.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    PeerError,
    QmpConn,
    become_subreaper,
    connect_when_ready,
    kill_adopted,
    kill_pidfile,
    log_tail,
    positive_int,
    qemu_version,
    reap_all,
    wait_exact,
    watch_pidfile,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
TIMES = "\N{MULTIPLICATION SIGN}"
DASH = "\N{EN DASH}"
LE = "\N{LESS-THAN OR EQUAL TO}"

START_ARGS = (
    "-M", "q35", "-smp", "1,maxcpus=255", "-S", "-display", "none", "-nodefaults", "-no-user-config",
)  # fmt: skip
# libvirt's probe command line (qemuProcessQMPLaunch), the monitor and pidfile added per start.
PROBE_ARGS = ("-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", "none,accel=kvm:tcg")
# The device types libvirt 9.0 asks device-list-properties about on x86 (virQEMUCapsDeviceProps);
# an unknown one gets DeviceNotFound, which libvirt accepts.
PROBE_DEVICES = (
    "virtio-blk-pci", "virtio-net-pci", "virtio-scsi-pci", "virtio-blk-device", "virtio-net-device",
    "virtio-scsi-device", "scsi-disk", "ide-hd", "PIIX4_PM", "ICH9-LPC", "usb-redir", "usb-storage",
    "usb-host", "vfio-pci", "scsi-generic", "nec-usb-xhci", "virtio-gpu-pci", "virtio-gpu-device",
    "virtio-balloon-pci", "virtio-balloon-device", "i440FX-pcihost", "q35-pcihost", "VGA",
    "vhost-user-fs-device", "virtio-mouse-pci", "virtio-keyboard-pci", "virtio-tablet-pci",
    "max-x86_64-cpu", "qemu64-x86_64-cpu",
)  # fmt: skip
OBJECT_TYPES = ("memory-backend-file", "memory-backend-memfd")


def probe_requests() -> list[bytes]:
    """libvirt's probe conversation after qmp_capabilities, in its order (libvirt-contract.md)."""

    def cmd(name: str, args: dict[str, object] | None = None) -> bytes:
        msg: dict[str, object] = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        return json.dumps(msg).encode() + b"\n"

    requests = [
        cmd("query-version"),
        cmd("query-target"),
        cmd("query-qmp-schema"),
        cmd("query-commands"),
        cmd("query-kvm"),
        cmd("qom-list-types"),
        *(cmd("device-list-properties", {"typename": name}) for name in PROBE_DEVICES),
        *(cmd("qom-list-properties", {"typename": name}) for name in OBJECT_TYPES),
        cmd("query-machines"),
        cmd("query-cpu-definitions"),
        cmd("query-tpm-models"),
        cmd("query-tpm-types"),
        cmd("query-command-line-options"),
        cmd("query-migrate-capabilities"),
    ]
    return requests


PROBE = probe_requests()


class Peer:
    def __init__(
        self, key: str, label: str, prefix: list[str], cwd: Path | None, env: dict[str, str]
    ) -> None:
        self.key, self.label, self.prefix, self.cwd, self.env = key, label, prefix, cwd, env


def vmd_peer(opts: argparse.Namespace) -> Peer:
    env = dict(os.environ)
    if opts.vmd:
        return Peer("vmd", "vmd", shlex.split(opts.vmd), REPO_ROOT, env)
    installed = REPO_ROOT / ".venv-run" / "bin" / "vmd"
    if installed.exists():
        return Peer("vmd", "vmd (.venv-run)", [str(installed)], None, env)
    compileall.compile_dir(str(REPO_ROOT / "vmd"), quiet=1)
    return Peer("vmd", "vmd (checkout, bytecode compiled)", [sys.executable, "-m", "vmd"], REPO_ROOT, env)


def timed_exit(peer: Peer, args: list[str], log: Path, timeout: float) -> int:
    t0 = time.perf_counter_ns()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*peer.prefix, *args], cwd=peer.cwd, env=peer.env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        status = wait_exact(proc, timeout)
    elapsed = time.perf_counter_ns() - t0
    if status != 0:
        raise PeerError(f"{' '.join(args)} exited {status}:\n" + log_tail(log))
    return elapsed


def daemonized(peer: Peer, args: tuple[str, ...], work: Path, i: int, timeout: float,
               talk: Callable[[QmpConn], int] | None) -> tuple[int, int]:  # fmt: skip
    """(spawn → greeting, spawn → end of `talk`) in ns; `talk` returns when its conversation ended
    (its own clock reading).  The daemon is killed afterwards."""
    sock, pidfile, log = (
        work / f"{peer.key}{i}.sock",
        work / f"{peer.key}{i}.pid",
        work / f"{peer.key}{i}.log",
    )
    argv = [
        *peer.prefix,
        *args,
        "-qmp",
        f"unix:{sock},server=on,wait=off",
        "-daemonize",
        "-pidfile",
        str(pidfile),
    ]
    watch_pidfile(pidfile)
    try:
        t0 = time.perf_counter_ns()
        with log.open("ab") as out:
            parent = subprocess.Popen(
                argv, cwd=peer.cwd, env=peer.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            status = wait_exact(parent, timeout)
        except PeerError as exc:
            raise PeerError(f"-daemonize parent {exc}") from None
        if status != 0:
            raise PeerError(f"-daemonize parent exited with status {status}:\n" + log_tail(log))
        with connect_when_ready(sock, None, log, timeout) as conn:
            conn.greeting()
            greeted = time.perf_counter_ns() - t0
            ended = greeted if talk is None else talk(conn) - t0
        return greeted, ended
    finally:
        kill_pidfile(pidfile)
        kill_adopted()


def first_reply(conn: QmpConn) -> int:
    """The first command after negotiation (query-status): when the monitor has really answered."""
    conn.send(b'{"execute":"qmp_capabilities"}\n')
    conn.read_message()
    conn.send(b'{"execute":"query-status"}\n')
    conn.read_message()
    return time.perf_counter_ns()


def probe(conn: QmpConn) -> int:
    conn.send(b'{"execute":"qmp_capabilities"}\n')
    conn.read_message()
    for request in PROBE:  # one at a time, as libvirt waits for each reply
        conn.send(request)
        conn.read_message()
    return time.perf_counter_ns()


def measure(peers: list[Peer], opts: argparse.Namespace, work: Path) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {p.key: {} for p in peers}

    def add(peer: Peer, metric: str, ns: int) -> None:
        out[peer.key].setdefault(metric, []).append(ns / 1e6)

    for i in range(opts.runs + 1):  # run 0 warms the page cache and is not counted
        for peer in peers if i % 2 else reversed(peers):
            log = work / f"{peer.key}.log"
            version = timed_exit(peer, ["-version"], log, opts.timeout)
            machines = timed_exit(peer, ["-machine", "help"], log, opts.timeout)
            greeting, replied = daemonized(peer, START_ARGS, work, i, opts.timeout, first_reply)
            probe_greeting, probe_end = daemonized(peer, PROBE_ARGS, work, i, opts.timeout, probe)
            if i:
                add(peer, "version", version)
                add(peer, "machine_help", machines)
                add(peer, "greeting", greeting)
                add(peer, "first_reply", replied)
                add(peer, "probe", probe_end)
                add(peer, "probe_talk", probe_end - probe_greeting)
    return out


ROWS = (
    ("version", "`-version`, spawn to exit", 2.0),
    ("machine_help", "`-machine help`, spawn to exit", 2.0),
    ("greeting", "start to QMP greeting (`-M q35 -smp 1,maxcpus=255 -S -daemonize`)", 1.0),
    ("first_reply", "start to first reply (the same start; qmp_capabilities, then query-status)", None),
    ("probe", f"libvirt's capability probe, spawn to last reply ({len(PROBE) + 1} commands)", 1.5),
    ("probe_talk", "libvirt's capability probe, the conversation alone (greeting to last reply)", None),
)


def table(results: dict[str, dict[str, list[float]]], labels: dict[str, str], runs: int) -> list[str]:
    lines = [
        f"| metric (median of {runs}, ms, min {DASH} max) | {labels['qemu']} | {labels['vmd']} "
        "| vmd / QEMU | target | met? |",
        "|---|---:|---:|---:|---|---|",
    ]
    for key, title, target in ROWS:
        q, v = results["qemu"].get(key), results["vmd"].get(key)
        if not q or not v:
            lines.append(f"| {title} | — | — | — | — | n/a |")
            continue
        qm, vm = statistics.median(q), statistics.median(v)
        ratio = vm / qm
        spread = f" ({min(v):.1f} {DASH} {max(v):.1f})"
        goal = "—" if target is None else f"{LE} {target:g}{TIMES}"
        met = "n/a" if target is None else ("met" if ratio <= target else "**not met**")
        lines.append(
            f"| {title} | {qm:.1f} ({min(q):.1f} {DASH} {max(q):.1f}) | {vm:.1f}{spread} | "
            f"{ratio:.2f}{TIMES} | {goal} | {met} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vmd", metavar="CMD", help="vmd's command (default: .venv-run/bin/vmd or python -m vmd)")
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--runs", type=positive_int, default=15)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--json", metavar="PATH", help="also write the samples as JSON")
    opts = p.parse_args(argv)
    become_subreaper()
    vmd = vmd_peer(opts)
    qemu = Peer("qemu", f"QEMU {qemu_version(opts.qemu)}", [opts.qemu], None, dict(os.environ))
    work = Path(tempfile.mkdtemp(prefix="vs", dir="/tmp"))  # sun_path is 108 bytes
    try:
        results = measure([qemu, vmd], opts, work)
    except PeerError as exc:
        print(f"bench_startup: {exc}", file=sys.stderr)
        return 1
    finally:
        reap_all()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{os.cpu_count()} host CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
          f"vmd: {' '.join(vmd.prefix)}\n")  # fmt: skip
    print("\n".join(table(results, {"qemu": qemu.label, "vmd": vmd.label}, opts.runs)))
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
