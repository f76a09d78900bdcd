"""The topology layer against QEMU 7.2 itself: -smp resolution, slots, APIC IDs, boards, CPU models.

For each -smp case QEMU is started with -S (daemonized: its parent exits once the QMP socket
listens, or with the error).  A refusal must read exactly like TopologyError (and the warnings
before it); an accepted -smp must give the slots `query-hotpluggable-cpus` lists, in its order,
and the APIC IDs `qom-get` reads from the CPUs that exist.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.blocking_qmp import BlockingQmp
from tests.peers import BASE_ARGS, TIMEOUT, Peer, short_tmpdir
from tests.unit.test_topology import smp
from vmd.boards.catalog import catalog, find_board
from vmd.boards.x86.apic import ApicIds
from vmd.boards.x86.cpu_models import CPU_MODELS, VERSIONED
from vmd.machine.board import UnknownMachineError
from vmd.machine.topology import Topology, TopologyError, resolve_topology

BOARDS = catalog().boards

pytestmark = pytest.mark.qemu

PREFIX = "qemu-system-x86_64: "

# Lines QEMU prints that belong to other layers: TCG's qemu64 (an AMD model) on threads > 1.
NOT_TOPOLOGY = (
    "warning: This family of AMD CPU doesn't support hyperthreading(",
    "Please configure -smp options properly or try enabling topoext feature.",
)


@dataclass
class Started:
    qmp: BlockingQmp
    stderr: list[str]


@dataclass
class Refused:
    stderr: list[str]


@contextlib.contextmanager
def start_qemu(qemu: str, *args: str) -> Iterator[Started | Refused]:
    """QEMU with `args`, -S, no devices, one QMP socket; stopped (and killed if need be) on exit."""
    workdir = short_tmpdir()
    path, pidfile = str(workdir / "m.sock"), workdir / "qemu.pid"
    command = [qemu, *BASE_ARGS, *args, "-S", "-qmp", f"unix:{path},server=on,wait=off"]
    command += ["-daemonize", "-pidfile", str(pidfile)]
    peer: Peer | None = None
    qmp: BlockingQmp | None = None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        stderr = [line.removeprefix(PREFIX) for line in done.stderr.splitlines()]
        if done.returncode != 0:
            yield Refused(stderr)
            return
        peer = Peer("qemu", workdir, [path], int(pidfile.read_text()), workdir / "qemu.log")
        qmp = BlockingQmp(path)
        yield Started(qmp, stderr)
    finally:
        if qmp is not None:
            with contextlib.suppress(OSError, EOFError, ValueError):
                qmp.execute("quit")
            qmp.close()
        if peer is not None:
            peer.stop()  # SIGTERM, then SIGKILL; waits through a pidfd
        shutil.rmtree(workdir, ignore_errors=True)


def expected_slots(topology: Topology, cpu_type: str) -> list[dict[str, Any]]:
    """query-hotpluggable-cpus as QEMU 7.2 lists it, `qom-path` reduced to whether it is there:
    the slot table reversed, die-id only with dies > 1, no node-id without NUMA."""
    listed = []
    for index, ids in enumerate(topology.all_ids()):
        props = {"socket-id": ids.socket, "core-id": ids.core, "thread-id": ids.thread}
        if topology.dies > 1:
            props["die-id"] = ids.die
        listed.append(
            {"type": cpu_type, "vcpus-count": 1, "props": props, "occupied": index < topology.boot_cpus}
        )
    return listed[::-1]


def other_layer(line: str) -> bool:
    return line.startswith(NOT_TOPOLOGY)


# (machine, -smp): accepted ones first, then refusals.  Expectations all come from vmd.
CASES = [
    ("q35", "1,sockets=2,cores=2,threads=1,maxcpus=4"),  # spec §2.1's example
    ("pc", "4"),
    ("q35", "1,maxcpus=4"),  # 6.2 and later: cores
    ("pc-q35-6.2", "1,maxcpus=4"),
    ("pc-i440fx-6.1", "1,maxcpus=4"),  # before 6.2: sockets
    ("pc-q35-6.1", "2,cores=2,maxcpus=6"),
    ("pc-i440fx-5.2", "2,threads=2,maxcpus=8"),
    ("pc", "1,threads=2,maxcpus=4"),
    ("pc", "2,sockets=2,dies=2,cores=2,threads=2,maxcpus=16"),  # spec §6.3, dies on pc
    ("q35", "3,sockets=2,dies=3,cores=3,maxcpus=18"),  # dies on q35, not powers of two
    ("q35", "4,sockets=2,cores=3,threads=3,maxcpus=18"),  # spec §6.2's holes
    ("pc", "5,sockets=3,cores=5,maxcpus=15"),
    ("pc", "6,sockets=2,cores=5,threads=4,maxcpus=40"),  # 3 core bits, 2 thread bits
    ("pc", "sockets=2,cores=3,threads=2"),  # no cpus: all present
    ("pc", "maxcpus=3"),
    ("pc", "0"),  # zeros: omitted, with a warning
    ("pc", "2,sockets=0,cores=2"),
    ("pc", "4,dies=0,clusters=0,maxcpus=0"),
    ("pc", "4,sockets=4294967296"),  # C unsigned: 2**32 is 0, and 2**32 + 2 is 2
    ("pc", "4294967298"),
    ("q35", "1,sockets=64,cores=3,maxcpus=192"),  # highest APIC ID 254: allowed
    ("pc-i440fx-1.4", "3,sockets=2,cores=3,maxcpus=6"),  # oldest, deprecated
    ("pc-q35-2.4", "1,maxcpus=3"),
    ("none", "1,dies=1,clusters=1"),
    ("pc", "3,maxcpus=2"),
    ("pc", "4,sockets=3"),
    ("pc", "4,sockets=3,threads=0"),  # a warning, then the error
    ("pc-i440fx-6.1", "1,sockets=2"),
    ("q35", "2,sockets=2,cores=2"),  # threads come out 0
    ("none", "1,sockets=2"),  # no dies in the hierarchy text
    ("q35", "300"),
    ("q35", "2,maxcpus=300"),
    ("pc", "256"),
    ("pc-q35-2.7", "256"),
    ("none", "2"),
    ("pc", "-1"),
    ("pc", "1,sockets=-1"),
    ("pc", "sockets=65536,cores=65536"),
    ("pc", "1,clusters=2"),
    ("q35", "1,dies=2,clusters=2"),
    ("none", "1,dies=2"),
    ("q35", "256"),  # x2APIC needed
    ("pc", "1,sockets=3,cores=65,maxcpus=195"),  # x2APIC needed for 195 CPUs
]


@pytest.mark.parametrize(("machine", "text"), CASES, ids=[f"{m}:{t}" for m, t in CASES])
def test_smp_like_qemu(qemu: str, machine: str, text: str) -> None:
    board = find_board(machine)
    try:
        topology: Topology | TopologyError = resolve_topology(smp(text), board)
    except TopologyError as error:
        topology = error
    with start_qemu(qemu, "-M", machine, "-smp", text) as run:
        stderr = [line for line in run.stderr if not other_layer(line)]
        expected_stderr = [f"warning: {warning}" for warning in topology.warnings]
        if isinstance(topology, TopologyError):
            assert isinstance(run, Refused), f"QEMU accepted what vmd refuses: {topology}"
            assert stderr == [*expected_stderr, str(topology)]
            return
        assert isinstance(run, Started), f"QEMU refused: {run.stderr}"
        if board.deprecation_reason is not None:
            expected_stderr.append(
                f"warning: Machine type '{board.name}' is deprecated: {board.deprecation_reason}"
            )
        assert stderr == expected_stderr
        if not board.hotpluggable_cpus:
            return
        reply = run.qmp.execute("query-hotpluggable-cpus")
        listed = reply["return"]
        assert board.default_cpu_type is not None
        assert [
            {**{k: v for k, v in entry.items() if k != "qom-path"}, "occupied": "qom-path" in entry}
            for entry in listed
        ] == expected_slots(topology, board.default_cpu_type)
        for position, entry in enumerate(listed):
            index = len(listed) - 1 - position
            if "qom-path" in entry:
                apic = run.qmp.execute("qom-get", path=entry["qom-path"], property="apic-id")
                assert apic == {"return": ApicIds(topology).of_index(index)}, entry
                assert ApicIds(topology).index_of(apic["return"]) == index


def test_unknown_machine_like_qemu(qemu: str) -> None:
    with pytest.raises(UnknownMachineError) as caught:
        find_board("bogus")
    with start_qemu(qemu, "-M", "bogus") as run:
        assert isinstance(run, Refused)
        assert run.stderr == [str(caught.value), caught.value.hint]


def test_machine_help_like_qemu(qemu: str) -> None:
    done = subprocess.run(
        [qemu, "-machine", "help"], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    offered = {*BOARDS, *(board.alias for board in BOARDS.values() if board.alias)}
    listed = [line for line in done.stdout.splitlines()[1:] if line.split()[0] in offered]
    expected = []
    for board in BOARDS.values():
        if board.alias is not None:
            expected.append(f"{board.alias:<20} {board.description} (alias of {board.name})")
        notes = " (default)" * board.is_default + " (deprecated)" * board.deprecated
        expected.append(f"{board.name:<20} {board.description}{notes}")
    assert listed == expected


def test_query_machines_like_qemu(qemu: str) -> None:
    with start_qemu(qemu, "-M", "none") as run:
        assert isinstance(run, Started)
        machines = {m["name"]: m for m in run.qmp.execute("query-machines")["return"]}
    for board in BOARDS.values():
        info = {
            "name": board.name,
            "cpu-max": board.cpu_max,
            "hotpluggable-cpus": board.hotpluggable_cpus,
            "numa-mem-supported": board.numa_mem_supported,
            "deprecated": board.deprecated,
            "default-ram-id": board.default_ram_id,
        }
        if board.alias is not None:
            info["alias"] = board.alias
        if board.is_default:
            info["is-default"] = True
        if board.default_cpu_type is not None:
            info["default-cpu-type"] = board.default_cpu_type
        assert machines[board.name] == info


@pytest.mark.parametrize("machine", ["pc-q35-7.2", "pc-i440fx-4.0"])
def test_cpu_definitions_like_qemu(qemu: str, machine: str) -> None:
    board = find_board(machine)
    with start_qemu(qemu, "-M", machine) as run:
        assert isinstance(run, Started)
        reply = run.qmp.execute("query-cpu-definitions")["return"]
    expected = []
    for model in CPU_MODELS.values():
        assert model.unavailable_features is not None, f"{model.name}: every x86 model reports them"
        entry: dict[str, Any] = {
            "name": model.name,
            "typename": model.typename,
            "unavailable-features": list(model.unavailable_features),
            "static": model.static,
            "migration-safe": model.migration_safe,
            "deprecated": model.deprecated,
        }
        if model.alias_of is not None and board.cpu_models().show_aliases:
            entry["alias-of"] = model.alias_of
        expected.append(entry)
    assert reply == expected


def test_cpu_help_like_qemu(qemu: str) -> None:
    done = subprocess.run([qemu, "-cpu", "help"], capture_output=True, text=True, timeout=TIMEOUT, check=True)
    listed = [line for line in done.stdout.splitlines() if line.startswith("x86 ")]
    assert listed == [f"x86 {model.name:<20}  {model.description}" for model in VERSIONED.help_order]
