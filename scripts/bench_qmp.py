#!/usr/bin/env python3
"""Benchmark QMP against QEMU and vmd in one run and print a markdown table.

Rows (same raw-socket client for every peer, see benchlib.QmpConn):
  * query-status round trip, p50 and p99, sequential request/reply, once with
    client and peer pinned to one CPU and once to two (see Placement);
  * pipelined query-status, commands per second;
  * process start until the QMP greeting has arrived, with -daemonize.

Besides QEMU and vmd, a third column measures the floor: scripts/qmp_floor.c,
a C program that answers each request line with a fixed reply and does
nothing else.  It is what any separate process costs on this machine with
this client (system calls, wake-ups, scheduling), so a target that the floor
itself misses cannot be met by any server here.  gcc builds it into the
run's scratch directory; --no-floor leaves it out.

Usage:
  python scripts/bench_qmp.py                    # QEMU vs `python -m vmd`
  python scripts/bench_qmp.py --only qemu        # QEMU only
  python scripts/bench_qmp.py --runs 3 --json results.json
  python scripts/bench_qmp.py --placements free  # round trips unpinned
  python scripts/bench_qmp.py --peer-cmd \\
      'qemu-system-x86_64 -S -display none -nodefaults \\
       -qmp unix:{sock},server=on,wait=off {daemon}'

This is a benchmark, not a test: it exits non-zero only if a peer fails,
never because a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

import svgplot
from benchlib import (
    PeerError,
    PeerSpec,
    QmpConn,
    become_subreaper,
    connect_when_ready,
    gc_paused,
    kill_adopted,
    kill_pidfile,
    log_tail,
    percentile,
    positive_int,
    qemu_version,
    spawn,
    stop_process,
    wait_exact,
    watch_pidfile,
    write_json,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
COMMON_ARGS = (
    "-M", "q35", "-smp", "1,maxcpus=255", "-S", "-display", "none",
    "-nodefaults", "-no-user-config",
    "-qmp", "unix:{sock},server=on,wait=off",
    "{daemon}",
)  # fmt: skip
FLOOR_SOURCE = REPO_ROOT / "scripts" / "qmp_floor.c"
# Spelled as escapes: ruff (RUF001) rejects ambiguous literal characters.
TIMES = "\N{MULTIPLICATION SIGN}"
DASH = "\N{EN DASH}"


# --------------------------------------------------------------------------
# Results and rows


@dataclass
class PeerResult:
    """One peer's figures for one run, by metric key; missing where the measurement failed."""

    values: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # Round-trip samples in ns by placement key, kept for the --plots CDFs.
    samples: dict[str, list[int]] = field(default_factory=dict)

    def get(self, metric: str) -> float | None:
        return self.values.get(metric)


@dataclass(frozen=True)
class Row:
    metric: str
    title: str
    unit: str
    target: str
    meets: Callable[[float], bool]  # applied to the ratio vmd / QEMU


@dataclass(frozen=True)
class Placement:
    """Where the client and the peers run while round trips are timed.

    Left to itself the scheduler puts a client and its server on one CPU or on two, and
    keeps each pair the way it first put it, so an unpinned figure depends on a coin toss
    per peer.  Pinned, each figure means one thing: on one CPU a round trip is two
    context switches; on two CPUs it is two wake-ups of an idle CPU, which cost tens of µs
    on a virtual machine (a vCPU that halted has to be scheduled again by the host).
    """

    key: str
    title: str
    client: frozenset[int] | None  # None: wherever the scheduler likes
    peers: frozenset[int] | None


def placements(names: list[str]) -> list[Placement]:
    """The placements asked for, on the CPUs this process may use (the last one for peers)."""
    cpus = sorted(os.sched_getaffinity(0))
    first, last = frozenset({cpus[0]}), frozenset({cpus[-1]})
    known = {
        "one-cpu": Placement("one-cpu", f"client and peer on CPU {cpus[-1]}", last, last),
        "two-cpus": Placement("two-cpus", f"client on CPU {cpus[0]}, peer on CPU {cpus[-1]}", first, last),
        "free": Placement("free", "unpinned", None, None),
    }
    chosen = []
    for name in names:
        if name not in known:
            raise SystemExit(f"--placements: unknown placement {name!r} (one of: {', '.join(known)})")
        if name == "two-cpus" and len(cpus) < 2:
            print("two-cpus: left out, this process may use one CPU only", file=sys.stderr)
            continue
        chosen.append(known[name])
    return chosen


def rows_for(chosen: list[Placement]) -> list[Row]:
    rows = []
    for pl in chosen:
        for pct in (50, 99):
            rows.append(
                Row(f"rt_p{pct}_us/{pl.key}", f"query-status round trip p{pct}, {pl.title}", "µs",
                    f"≤ 0.25{TIMES}", lambda r: r <= 0.25)
            )  # fmt: skip
    return [
        *rows,
        Row("pipelined_per_s", "pipelined query-status", "cmd/s", f"≥ 5{TIMES}", lambda r: r >= 5),
        Row("start_ms", "start to QMP greeting (-daemonize)", "ms", f"≤ 3{TIMES}", lambda r: r <= 3),
    ]


def pin(pid: int, cpus: frozenset[int] | None) -> None:
    """Move every thread of `pid` (0: this process) to `cpus` (None: every CPU we may use)."""
    target = cpus if cpus is not None else _ALL_CPUS
    if pid == 0:
        os.sched_setaffinity(0, target)
        return
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return  # it died; the next round trip reports that
    for tid in tids:
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, target)


_ALL_CPUS = frozenset(os.sched_getaffinity(0))


# --------------------------------------------------------------------------
# Measurements


# Peers are measured in alternation (block by block, round by round, start
# by start) rather than one after the other, so that a burst of load from
# elsewhere on the machine hits every column alike and the ratios stay fair.
RT_BLOCK = 250  # default recorded round trips per peer before switching
RT_REWARM = 10  # unrecorded round trips after each switch, see latency_block


@dataclass
class Live:
    """A long-running peer process with its negotiated QMP connection."""

    spec: PeerSpec
    proc: subprocess.Popen[bytes]
    log: Path
    conn: QmpConn | None = None
    samples: list[int] = field(default_factory=list)  # of the placement being measured
    rates: list[float] = field(default_factory=list)

    @property
    def qmp(self) -> QmpConn:
        if self.conn is None:
            raise PeerError("not connected")
        return self.conn


Results = dict[str, PeerResult]
Lives = dict[str, Live]


def record_failure(results: Results, spec: PeerSpec, phase: str, exc: PeerError) -> None:
    """A failure is recorded, not fatal: the other peer's figures still count."""
    msg = f"{spec.label}: {phase} failed: {exc}"
    results[spec.key].errors.append(msg)
    print(msg, file=sys.stderr, flush=True)


def open_live(spec: PeerSpec, work: Path, opts: argparse.Namespace) -> Live:
    sock, log = work / f"{spec.key}.sock", work / f"{spec.key}.log"
    live = Live(spec, spawn(spec.argv(sock, None), spec.cwd, log), log)
    try:
        # connect_when_ready's own errors already carry the peer's output.
        live.conn = connect_when_ready(sock, live.proc, log, opts.timeout)
        live.conn.negotiate()
    except BaseException:
        close_live(live)
        raise
    return live


def close_live(live: Live) -> None:
    if live.conn is not None:
        live.conn.close()
    stop_process(live.proc)


def with_exit_status(live: Live, exc: PeerError) -> PeerError:
    """If the peer died, its own output says why; attach it."""
    if live.proc.poll() is None:
        return exc
    return PeerError(f"{exc}; exited with status {live.proc.returncode}:\n{log_tail(live.log)}")


def rotate(lives: Lives, results: Results, phase: str, step: Callable[[Live], object]) -> None:
    """Run `step` once on every live peer in turn; drop peers that fail."""
    for key, live in list(lives.items()):
        try:
            step(live)
        except PeerError as exc:
            record_failure(results, live.spec, phase, with_exit_status(live, exc))
            close_live(lives.pop(key))


def latency_block(live: Live, count: int) -> None:
    # The first replies after a switch come from a peer whose caches the
    # other peer just evicted; recorded, they would land in p99 once per block.
    live.qmp.round_trips(RT_REWARM)
    live.samples += live.qmp.round_trips(count)


def pipeline_round(live: Live, k: int) -> None:
    live.rates.append(k * 1e9 / live.qmp.pipeline(k))


def measure_latency(lives: Lives, results: Results, opts: argparse.Namespace, where: Placement) -> None:
    pin(0, where.client)
    for live in lives.values():
        pin(live.proc.pid, where.peers)
        live.samples = []
    rotate(lives, results, "round trip", lambda live: live.qmp.round_trips(opts.warmup))
    for start in range(0, opts.samples, opts.block):
        count = min(opts.block, opts.samples - start)
        rotate(lives, results, "round trip", functools.partial(latency_block, count=count))
    for key, live in lives.items():
        samples = sorted(live.samples)
        results[key].samples[where.key] = samples
        for pct in (50, 99):
            results[key].values[f"rt_p{pct}_us/{where.key}"] = percentile(samples, pct) / 1000


def measure_pipeline(lives: Lives, results: Results, opts: argparse.Namespace) -> None:
    k = opts.pipeline
    rotate(lives, results, "pipelined", lambda live: live.qmp.pipeline(min(k, 200)))  # warm-up
    for _ in range(opts.pipeline_rounds):
        rotate(lives, results, "pipelined", functools.partial(pipeline_round, k=k))
    for key, live in lives.items():
        results[key].values["pipelined_per_s"] = statistics.median(live.rates)


def measure_live(specs: list[PeerSpec], work: Path, opts: argparse.Namespace, results: Results) -> None:
    """Round trip and pipelined rows, on one long-running process per peer."""
    lives: Lives = {}
    try:
        for spec in specs:
            try:
                lives[spec.key] = open_live(spec, work, opts)
            except PeerError as exc:
                record_failure(results, spec, "start", exc)
        with gc_paused():
            for where in opts.chosen_placements:
                measure_latency(lives, results, opts, where)
            pin(0, None)  # the rest unpinned, as before
            for live in lives.values():
                pin(live.proc.pid, None)
            measure_pipeline(lives, results, opts)
    finally:
        for live in lives.values():
            close_live(live)


def start_daemonized(spec: PeerSpec, sock: Path, pidfile: Path, log: Path, timeout: float) -> int:
    """Spawn with -daemonize; nanoseconds from spawn to the greeting."""
    watch_pidfile(pidfile)  # so that even Ctrl-C right after spawn reaps it
    try:
        t0 = time.perf_counter_ns()
        parent = spawn(spec.argv(sock, pidfile), spec.cwd, log)
        try:
            status = wait_exact(parent, timeout)  # the parent exits once the child is ready
        except PeerError as exc:
            raise PeerError(f"-daemonize parent {exc}:\n" + log_tail(log)) from None
        finally:
            stop_process(parent)
        if status != 0:
            raise PeerError(f"-daemonize parent exited with status {status}:\n" + log_tail(log))
        with connect_when_ready(sock, None, log, timeout) as conn:
            conn.greeting()
            return time.perf_counter_ns() - t0
    finally:
        kill_pidfile(pidfile)
        # Safety net for a start that was interrupted or failed before the
        # pidfile was written; it also reaps the -daemonize intermediate.
        kill_adopted()


def start_foreground(spec: PeerSpec, sock: Path, log: Path, timeout: float) -> int:
    """For --peer-cmd without {daemon}: poll the socket of a foreground child."""
    t0 = time.perf_counter_ns()
    proc = spawn(spec.argv(sock, None), spec.cwd, log)
    try:
        with connect_when_ready(sock, proc, log, timeout) as conn:
            conn.greeting()
            return time.perf_counter_ns() - t0
    finally:
        stop_process(proc)


def start_once(spec: PeerSpec, work: Path, i: int, timeout: float) -> int:
    sock, log = work / f"{spec.key}-s{i}.sock", work / f"{spec.key}-s{i}.log"
    if spec.can_daemonize:
        return start_daemonized(spec, sock, work / f"{spec.key}-s{i}.pid", log, timeout)
    return start_foreground(spec, sock, log, timeout)


def measure_start(specs: list[PeerSpec], work: Path, opts: argparse.Namespace, results: Results) -> None:
    times: dict[str, list[int]] = {spec.key: [] for spec in specs}
    active = list(specs)
    # Start 0 is thrown away: it pays for a cold page cache and first-time
    # loading that a management stack would not see on every start.
    for i in range(opts.starts + 1):
        for spec in list(active):
            try:
                elapsed = start_once(spec, work, i, opts.timeout)
            except PeerError as exc:
                record_failure(results, spec, "start-up", exc)
                active.remove(spec)
                continue
            if i:
                times[spec.key].append(elapsed)
    for spec in active:
        results[spec.key].values["start_ms"] = statistics.median(times[spec.key]) / 1e6


# --------------------------------------------------------------------------
# Report


def fmt_value(metric: str, value: float | None) -> str:
    if value is None:
        return "—"
    if metric == "pipelined_per_s":
        return f"{value:,.0f}/s"
    if metric == "start_ms":
        return f"{value:.1f} ms"
    return f"{value:.1f} µs"


def ratio_of(qemu: float | None, vmd: float | None) -> float | None:
    if qemu is None or vmd is None or qemu == 0:
        return None
    return vmd / qemu


def verdict(row: Row, ratio: float | None, floor_ratio: float | None = None) -> str:
    if ratio is None:
        return "n/a"
    if row.meets(ratio):
        return "met"
    if floor_ratio is not None and not row.meets(floor_ratio):
        return "**not met**, out of reach here (the floor misses it too)"
    return "**not met**"


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}{TIMES}"


def table_header(labels: dict[str, str]) -> list[str]:
    columns = [labels[p] for p in labels]
    ratios = [f"{labels[p]} / QEMU" for p in labels if p != "qemu"]
    return [
        "| metric | " + " | ".join(columns + ratios) + " | target | met? |",
        "|---|" + "---:|" * (len(columns) + len(ratios)) + "---|---|",
    ]


def table_line(row: Row, values: dict[str, str], ratios: dict[str, float | None]) -> str:
    """One row: a value per peer, then each peer's ratio to QEMU; the verdict is vmd's."""
    shown = [values[p] for p in values] + [fmt_ratio(ratios[p]) for p in ratios]
    return (
        f"| {row.title} | "
        + " | ".join(shown)
        + f" | {row.target} | {verdict(row, ratios.get('vmd'), ratios.get('floor'))} |"
    )


def run_table(result: dict[str, PeerResult], labels: dict[str, str], rows: list[Row]) -> list[str]:
    lines = table_header(labels)
    for row in rows:
        values = {p: result[p].get(row.metric) for p in labels}
        ratios = {p: ratio_of(values["qemu"], values[p]) for p in labels if p != "qemu"}
        lines.append(table_line(row, {p: fmt_value(row.metric, v) for p, v in values.items()}, ratios))
    return lines


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt_spread(metric: str, s: dict[str, float] | None) -> str:
    if s is None:
        return "—"
    return (
        f"{fmt_value(metric, s['median'])} "
        f"({fmt_value(metric, s['min'])} {DASH} {fmt_value(metric, s['max'])})"
    )


def summarize(
    runs: list[dict[str, PeerResult]], peers: list[str], rows: list[Row]
) -> dict[str, dict[str, Any]]:
    """Median and range over runs; each ratio is that of the medians ("ratio" is vmd's)."""
    summary: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry: dict[str, Any] = {}
        for peer in peers:
            values = [r[peer].get(row.metric) for r in runs]
            entry[peer] = spread([x for x in values if x is not None])
        q = entry["qemu"]
        for peer in peers:
            if peer != "qemu":
                e = entry[peer]
                entry[f"{peer}_ratio"] = ratio_of(q and q["median"], e and e["median"])
        ratio, floor_ratio = entry.get("vmd_ratio"), entry.get("floor_ratio")
        entry.update(
            ratio=ratio,
            target=row.target,
            met=None if ratio is None else row.meets(ratio),
            reachable=None if floor_ratio is None else row.meets(floor_ratio),  # by the floor
        )
        summary[row.metric] = entry
    return summary


def summary_table(summary: dict[str, dict[str, Any]], labels: dict[str, str], rows: list[Row]) -> list[str]:
    lines = table_header(labels)
    for row in rows:
        e = summary[row.metric]
        values = {p: fmt_spread(row.metric, e[p]) for p in labels}
        lines.append(table_line(row, values, {p: e[f"{p}_ratio"] for p in labels if p != "qemu"}))
    return lines


# --------------------------------------------------------------------------
# Command line and orchestration


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="QMP benchmark: QEMU vs vmd, printed as a markdown table.")
    p.add_argument(
        "--vmd",
        metavar="CMD",
        help="vmd command prefix, run from the repository root (default: %(prog)s's python -m vmd)",
    )
    p.add_argument(
        "--qemu", metavar="PATH", default="qemu-system-x86_64", help="QEMU binary (default: %(default)s)"
    )
    p.add_argument(
        "--peer-cmd",
        metavar="TEMPLATE",
        help="measure this full command line instead of vmd; "
        "{sock} = QMP socket path, a lone {daemon} token = "
        "'-daemonize -pidfile FILE' for the start-up row",
    )
    p.add_argument("--peer-name", metavar="NAME", help="column label for vmd / --peer-cmd")
    p.add_argument(
        "--placements",
        default="one-cpu,two-cpus",
        metavar="LIST",
        help="where client and peers run while round trips are timed, comma-separated: "
        "one-cpu, two-cpus, free (unpinned) (default: %(default)s)",
    )
    p.add_argument("--only", choices=("qemu", "vmd"), help="measure one peer only (no floor)")
    p.add_argument("--no-floor", action="store_true", help="leave out the floor column (scripts/qmp_floor.c)")
    p.add_argument(
        "--block",
        type=positive_int,
        default=RT_BLOCK,
        metavar="N",
        help="round trips per peer before switching to the next (default: %(default)s)",
    )
    p.add_argument(
        "--runs", type=positive_int, default=1, help="repeat the whole table N times (default: %(default)s)"
    )
    p.add_argument(
        "--samples", type=positive_int, default=2000, help="round trips measured (default: %(default)s)"
    )
    p.add_argument(
        "--warmup", type=positive_int, default=200, help="round trips before measuring (default: %(default)s)"
    )
    p.add_argument(
        "--pipeline",
        type=positive_int,
        default=2000,
        metavar="K",
        help="commands per pipelined batch (default: %(default)s)",
    )
    p.add_argument(
        "--pipeline-rounds",
        type=positive_int,
        default=5,
        help="pipelined batches, median taken (default: %(default)s)",
    )
    p.add_argument(
        "--starts", type=positive_int, default=5, help="timed starts, median taken (default: %(default)s)"
    )
    p.add_argument(
        "--timeout", type=float, default=10.0, help="seconds any single wait may take (default: %(default)s)"
    )
    p.add_argument(
        "--plots",
        metavar="DIR",
        help="also draw each placement's round-trip CDF (all runs pooled) as DIR/qmp-rt-<placement>.svg",
    )
    p.add_argument(
        "--json",
        metavar="PATH",
        help="also write results as JSON ('-' = stdout; the tables then go to stderr)",
    )
    return p.parse_args(argv)


def build_floor(work: Path) -> Path:
    """Compile the floor peer; PeerError if there is no compiler or it fails."""
    binary = work / "qmp_floor"
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise PeerError("no C compiler (gcc or cc) on PATH")
    built = subprocess.run(
        [cc, "-O2", "-o", str(binary), str(FLOOR_SOURCE)], capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        raise PeerError(f"{cc} failed on {FLOOR_SOURCE}:\n{built.stderr.strip()}")
    return binary


def build_specs(opts: argparse.Namespace, floor: Path | None) -> dict[str, PeerSpec]:
    qemu = PeerSpec("qemu", "QEMU", (opts.qemu, *COMMON_ARGS), None)
    if opts.peer_cmd:
        template = tuple(shlex.split(opts.peer_cmd))
        if not any("{sock}" in t for t in template):
            raise SystemExit("--peer-cmd must contain {sock}")
        other = PeerSpec("vmd", opts.peer_name or "peer", template, REPO_ROOT)
    else:
        prefix = shlex.split(opts.vmd) if opts.vmd else [sys.executable, "-m", "vmd"]
        other = PeerSpec("vmd", opts.peer_name or "vmd", (*prefix, *COMMON_ARGS), REPO_ROOT)
    specs = {"qemu": qemu, "vmd": other}
    if floor is not None:
        specs["floor"] = PeerSpec("floor", "floor", (str(floor), "{sock}"), None)
    return specs


def run_once(specs: dict[str, PeerSpec], opts: argparse.Namespace) -> Results:
    results: Results = {peer: PeerResult() for peer in specs}
    chosen = [spec for peer, spec in specs.items() if opts.only in (None, peer)]
    work = Path(tempfile.mkdtemp(prefix="vb", dir="/tmp"))  # sun_path is 108 bytes
    try:
        measure_live(chosen, work, opts, results)
        measure_start(chosen, work, opts, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def header(opts: argparse.Namespace, labels: dict[str, str]) -> list[str]:
    lines = [
        f"## QMP benchmark: {labels['qemu']} vs {labels['vmd']}",
        "",
        f"host: {platform.node()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; round trips: {opts.samples} "
        f"(+{opts.warmup} warm-up, blocks of {opts.block}); pipelined: {opts.pipeline} {TIMES} "
        f"{opts.pipeline_rounds}; starts: {opts.starts} (+1 discarded); pipelined and starts unpinned",
    ]
    if "floor" in labels:
        lines += [
            "",
            "floor: scripts/qmp_floor.c, a fixed reply per request line and nothing else (not a QMP "
            "server): what any separate process costs here; a target the floor misses is out of "
            "reach on this machine.",
        ]
    return lines


def result_json(r: PeerResult) -> dict[str, Any]:
    return {**r.values, "errors": r.errors}


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    # SIGTERM → SystemExit so that finally blocks and atexit reap the peers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    become_subreaper()
    opts.chosen_placements = placements([name for name in opts.placements.split(",") if name])
    with tempfile.TemporaryDirectory(prefix="vbf", dir="/tmp") as scratch:
        floor = None
        if not opts.no_floor and opts.only is None:
            try:
                floor = build_floor(Path(scratch))
            except PeerError as exc:
                print(f"floor: left out: {exc}", file=sys.stderr, flush=True)
        return report(opts, build_specs(opts, floor))


def report(opts: argparse.Namespace, specs: dict[str, PeerSpec]) -> int:
    labels = {"qemu": f"QEMU {qemu_version(opts.qemu)}"}
    labels.update((key, spec.label) for key, spec in specs.items() if key != "qemu")
    out: TextIO = sys.stderr if opts.json == "-" else sys.stdout
    print("\n".join(header(opts, labels)), file=out, flush=True)

    rows = rows_for(opts.chosen_placements)
    runs: list[dict[str, PeerResult]] = []
    for i in range(opts.runs):
        runs.append(run_once(specs, opts))
        title = f"\n### run {i + 1}/{opts.runs}\n" if opts.runs > 1 else ""
        print(title + "\n" + "\n".join(run_table(runs[-1], labels, rows)), file=out, flush=True)

    summary = summarize(runs, list(specs), rows)
    if opts.runs > 1:
        print(
            f"\n### summary: median (min {DASH} max) over {opts.runs} runs\n\n"
            + "\n".join(summary_table(summary, labels, rows)),
            file=out,
        )
    if opts.json:
        write_json(
            opts.json,
            {
                "labels": labels,
                "settings": {k: v for k, v in vars(opts).items() if k != "chosen_placements"},
                "runs": [{p: result_json(r[p]) for p in specs} for r in runs],
                "summary": summary,
            },
        )
    if opts.plots:
        for path in draw_cdfs(Path(opts.plots), runs, labels, opts.chosen_placements):
            print(f"wrote {path}", file=sys.stderr)
    failed = any(r[p].errors for r in runs for p in specs)
    return 1 if failed else 0


def draw_cdfs(
    directory: Path, runs: list[dict[str, PeerResult]], labels: dict[str, str], chosen: list[Placement]
) -> list[Path]:
    """One latency CDF per placement: a tail that a p99 cell hides is visible as a curve."""
    written = []
    for where in chosen:
        series = []
        for peer, label in labels.items():
            pooled = [ns / 1000 for r in runs for ns in r[peer].samples.get(where.key, [])]
            if pooled:
                series.append(svgplot.Series(label, svgplot.cdf_points(pooled), dashed=peer == "floor"))
        if not series:
            continue
        svg = svgplot.line_chart(
            f"query-status round trip, {where.title}",
            svgplot.Axis("round trip (µs, log scale)", log=True),
            svgplot.Axis("fraction of round trips ≤ x"),
            series,
            note=f"scripts/bench_qmp.py, {len(runs)} run(s)",
            legend="lower right",
        )
        written.append(svgplot.write_chart(directory / f"qmp-rt-{where.key}.svg", svg))
    return written


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
