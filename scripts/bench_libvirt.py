#!/usr/bin/env python3
"""The libvirt vCPU scenario against real QEMU 7.2 and against vmd, side by side.

Starts virtlogd and libvirtd by hand (as tests/libvirt does, same harness), then runs the same
virsh steps on a domain whose <emulator> is /usr/bin/qemu-system-x86_64, then on one whose
emulator is vmd, and prints per step what happened and how long virsh (or the wait) took.
Neither QEMU domain has a guest OS (QEMU runs its firmware only), which is why QEMU 7.2 cannot
unplug: its ACPI CPU hotplug stays in legacy mode.  Run as root on a quiet machine:

    python3 scripts/bench_libvirt.py [--markdown] [--vmd VENV/bin/vmd]

vmd's <emulator> runs this checkout with the running Python (tests/libvirt's wrapper), or with
--vmd an installed vmd (a wheel's layout, as bench_startup.py measures it): libvirt starts the
emulator for each capability probe, so the installed form is what its start-up costs in use.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.libvirt.harness import Libvirt, Virsh, domain_xml, emulator_wrapper, running_libvirt

SHUTDOWN_WAIT = 10.0


@dataclass
class Outcome:
    ok: bool
    seconds: float
    detail: str = ""

    def cell(self) -> str:
        text = f"{'ok' if self.ok else 'FAILED'} {self.seconds * 1000:.0f} ms"
        return f"{text}: {self.detail}" if self.detail else text


def _from(result: Virsh, detail: str = "") -> Outcome:
    if result.ok:
        return Outcome(True, result.seconds, detail)
    message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"
    return Outcome(False, result.seconds, message.removeprefix("error: "))


def _count(libvirt: Libvirt, name: str) -> str:
    return f"{libvirt.vcpucount_live(name)} vCPUs"


def scenario(libvirt: Libvirt, emulator: str, name: str) -> dict[str, Outcome]:
    out: dict[str, Outcome] = {}
    virsh = libvirt.virsh
    created = libvirt.create(name, domain_xml(name, emulator))
    out["start (virsh create)"] = _from(created)
    if not created.ok:
        return out

    def step(label: str, *args: str, after: Callable[[], str] | None = None) -> None:
        result = virsh(*args, check=False)
        out[label] = _from(result, after() if after is not None and result.ok else "")

    def count() -> str:
        return _count(libvirt, name)

    step("setvcpu 2 --enable --live", "setvcpu", name, "2", "--enable", "--live", after=count)
    step("setvcpu 2 --disable --live", "setvcpu", name, "2", "--disable", "--live", after=count)
    step("setvcpus 4 --live (up)", "setvcpus", name, "4", "--live", after=count)
    step("setvcpus 1 --live (down)", "setvcpus", name, "1", "--live", after=count)
    out["vcpucount afterwards"] = Outcome(True, 0.0, count())
    step("vcpuinfo", "vcpuinfo", name, after=lambda: f"{virsh('vcpuinfo', name).stdout.count('VCPU:')} vCPUs")
    step("vcpupin 0 0 --live", "vcpupin", name, "0", "0", "--live")
    stats = virsh("domstats", "--vcpu", name, check=False)
    keys = [line for line in stats.stdout.splitlines() if line.strip().startswith("vcpu.0.")]
    out["domstats --vcpu"] = _from(stats, f"{len(keys)} values for vCPU 0")
    started = time.monotonic()
    libvirt.stop_libvirtd()
    libvirt.start_libvirtd()
    state = virsh("domstate", name, check=False)
    out["libvirtd restart, domain kept"] = Outcome(
        state.ok and state.stdout.strip() == "running", time.monotonic() - started, state.stdout.strip()
    )
    shutdown = virsh("shutdown", name, check=False)
    started = time.monotonic()
    while libvirt.exists(name) and time.monotonic() - started < SHUTDOWN_WAIT:
        time.sleep(0.02)
    gone = not libvirt.exists(name)
    out["shutdown (guest powers off)"] = Outcome(
        shutdown.ok and gone,
        shutdown.seconds + time.monotonic() - started,
        "domain gone" if gone else f"still running after {SHUTDOWN_WAIT:.0f} s",
    )
    if not gone:
        out["destroy"] = _from(virsh("destroy", name, check=False))
    else:
        # Destroy a second domain instead, so both peers have the step.
        again = f"{name}-d"
        libvirt.create(again, domain_xml(again, emulator))
        out["destroy"] = _from(virsh("destroy", again, check=False))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--vmd", metavar="PATH", help="an installed vmd to run (default: this checkout)")
    args = parser.parse_args()
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        sys.exit("qemu-system-x86_64 is not installed (scripts/install-deps installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="vbl", dir="/tmp"))
    try:
        with running_libvirt(workdir) as libvirt:
            vmd = args.vmd or str(emulator_wrapper(workdir))
            results = {
                "QEMU 7.2": scenario(libvirt, qemu, "bench-qemu"),
                "vmd": scenario(libvirt, vmd, "bench-vmd"),
            }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    steps = list(dict.fromkeys(step for outcome in results.values() for step in outcome))
    rows = [[step, *(results[peer].get(step, Outcome(False, 0, "not reached")).cell() for peer in results)]
            for step in steps]  # fmt: skip
    header = ["step", *results]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
