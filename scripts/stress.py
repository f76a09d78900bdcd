#!/usr/bin/env python3
"""The reliability suite's long mode: the drivers of tests/reliability/drivers.py at full size,
against vmd and, where the same test applies, QEMU 7.2; prints the figures.

    python3 scripts/stress.py --markdown             # the README's table (goal sizes; long)
    python3 scripts/stress.py --quick                # every driver, small
    python3 scripts/stress.py --only fuzz --fuzz 5000 --json out.json

Each driver's result is reported whole (--json) and summed up in one table row per figure
(--markdown); problems found are listed after the table.  Exit status 1 when any driver found a
problem.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
import time
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.peers import Peer, short_tmpdir, start_peer
from tests.reliability import drivers

FUZZ_ARGS = ["-M", "q35", "-smp", "1,maxcpus=4", "-S", "-no-shutdown"]
QUERY_ARGS = ["-M", "q35", "-smp", "1,maxcpus=4", "-S"]
ALL = ("fuzz", "clients", "misbehave", "soak", "chaos", "noguest", "signals")


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def fuzz_progress(result: drivers.FuzzResult) -> None:
    log(f"  {result.inputs:,} inputs, {result.replies:,} replies, {len(result.problems)} problems")


def peer(kind: str, args: list[str], **kwargs: Any) -> Peer:
    if kind == "qemu":
        args = [*args, "-name", "stress,debug-threads=on"]
    return start_peer(kind, args, **kwargs)


def finish(p: Peer) -> None:
    if p.alive():
        p.stop()
    shutil.rmtree(p.workdir, ignore_errors=True)


def plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        out = asdict(value)
        if isinstance(value, drivers.LatencyResult):
            out.pop("samples")
            out.pop("stored")
            out.update(count=value.count, p50_ms=value.p50_ms, p99_ms=value.p99_ms, max_ms=value.max_ms)
        return out
    return value


async def run(options: argparse.Namespace) -> dict[str, Any]:
    kinds = options.peers.split(",")
    only = set(options.only.split(",")) if options.only else set(ALL)
    out: dict[str, Any] = {
        "sizes": vars(options),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    for kind in kinds:
        results: dict[str, Any] = {}
        out[kind] = results
        if "fuzz" in only:
            count = options.qemu_fuzz if kind == "qemu" and options.qemu_fuzz else options.fuzz
            log(f"{kind}: fuzz, {count} inputs")
            p = peer(kind, FUZZ_ARGS)
            try:
                results["fuzz"] = await drivers.fuzz(
                    p,
                    count,
                    seed=options.seed,
                    progress=fuzz_progress,
                    seconds=options.fuzz_minutes * 60 if options.fuzz_minutes else None,
                )
            finally:
                finish(p)
        if "clients" in only:
            log(f"{kind}: {options.clients} clients x {options.commands} commands")
            # QEMU serves one client per monitor: it gets a monitor per client, vmd one socket for all.
            p = peer(kind, QUERY_ARGS, monitors=options.clients if kind == "qemu" else 1)
            try:
                results["clients"] = await drivers.many_clients(p.sockets, options.clients, options.commands)
            finally:
                finish(p)
        if "noguest" in only:
            log(f"{kind}: plug without a guest, {options.slots} slots, {options.refused} refused cycles")
            p = peer(kind, ["-M", "q35", "-smp", f"1,maxcpus={options.slots}", "-S"])
            try:
                results["noguest"] = await drivers.plug_without_guest(p, options.slots, options.refused)
            finally:
                finish(p)
        if kind != "vmd":
            continue
        if "soak" in only:
            results["soak"] = []
            for policy, guest in drivers.POLICIES.items():
                cycles = options.cycles if policy == "accept" else options.policy_cycles
                log(f"vmd: plug/unplug soak, {policy}, {cycles} cycles")
                p = peer("vmd", ["-M", "q35", "-smp", "1,maxcpus=4", "-vmd-guest", guest])
                try:
                    results["soak"].append(await drivers.plug_soak(p, policy, cycles))
                finally:
                    finish(p)
        if "chaos" in only:
            log(f"vmd: hotplug chaos, {options.chaos_rounds} rounds of 30 requests")
            p = peer("vmd", ["-M", "q35", "-smp", "1,maxcpus=4", "-no-shutdown"])
            try:
                results["chaos"] = await drivers.hotplug_chaos(p, options.chaos_rounds, seed=options.seed)
            finally:
                finish(p)
        if "signals" in only:
            rounds: dict[str, Any] = {}
            for signum in (signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP):
                name = signal.Signals(signum).name
                log(f"vmd: {name} mid-plug, {options.signal_rounds} rounds")
                problems: list[str] = []
                for n in range(options.signal_rounds):
                    workdir = short_tmpdir()
                    try:
                        found = await drivers.signal_round(workdir, signum, delay=(n % 10) * 0.001)
                        problems += [f"round {n}: {p}" for p in found]
                    finally:
                        shutil.rmtree(workdir, ignore_errors=True)
                rounds[name] = {"rounds": options.signal_rounds, "problems": problems}
            results["signals"] = rounds
    if "misbehave" in only:
        # Peer by peer for each misbehaviour, so both see the machine in the same minutes.
        for mode in [None, *drivers.MISBEHAVIOURS]:
            for kind in kinds:
                log(f"{kind}: innocent client, misbehaviour {mode}, {options.latency_seconds} s")
                # QEMU serves one client per monitor: the innocent one gets its own.
                p = peer(kind, QUERY_ARGS, monitors=2 if kind == "qemu" else 1)
                try:
                    result = await drivers.innocent_latency(p, mode, options.latency_seconds)
                    out[kind].setdefault("misbehave", []).append(result)
                finally:
                    finish(p)
    return out


def _res(first: drivers.Resources | None, last: drivers.Resources | None) -> str:
    if first is None or last is None:
        return "n/a"
    return (
        f"threads {first.threads} → {last.threads}, fds {first.fds} → {last.fds}, "
        f"RSS {first.rss_kib / 1024:.1f} → {last.rss_kib / 1024:.1f} MiB"
    )


def markdown(out: dict[str, Any], kinds: list[str]) -> str:
    rows: list[tuple[str, dict[str, str]]] = []

    def row(title: str, cell: Any) -> None:
        rows.append((title, {k: cell(out[k]) if k in out else "not run" for k in kinds}))

    def get(results: dict[str, Any], key: str) -> Any:
        return results.get(key)

    if any("fuzz" in out[k] for k in kinds):

        def fuzz_cell(results: dict[str, Any]) -> str:
            f = get(results, "fuzz")
            if f is None:
                return "not run"
            return (
                f"{f.inputs:,} inputs ({f.replies:,} replies, {f.errors:,} errors): "
                f"{f.crashes} crashes, {f.hangs} hangs, {f.lost} lost, {f.malformed} malformed, "
                f"{f.disconnects} disconnects; {f.seconds:.0f} s"
            )

        row("fuzzed inputs (schema-driven + byte mutation, split and merged writes)", fuzz_cell)
    if any("clients" in out[k] for k in kinds):

        def clients_cell(results: dict[str, Any]) -> str:
            c = get(results, "clients")
            if c is None:
                return "not run"
            return (
                f"{c.clients} x {c.commands // max(c.clients, 1):,} = {c.commands:,}: {c.lost} lost, "
                f"{c.duplicated} duplicated, {c.reordered} reordered, {c.foreign} misdelivered; "
                f"{c.seconds:.0f} s"
            )

        row("concurrent clients x commands (pipelined, ids checked)", clients_cell)
    for mode in [None, *drivers.MISBEHAVIOURS]:
        name = mode or "none"

        def latency_cell(results: dict[str, Any], name: str = name) -> str:
            for r in results.get("misbehave", []):
                if r.mode == name:
                    rss = (
                        f"; RSS {r.before.rss_kib / 1024:.1f} → {r.after.rss_kib / 1024:.1f} MiB"
                        if r.before and r.after
                        else ""
                    )
                    return (
                        f"p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms, max {r.max_ms:.1f} ms "
                        f"({r.count:,} samples, {r.failures} failed){rss}"
                    )
            return "not run"

        if any(r.mode == name for k in kinds for r in out.get(k, {}).get("misbehave", [])):
            row(f"innocent client's query-status while another client: {name}", latency_cell)
    if any("noguest" in out[k] for k in kinds):

        def noguest_cell(results: dict[str, Any]) -> str:
            n = get(results, "noguest")
            if n is None:
                return "not run"
            return (
                f"{n.plugged} plugged (views agree: {'no' if n.problems else 'yes'}), {n.refused:,} refused "
                f"plug+unplug pairs: {_res(n.first, n.last)}"
            )

        row("plug without a guest (-S), then refused plug/unplug requests", noguest_cell)
    for policy in drivers.POLICIES:

        def soak_cell(results: dict[str, Any], policy: str = policy) -> str:
            for s in results.get("soak", []):
                if s.policy == policy:
                    return (
                        f"{s.cycles:,} cycles, {s.checks:,} checks, {s.poller_answers:,} poller answers, "
                        f"{len(s.problems)} problems; {_res(s.first, s.last)}; {s.seconds:.0f} s"
                    )
            return "n/a: no guest OS" if results is out.get("qemu") else "not run"

        if any(s.policy == policy for s in out.get("vmd", {}).get("soak", [])):
            row(f"plug/unplug soak, guest `{drivers.POLICIES[policy]}`, 2 pollers", soak_cell)
    if "chaos" in out.get("vmd", {}):

        def chaos_cell(results: dict[str, Any]) -> str:
            c = results.get("chaos")
            if c is None:
                return "n/a: no guest OS" if results is out.get("qemu") else "not run"
            return (
                f"{c.rounds:,} rounds, {c.steps:,} requests, {c.replies:,} replies read: "
                f"{len(c.problems)} problems; {c.seconds:.0f} s"
            )

        row(
            "random plug/unplug/reset/stop/policy/online requests from 2 clients, then made whole", chaos_cell
        )
    if "signals" in out.get("vmd", {}):
        for name in ("SIGTERM", "SIGKILL", "SIGSTOP"):

            def signal_cell(results: dict[str, Any], name: str = name) -> str:
                s = results.get("signals", {}).get(name)
                if s is None:
                    return "not run" if results is out.get("vmd") else "not measured"
                return f"{s['rounds']} rounds, {len(s['problems'])} problems"

            row(f"{name} mid-plug (stale socket, pidfile, modes, bystander file)", signal_cell)
    names = {"qemu": "QEMU 7.2", "vmd": "vmd"}
    lines = ["| test | " + " | ".join(names.get(k, k) for k in kinds) + " |", "|---|" + "---|" * len(kinds)]
    lines += [f"| {title} | " + " | ".join(cells[k] for k in kinds) + " |" for title, cells in rows]
    return "\n".join(lines)


def problems_of(out: dict[str, Any], kinds: list[str]) -> list[str]:
    found = []
    for kind in kinds:
        for name, value in out.get(kind, {}).items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                if name == "signals":
                    for signame, s in v.items():
                        found += [f"{kind} signals {signame}: {p}" for p in s["problems"]]
                else:
                    label = getattr(v, "mode", None) or getattr(v, "policy", None) or ""
                    found += [f"{kind} {name} {label}: {p}" for p in v.problems]
    return found


RESULT_TYPES: dict[str, Any] = {
    "fuzz": drivers.FuzzResult,
    "clients": drivers.ClientsResult,
    "misbehave": drivers.LatencyResult,
    "soak": drivers.SoakResult,
    "noguest": drivers.PlugFillResult,
    "chaos": drivers.ChaosResult,
}


def _revive(kind: type, data: dict[str, Any]) -> Any:
    assert is_dataclass(kind), kind
    names = {member.name for member in fields(kind)}
    kept = {k: v for k, v in data.items() if k in names}
    for key in ("first", "last", "before", "after"):
        if isinstance(kept.get(key), dict):
            kept[key] = drivers.Resources(**kept[key])
    if kind is drivers.LatencyResult:
        kept.pop("samples", None)
        count = data.get("count", data.get("samples"))
        kept["stored"] = {"count": count, **{k: data[k] for k in ("p50_ms", "p99_ms", "max_ms")}}
    return kind(**kept)


def load(paths: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Results of earlier runs (--json files), merged: a later file's drivers are added to the
    earlier ones'.  Returns them with the command lines that produced them."""
    out: dict[str, Any] = {}
    commands = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        commands.append(f"`{data.get('command', path)}` ({data['started']})")
        for kind, results in data.items():
            if kind in ("sizes", "started", "command"):
                continue
            for name, value in results.items():
                revive = RESULT_TYPES.get(name)
                if revive is None:
                    out.setdefault(kind, {})[name] = value
                elif isinstance(value, list):
                    out.setdefault(kind, {})[name] = [_revive(revive, v) for v in value]
                elif name == "fuzz" and "fuzz" in out.get(kind, {}):
                    # Two fuzz runs (seeds) of one peer: their counts add up.
                    out[kind]["fuzz"] = _add_fuzz(out[kind]["fuzz"], _revive(revive, value))
                else:
                    out.setdefault(kind, {})[name] = _revive(revive, value)
    return out, commands


def _add_fuzz(a: drivers.FuzzResult, b: drivers.FuzzResult) -> drivers.FuzzResult:
    total = drivers.FuzzResult()
    for name in (
        "inputs",
        "replies",
        "errors",
        "crashes",
        "hangs",
        "lost",
        "disconnects",
        "malformed",
        "seconds",
    ):
        setattr(total, name, getattr(a, name) + getattr(b, name))
    total.by_kind = {k: a.by_kind.get(k, 0) + b.by_kind.get(k, 0) for k in {*a.by_kind, *b.by_kind}}
    total.problems = a.problems + b.problems
    return total


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", default="qemu,vmd")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--fuzz", type=int, default=100_000, help="fuzzed inputs")
    parser.add_argument("--qemu-fuzz", type=int, help="fuzzed inputs for QEMU (it is slower), default --fuzz")
    parser.add_argument("--fuzz-minutes", type=float, help="stop fuzzing a peer after this long")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--commands", type=int, default=10_000, help="commands per client")
    parser.add_argument("--latency-seconds", type=float, default=20.0, help="per misbehaviour")
    parser.add_argument("--cycles", type=int, default=10_000, help="plug/unplug cycles under unplug=accept")
    parser.add_argument("--policy-cycles", type=int, default=1000, help="cycles under each other policy")
    parser.add_argument("--slots", type=int, default=64, help="slots of the plug-without-guest run")
    parser.add_argument("--refused", type=int, default=10_000, help="refused plug/unplug pairs")
    parser.add_argument("--chaos-rounds", type=int, default=300, help="rounds of the hotplug chaos driver")
    parser.add_argument("--signal-rounds", type=int, default=20, help="rounds per signal")
    parser.add_argument("--quick", action="store_true", help="every driver small (a few minutes)")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", help="write every result to this file")
    parser.add_argument("--from-json", nargs="+", metavar="FILE", help="print the table of earlier runs")
    options = parser.parse_args()
    if options.from_json:
        out, commands = load(options.from_json)
        kinds: list[str] = [k for k in ("qemu", "vmd") if k in out]
        print("\n".join(f"- {c}" for c in commands) + "\n")
        print(markdown(out, kinds))
        found = problems_of(out, kinds)
        for problem in found[:200]:
            print(f"- {problem}")
        return 1 if found else 0
    # SIGTERM unwinds like Ctrl-C, so every peer started is stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if options.quick:
        options.fuzz, options.clients, options.commands = 2000, 8, 500
        options.latency_seconds, options.cycles, options.policy_cycles = 3.0, 100, 20
        options.slots, options.refused, options.signal_rounds = 8, 200, 2
        options.chaos_rounds = 5
    kinds = options.peers.split(",")
    out = asyncio.run(run(options))
    command = "python3 scripts/stress.py " + " ".join(sys.argv[1:])
    out["command"] = command
    if options.json:
        Path(options.json).write_text(json.dumps(out, default=plain, indent=1))
    table = markdown(out, kinds)
    print(f"`{command}` ({out['started']})\n")
    print(table if options.markdown else json.dumps(out, default=plain, indent=1))
    found = problems_of(out, kinds)
    if found:
        print(f"\n{len(found)} problems:")
        for problem in found[:200]:
            print(f"- {problem}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
