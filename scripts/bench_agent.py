#!/usr/bin/env python3
"""Benchmark vmd's modelled guest agent over its chardev, as libvirt drives it.

vmd runs `-M q35 -smp N` with libvirt's agent channel (virtio-serial-pci, a socket chardev,
virtserialport org.qemu.guest_agent.0); one client on the chardev measures:
  * guest-sync and guest-ping round trips, p50/p99;
  * guest-get-vcpus with N CPUs, p50;
  * guest-set-vcpus taking every CPU but cpu0 offline in one command, then online again (each
    change waits for the vCPU's own confirmation), wall time of each.

QEMU 7.2 has nothing to compare with here: without a guest OS no agent ever opens its port
(libvirt says `QEMU guest agent is not connected`), so the QEMU column of the README says so.

Usage:
  python3 scripts/bench_agent.py             # -smp 64
  python3 scripts/bench_agent.py --cpus 16 --quick
  python3 scripts/bench_agent.py --json results.json

A benchmark, not a test: it exits non-zero only if the peer fails, never because of a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 60.0


class Agent:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("rb")

    def call(self, request: bytes) -> Any:
        self.sock.sendall(request + b"\n")
        line = self.reader.readline()
        if not line:
            raise RuntimeError("the agent's chardev closed")
        return json.loads(line)


def _wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"vmd did not create {path}")
        time.sleep(0.01)


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(cpus: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vmd-bench-agent-") as tmp:
        directory = Path(tmp)
        agent_sock = directory / "ga.sock"
        argv = [
            sys.executable, "-m", "vmd", "-M", "q35", "-smp", str(cpus), "-display", "none", "-nodefaults",
            "-qmp", f"unix:{directory / 'qmp.sock'},server=on,wait=off",
            "-device", "virtio-serial-pci,id=virtio-serial0",
            "-chardev", f"socket,id=charchannel0,path={agent_sock},server=on,wait=off",
            "-device", "virtserialport,chardev=charchannel0,id=channel0,name=org.qemu.guest_agent.0",
        ]  # fmt: skip
        env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for(agent_sock, proc)
            agent = Agent(agent_sock)
            assert agent.call(b'{"execute":"guest-sync","arguments":{"id":1}}') == {"return": 1}
            # The agent starts once the boot settled: every CPU is online when it first answers.
            vcpus = agent.call(b'{"execute":"guest-get-vcpus"}')["return"]
            assert len(vcpus) == cpus, vcpus
            assert all(v["online"] for v in vcpus), vcpus

            def timed(request: bytes, count: int) -> list[float]:
                samples = []
                for _ in range(count):
                    start = time.perf_counter()
                    reply = agent.call(request)
                    samples.append((time.perf_counter() - start) * 1e6)
                    assert "return" in reply, reply
                return samples

            sync = timed(b'{"execute":"guest-sync","arguments":{"id":7}}', rounds)
            ping = timed(b'{"execute":"guest-ping"}', rounds)
            get_vcpus = timed(b'{"execute":"guest-get-vcpus"}', max(rounds // 10, 10))
            others = [v["logical-id"] for v in vcpus if v["can-offline"]]

            def set_all(online: bool) -> float:
                entries = ",".join(
                    f'{{"logical-id":{cpu},"online":{"true" if online else "false"}}}' for cpu in others
                )
                start = time.perf_counter()
                reply = agent.call(
                    f'{{"execute":"guest-set-vcpus","arguments":{{"vcpus":[{entries}]}}}}'.encode()
                )
                assert reply == {"return": len(others)}, reply
                return (time.perf_counter() - start) * 1e3

            offline_ms = set_all(False)
            online_ms = set_all(True)
            return {
                "cpus": cpus,
                "guest-sync p50 us": round(statistics.median(sync)),
                "guest-sync p99 us": round(_percentile(sync, 0.99)),
                "guest-ping p50 us": round(statistics.median(ping)),
                "guest-ping p99 us": round(_percentile(ping, 0.99)),
                "guest-get-vcpus p50 us": round(statistics.median(get_vcpus)),
                f"guest-set-vcpus {len(others)} offline ms": round(offline_ms, 1),
                f"guest-set-vcpus {len(others)} online ms": round(online_ms, 1),
            }
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cpus", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    options = parser.parse_args()
    figures = run(options.cpus, 200 if options.quick else 2000)
    for key, value in figures.items():
        print(f"{key:32} {value}")
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
