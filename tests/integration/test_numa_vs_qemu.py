"""vmd.machine.numa against QEMU 7.2 itself: every slot's node, and every -numa message.

Each case is a command line that vmd's own parser turns into a Config; resolve_topology and resolve_numa
give vmd's expectation.  QEMU is started with the same options and -S: when it refuses, its stderr
must be NumaError's lines (the warnings before the error, the error, the hint); when it starts, its
stderr must be NumaLayout.warnings, and `query-hotpluggable-cpus` must show NumaLayout.slot_nodes
as the node-id of the slots (no node-id at all when resolve_numa says the machine has no NUMA).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.blocking_qmp import BlockingQmp
from tests.peers import BASE_ARGS, TIMEOUT, Peer, short_tmpdir
from vmd.boards.catalog import find_board
from vmd.cli import parse_command_line
from vmd.machine.numa import NumaError, NumaLayout, resolve_numa
from vmd.machine.topology import resolve_topology

pytestmark = pytest.mark.qemu

PREFIX = "qemu-system-x86_64: "

# Lines QEMU prints that belong to another layer: TCG's qemu64 (an AMD model) on threads > 1.
NOT_NUMA = (
    "warning: This family of AMD CPU doesn't support hyperthreading(",
    "Please configure -smp options properly or try enabling topoext feature.",
)


@dataclass
class Run:
    """What QEMU did: its stderr lines without the program prefix, and (if it started) the slots
    of query-hotpluggable-cpus in slot-index order."""

    started: bool
    stderr: list[str]
    slots: list[dict[str, Any]]


def _qmp_slots(path: str) -> list[dict[str, Any]]:
    """qmp_capabilities, query-hotpluggable-cpus, quit; reads time out."""
    qmp = BlockingQmp(path)
    try:
        listed = qmp.result("query-hotpluggable-cpus")
        assert qmp.execute("quit") == {"return": {}}
    finally:
        qmp.close()
    return list(reversed(listed))  # QEMU lists the slot table backwards


def run_qemu(qemu: str, argv: list[str]) -> Run:
    """QEMU with `argv` and -S, daemonized (its parent exits once the monitor listens, or with the
    error); always stopped, killed if need be, and its directory removed."""
    workdir = short_tmpdir()
    path, pidfile = str(workdir / "m.sock"), workdir / "qemu.pid"
    command = [qemu, *BASE_ARGS, *argv, "-S", "-qmp", f"unix:{path},server=on,wait=off"]
    command += ["-daemonize", "-pidfile", str(pidfile)]
    peer: Peer | None = None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        stderr = [line.removeprefix(PREFIX) for line in done.stderr.splitlines()]
        stderr = [line for line in stderr if not line.startswith(NOT_NUMA)]
        if done.returncode != 0:
            return Run(False, stderr, [])
        peer = Peer("qemu", workdir, [path], int(pidfile.read_text()), workdir / "qemu.log")
        slots = _qmp_slots(path)
        assert peer.wait_exit(), "QEMU did not quit"
        return Run(True, stderr, slots)
    finally:
        if peer is not None and peer.alive():
            peer.stop()  # SIGTERM, then SIGKILL; waits through a pidfd
        shutil.rmtree(workdir, ignore_errors=True)


def vmd_expects(argv: list[str]) -> NumaLayout | NumaError | None:
    config = parse_command_line(argv)
    board = find_board(config.machine_type)
    topology = resolve_topology(config.smp, board)
    texts = [argv[position + 1] for position, arg in enumerate(argv) if arg == "-numa"]
    try:
        return resolve_numa(config.numa, config.objects, topology, board, config.memory, texts)
    except NumaError as error:
        return error


def case(head: str, *numa: str, ram: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> list[str]:
    """A command line: `head` (-M, -m, -smp), memory-backend-ram objects m0, m1, ... of the sizes in
    `ram`, `extra` arguments as they are, then one -numa per `numa` text."""
    argv = head.split()
    for number, size in enumerate(ram):
        argv += ["-object", f"memory-backend-ram,id=m{number},size={size}"]
    argv += extra
    for text in numa:
        argv += ["-numa", text]
    return argv


TWO = ("node,memdev=m0", "node,memdev=m1")  # two nodes of 128M each: -m 256
HALVES = ("128M", "128M")
THREE = ("node,memdev=m0", "node,memdev=m1", "node,memdev=m2")  # 128M + 64M + 64M
THIRDS = ("128M", "64M", "64M")
JSON_BACKEND = ("-object", '{"qom-type": "memory-backend-ram", "id": "big", "size": 134217728}')
LATENCY = "hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-latency,latency=5"

STARTED = [
    # default mapping: node = socket-id % nodes
    case("-M q35 -m 256 -smp 8,sockets=4,cores=2", *TWO, ram=HALVES),
    case("-M q35 -m 256 -smp 1,maxcpus=8,sockets=4,cores=2", *THREE, ram=THIRDS),
    case("-M pc -m 256 -smp 4,sockets=2,dies=2", *TWO, ram=HALVES),
    case("-M q35 -m 256 -smp 8,sockets=2,cores=2,threads=2", *TWO, ram=HALVES),
    # explicit mappings, complete and partial (warnings)
    case("-M q35 -m 256 -smp 4", "node,memdev=m0,cpus=0-1", "node,memdev=m1,cpus=2-3", ram=HALVES),
    case(
        "-M q35 -m 256 -smp 2,maxcpus=6",
        "node,memdev=m0,cpus=0-1,cpus=4",
        "node,memdev=m1,cpus=2-3,cpus=5",
        ram=HALVES,
    ),
    case("-M q35 -m 256 -smp 8,sockets=4,cores=2", "node,memdev=m0,cpus=0", "node,memdev=m1", ram=HALVES),
    case("-M q35 -m 256 -smp 4,sockets=2,cores=2", *TWO, "cpu,node-id=1,socket-id=0", ram=HALVES),
    case(
        "-M q35 -m 256 -smp 4,sockets=2,cores=2",
        *TWO,
        "cpu,node-id=1,socket-id=0",
        "cpu,node-id=0,socket-id=1",
        ram=HALVES,
    ),
    case("-M pc -m 256 -smp 4,sockets=2,dies=2", *TWO, "cpu,node-id=1,die-id=1", ram=HALVES),
    case("-M q35 -m 256 -smp 4,sockets=2,threads=2", *TWO, "cpu,node-id=1,thread-id=1", ram=HALVES),
    case("-M q35 -m 256 -smp 4,sockets=2,cores=2", *TWO, "cpu,node-id=1,core-id=1", ram=HALVES),
    case("-M q35 -m 256 -smp 4,sockets=2,cores=2", *TWO, "cpu,node-id=1", ram=HALVES),  # every slot
    case(
        "-M q35 -m 256 -smp 4,sockets=2,cores=2",
        "node,memdev=m0,cpus=0",
        "node,memdev=m1",
        "cpu,node-id=0,socket-id=0",
        ram=HALVES,
    ),
    # node ids out of order, legacy mem= (with its warning), memdev paths, a JSON -object
    case("-M q35 -m 256 -smp 4", "node,nodeid=1,memdev=m1", "node,nodeid=0,memdev=m0,cpus=1-2", ram=HALVES),
    case("-M pc-i440fx-5.0 -m 128 -smp 4", "node,mem=64", "node,mem=64M"),
    case("-M pc-q35-4.2 -m 128 -smp 4,sockets=4", "node,mem=96M", "node,mem=32M,cpus=3"),
    case("-M q35 -m 256 -smp 2", "node,memdev=/objects/m0", "node,memdev=objects/m1", ram=HALVES),
    case("-M q35 -m 128 -smp 2", "node,memdev=big", extra=JSON_BACKEND),
    # distances: one direction of each pair; an asymmetric table given in full
    case(
        "-M q35 -m 256 -smp 3,sockets=3",
        *THREE,
        "dist,src=0,dst=1,val=20",
        "dist,src=2,dst=0,val=30",
        "dist,src=1,dst=2,val=40",
        ram=THIRDS,
    ),
    case(
        "-M q35 -m 256 -smp 2",
        *TWO,
        "dist,src=0,dst=1,val=20",
        "dist,src=1,dst=0,val=30",
        "dist,src=1,dst=1,val=10",
        ram=HALVES,
    ),
    # NUMA without -numa (memory hotplug) on the versions that do it, and no NUMA at all
    case("-M q35 -m 256,slots=2,maxmem=1G -smp 2,maxcpus=4"),
    case("-M q35 -m 256,maxmem=1G -smp 2"),
    case("-M pc-i440fx-5.0 -m 256,maxmem=1G -smp 2"),
    case("-M pc-q35-2.10 -m 256,slots=2,maxmem=1G -smp 2"),
    case("-M q35 -m 256 -smp 2"),
]

REFUSED = [
    # node ids
    case("-M q35 -m 128 -smp 2", "node,nodeid=1,memdev=m0", ram=("128M",)),
    case("-M q35 -m 128 -smp 2", "node,nodeid=127,memdev=m0", ram=("128M",)),
    case("-M q35 -m 256 -smp 2", "node,nodeid=1,memdev=m1", "node,memdev=m0", ram=HALVES),
    case("-M q35 -m 128 -smp 2", "node,nodeid=128,memdev=m0", ram=("128M",)),
    # cpus=
    case("-M q35 -m 128 -smp 2,maxcpus=4", "node,memdev=m0,cpus=0-65535", ram=("128M",)),
    case("-M q35 -m 256 -smp 4", "node,memdev=m0,cpus=0-1", "node,memdev=m1,cpus=1", ram=HALVES),
    # memory
    case("-M q35 -m 256 -smp 2", "node,mem=128M", "node,mem=128M"),  # with a hint
    case("-M pc-i440fx-5.0 -m 128 -smp 2", "node,mem=64M", "node,memdev=m0", ram=("64M",)),
    case("-M q35 -m 128 -smp 2", "node,memdev=m1", ram=("128M",)),
    case("-M q35 -m 128 -smp 2", "node,memdev=a/objects/m0", ram=("128M",)),
    case("-M q35 -m 128 -smp 2", "node,memdev=s0", extra=("-object", "secret,id=s0,data=x")),
    case("-M q35 -m 256 -smp 2", "node,memdev=m0", "node,memdev=m1", ram=("128M", "64M")),
    case("-M q35 -m 128 -smp 2", "node"),
    case("-M q35 -m 256 -smp 2", "node,memdev=m0", "node,memdev=/objects/m0", ram=("128M",)),
    # -numa cpu
    case("-M q35 -m 256 -smp 4,sockets=2,cores=2", *TWO, "cpu,socket-id=0", ram=HALVES),
    case("-M q35 -m 256 -smp 4,sockets=2,cores=2", *TWO, "cpu,node-id=2,socket-id=0", ram=HALVES),
    case("-M q35 -m 256 -smp 4,sockets=2,cores=2", *TWO, "cpu,node-id=128", ram=HALVES),
    case("-M q35 -m 256 -smp 2", "node,memdev=m0", "cpu,node-id=1,socket-id=0", "node,memdev=m1", ram=HALVES),
    case("-M q35 -m 256 -smp 4,sockets=2,cores=2", *TWO, "cpu,node-id=1,die-id=0", ram=HALVES),
    case("-M pc -m 256 -smp 4,sockets=2,dies=2", *TWO, "cpu,node-id=1,die-id=0,cluster-id=0", ram=HALVES),
    case("-M q35 -m 256 -smp 4,sockets=2,cores=2", *TWO, "cpu,node-id=1,socket-id=0,thread-id=1", ram=HALVES),
    case(
        "-M q35 -m 256 -smp 4,sockets=2,cores=2",
        "node,memdev=m0,cpus=0",
        "node,memdev=m1",
        "cpu,node-id=1,socket-id=0",
        ram=HALVES,
    ),
    # HMAT is off
    case("-M q35 -m 128 -smp 2", "node,memdev=m0,initiator=0", ram=("128M",)),
    case("-M q35 -m 128 -smp 2", "node,memdev=m0", LATENCY, ram=("128M",)),
    # distances
    case("-M q35 -m 128 -smp 2", "node,memdev=m0", "dist,src=0,dst=1,val=20", ram=("128M",)),
    case("-M q35 -m 256 -smp 2", *TWO, "dist,src=0,dst=1,val=9", ram=HALVES),
    case("-M q35 -m 256 -smp 2", *TWO, "dist,src=1,dst=1,val=20", ram=HALVES),
    case("-M q35 -m 256 -smp 2", *TWO, "dist,src=300,dst=1,val=20", ram=HALVES),
    case("-M q35 -m 256 -smp 2", *THREE, "dist,src=0,dst=1,val=20", ram=THIRDS),
    case(
        "-M q35 -m 256 -smp 2",
        *THREE,
        "dist,src=0,dst=1,val=20",
        "dist,src=1,dst=0,val=30",
        "dist,src=0,dst=2,val=20",
        "dist,src=1,dst=2,val=20",
        ram=THIRDS,
    ),
    # no NUMA on `none`
    case("-M none -m 128", "node"),
]


def _id(argv: list[str]) -> str:
    # "-object memory-backend-ram,id=m0,size=128M" shows as "m0=128M"
    words: list[str] = []
    for arg in argv:
        if arg.startswith("memory-backend-ram,"):
            props = dict(item.split("=") for item in arg.split(",")[1:])
            words[-1] = f"{props['id']}={props['size']}"
        else:
            words.append(arg)
    return " ".join(words)


@pytest.mark.parametrize("argv", STARTED, ids=[_id(argv) for argv in STARTED])
def test_slot_nodes_like_qemu(qemu: str, argv: list[str]) -> None:
    expected = vmd_expects(argv)
    assert not isinstance(expected, NumaError), f"vmd refuses: {expected}"
    run = run_qemu(qemu, argv)
    assert run.started, f"QEMU refused: {run.stderr}"
    nodes = [slot["props"].get("node-id") for slot in run.slots]
    if expected is None:
        assert nodes == [None] * len(nodes)
        assert run.stderr == []
    else:
        assert nodes == list(expected.slot_nodes)
        assert run.stderr == list(expected.warnings)


@pytest.mark.parametrize("argv", REFUSED, ids=[_id(argv) for argv in REFUSED])
def test_errors_like_qemu(qemu: str, argv: list[str]) -> None:
    expected = vmd_expects(argv)
    assert isinstance(expected, NumaError), f"vmd accepts: {expected}"
    run = run_qemu(qemu, argv)
    assert not run.started
    hint = [] if expected.hint is None else [expected.hint]
    assert run.stderr == [*expected.warnings, str(expected), *hint]
