"""vmctl: the vCPU map and resize jobs from a shell, for people without libvirt.

    vmctl SOCKET map                        every possible vCPU: slot, package, present, online, ...
    vmctl SOCKET set-vcpus N [--placement fill|spread] [--deadline-ms MS] [--no-wait]
    vmctl SOCKET jobs                       query-jobs

`set-vcpus` waits for the job's __com.vmd_SET_VCPUS_COMPLETED and prints its outcome (exit status
0 when the target was reached, 1 otherwise, 2 for a QMP error).  It speaks QMP itself over the
unix socket (standard library only), so it runs against any vmd, and imports nothing of the daemon.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Iterator, Sequence
from typing import Any


class QmpError(Exception):
    pass


class Qmp:
    """A blocking QMP client: one request at a time; events are kept for `events`."""

    def __init__(self, path: str, timeout: float | None = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb")
        self.pending: list[dict[str, Any]] = []
        self._read()  # the greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        line = self.reader.readline()
        if not line:
            raise QmpError("the monitor closed the connection")
        message: dict[str, Any] = json.loads(line)
        return message

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        while True:
            message = self._read()
            if "event" in message:
                self.pending.append(message)
            elif "error" in message:
                raise QmpError(message["error"]["desc"])
            else:
                return message["return"]

    def events(self) -> Iterator[dict[str, Any]]:
        while True:
            while self.pending:
                yield self.pending.pop(0)
            self.pending.append(self._read())

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


COLUMNS = ("cpu-index", "slot", "present", "online", "onlinable", "offlinable", "unplug-pending", "qom-path")


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "-"
    return "" if value is None else str(value)


def print_map(entries: list[dict[str, Any]], out: Any) -> None:
    rows = [[_cell(entry.get(column)) for column in COLUMNS] for entry in entries]
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)).rstrip(), file=out)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def set_vcpus(qmp: Qmp, args: argparse.Namespace, out: Any) -> int:
    arguments: dict[str, Any] = {"target": args.target, "placement": args.placement}
    if args.deadline_ms is not None:
        arguments["deadline-ms"] = args.deadline_ms
    job = qmp.execute("__com.vmd_set-vcpus", arguments)["job-id"]
    print(f"job {job}: target {args.target}", file=out)
    if args.no_wait:
        return 0
    for event in qmp.events():
        data = event.get("data", {})
        if event["event"] == "__com.vmd_SET_VCPUS_COMPLETED" and data.get("id") == job:
            line = f"job {job}: {data['outcome']}: {data['present']} present, {data['online']} online"
            if data["refused"]:
                line += f"; refused: {','.join(map(str, data['refused']))}"
            if data["pending"]:
                line += f"; pending: {','.join(map(str, data['pending']))}"
            print(line, file=out)
            return 0 if data["outcome"] == "reached" else 1
    return 1  # pragma: no cover - events() ends only by raising


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vmctl", description="vCPU map and resize jobs of a vmd VM")
    p.add_argument("socket", help="the VM's QMP socket")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("map", help="print the vCPU map")
    sub.add_parser("jobs", help="print query-jobs")
    resize = sub.add_parser("set-vcpus", help="resize to N vCPUs and wait for the outcome")
    resize.add_argument("target", type=int)
    resize.add_argument("--placement", choices=("fill", "spread"), default="fill")
    resize.add_argument("--deadline-ms", type=int)
    resize.add_argument("--no-wait", action="store_true", help="return once the job has started")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = sys.stdout
    try:
        qmp = Qmp(args.socket, timeout=None if args.command == "set-vcpus" else 30.0)
    except OSError as error:
        print(f"vmctl: {args.socket}: {error.strerror or error}", file=sys.stderr)
        return 2
    try:
        if args.command == "map":
            print_map(qmp.execute("__com.vmd_query-vcpu-map"), out)
            return 0
        if args.command == "jobs":
            for job in qmp.execute("query-jobs"):
                why = f" ({job['error']})" if "error" in job else ""
                progress = f"{job['current-progress']}/{job['total-progress']}"
                print(f"{job['id']}: {job['status']} {progress}{why}", file=out)
            return 0
        return set_vcpus(qmp, args, out)
    except QmpError as error:
        print(f"vmctl: {error}", file=sys.stderr)
        return 2
    finally:
        qmp.close()


if __name__ == "__main__":
    sys.exit(main())
