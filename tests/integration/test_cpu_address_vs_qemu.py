"""vmd.machine.qdev and the x86 pre-plug against QEMU 7.2 itself: the same device_add, the same outcome.

Each scenario starts qemu-system-x86_64 -S on a topology and sends its argument dicts, as raw
JSON text, one `device_add` after another.  For every one the module must give what QEMU gave:
the same error class and text, or success; after a success the CPU QEMU created must sit where
the module said (cpu-index, apic-id, the ids, node-id) and under the qom-path the module's two
steps imply (`peripheral/<id>`, or the `peripheral-anon` number every anonymous attempt that got
past parse_cpu_device used up).  Successes feed the occupied slots and ids of later cases, so
occupancy and duplicate ids are compared too.  A second test starts QEMU with `-device` (JSON
and key=value) and compares the cold-plug rules.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.blocking_qmp import BlockingQmp
from tests.machines import plug_target
from tests.peers import Peer, short_tmpdir, start_peer
from tests.unit.test_topology import smp
from vmd.boards.catalog import find_board
from vmd.boards.x86.apic import ApicIds
from vmd.errors import QmpError
from vmd.machine.qdev.opts import ArgumentSource, parse_device_request
from vmd.machine.qdev.target import PlugTarget, ResolvedCpu, resolve_device_add, resolve_slot
from vmd.machine.topology import CpuIds, Topology, resolve_topology

pytestmark = pytest.mark.qemu


@contextlib.contextmanager
def running_qemu(args: Sequence[str]) -> Iterator[Peer]:
    """QEMU -S with `args`, stopped and its directory removed afterwards (also when it failed
    to start: start_peer raises RuntimeError with QEMU's stderr)."""
    workdir = short_tmpdir()
    try:
        peer = start_peer("qemu", ["-S", *args], workdir=workdir)
        try:
            yield peer
        finally:
            peer.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass(frozen=True)
class Scenario:
    name: str
    machine: str
    smp: str
    cases: tuple[str, ...]
    extra: tuple[str, ...] = ()


CPU = "qemu64-x86_64-cpu"


def add(**props: Any) -> str:
    """Argument text for the default CPU type; `_` in a keyword becomes `-`."""
    return json.dumps({"driver": CPU, **{key.replace("_", "-"): value for key, value in props.items()}})


# The spec's example machine, q35 -smp 1,sockets=2,cores=2,threads=1,maxcpus=4: every error of
# parsing, driver, bus, properties and pre-plug, with successes put where occupancy and
# duplicate ids need them.
GENERIC_CASES = (
    # the order of the front checks
    "{}",
    '{"id": "1bad"}',
    '{"id": "1bad", "foo": 1}',
    '{"driver": "nonexist", "id": "1bad"}',
    '{"driver": "x86_64-cpu", "id": "1bad"}',
    '{"driver": 5}',
    '{"driver": true}',
    '{"driver": [1]}',
    '{"driver": null}',
    '{"driver": ""}',
    '{"driver": "qemu64"}',
    '{"driver": "cpu"}',
    '{"driver": "x86_64-cpu", "bus": "nope"}',
    add(id=""),
    add(id="_a"),
    add(id="é"),
    add(id="a/b"),
    # buses
    add(bus="pcie.0"),
    add(bus="pci.0"),
    add(bus="nope", foo=1, socket_id="x"),
    add(bus="nope", id="1bad"),
    add(bus=5),
    add(bus=""),
    add(bus="/"),
    add(bus="isa.0"),
    add(bus="ide.3"),
    add(bus="i2c"),
    add(bus="/q35-pcihost"),
    add(bus="/q35-pcihost/pcie.0/ahci"),
    add(bus="/q35-pcihost/pcie.0/ahci/ide.2"),
    add(bus="/hpet"),
    add(bus="/nope"),
    add(bus="pcie.0/ICH9-LPC/isa.1"),
    add(bus="a" * 200),
    '{"driver": "Haswell-x86_64-cpu", "bus": "nope"}',
    # properties: names, order, values
    add(foo=1, socket_id="x"),
    add(socket_id="x", foo=1),
    add(cluster_id=0),
    add(migratable="on"),
    add(type="x"),
    add(filtered_features="on"),
    '{"driver": "Haswell-x86_64-cpu", "foo": 1}',
    '{"driver": "Haswell-x86_64-cpu"}',
    add(mce="1", mca="2", msr="3"),
    add(msr="3", mce="1", mca="2"),
    add(phys_bits="x", core_id="y"),
    f'{{"driver": "{CPU}", "socket-id": 1.5}}',
    f'{{"driver": "{CPU}", "socket-id": 1e400}}',
    f'{{"driver": "{CPU}", "socket-id": -0.0}}',
    f'{{"driver": "{CPU}", "socket-id": 2e0}}',
    f'{{"driver": "{CPU}", "socket-id": 123456789012345678901234567890}}',
    add(socket_id=9223372036854775808),
    add(socket_id=2147483648),
    add(socket_id=-2147483649),
    add(socket_id=-2),
    add(socket_id=True),
    add(socket_id=" 1"),
    add(socket_id="1 "),
    add(socket_id="010"),
    add(socket_id="08"),
    add(socket_id="0x"),
    add(socket_id="-0x2"),
    add(socket_id="1\u0000"),
    add(socket_id=[1], core_id={"a": 1}, thread_id=None),
    add(apic_id="-1"),
    add(apic_id="18446744073709551616"),
    add(apic_id=4294967295),
    add(apic_id=4294967294),
    add(apic_id=4294967296),
    add(apic_id=False),
    add(start_powered_off="y"),
    add(start_powered_off="ON"),
    add(start_powered_off=1),
    add(hv_no_nonarch_coresharing="AUTO"),
    add(hv_no_nonarch_coresharing=True),
    add(vendor="abcdefghijklm"),
    add(vendor="GenuineIntel"),
    add(lbr_fmt="64"),
    add(family="271"),
    add(tsc_frequency="-5"),
    add(memory="nope"),
    add(memory=""),
    add(host_phys_bits_limit="256"),
    add(hv_version_id_minor="65536"),
    add(realized="x"),
    # pre-plug, in order
    '{"driver": "Haswell-x86_64-cpu", "socket-id": 9}',
    add(socket_id=2),
    add(socket_id=0),
    add(socket_id=0, core_id=2),
    add(socket_id=0, core_id=1),
    add(socket_id=0, core_id=1, thread_id=1),
    add(socket_id=0, die_id=1, core_id=1, thread_id=0),
    add(socket_id=0, core_id=0, thread_id=0),
    add(apic_id=0, socket_id=1),
    add(apic_id=100),
    add(apic_id=2, socket_id=0),
    add(apic_id=2, socket_id=-5),
    add(apic_id=2, die_id=1),
    add(apic_id=3, core_id=0, thread_id=1),
    add(apic_id=3, thread_id=1),
    add(apic_id=1, socket_id=1, hv_vpindex="on"),
    add(socket_id=0, core_id=1, thread_id=0, hv_vpindex="on", node_id=3),
    add(socket_id=0, core_id=1, thread_id=0, node_id=1),
    add(socket_id=0, core_id=1, thread_id=0, node_id=-2),
    # successes, then occupancy and duplicate ids
    add(socket_id="0", core_id="1", thread_id="0", id="cpu1", node_id=0, start_powered_off=True),
    add(socket_id=0, core_id=1, thread_id=0),
    add(apic_id=1),
    add(id="cpu1", socket_id=1, core_id=0, thread_id=0),
    add(id="cpu1", foo=1),
    add(id="cpu1", socket_id="x"),
    add(id="cpu1", bus="nope"),
    '{"driver": "Haswell-x86_64-cpu", "id": "cpu1"}',
    '{"driver": "nonexist", "id": "cpu1"}',
    add(id=5, apic_id=2, vmx="off"),
    add(apic_id="-18446744073709551613", socket_id=1, die_id=0, core_id=1, thread_id="0x0", node_id=-1),
    add(socket_id=1, core_id=1, thread_id=0),
)

SCENARIOS = (
    Scenario("q35-2s2c", "q35", "1,sockets=2,cores=2,threads=1,maxcpus=4", GENERIC_CASES),
    Scenario(
        "q35-flat",
        "q35",
        "1,maxcpus=4",
        (
            add(socket_id=1, core_id=0, thread_id=0),
            add(socket_id=0, core_id=4, thread_id=0),
            add(apic_id=4),
            add(socket_id=0, core_id="0x3", thread_id=0, id="c3"),
            add(apic_id=3),
            add(socket_id=0, core_id=2, thread_id=0),
            add(apic_id=1, id="c3"),
            add(apic_id=1),
            add(socket_id=0, core_id=1, thread_id=0),
        ),
    ),
    Scenario(
        "i440fx-6.1-flat-haswell",
        "pc-i440fx-6.1",
        "1,maxcpus=4",
        (
            add(socket_id=0, core_id=1, thread_id=0),
            add(socket_id=4, core_id=0, thread_id=0),
            add(bus="pci.0"),
            add(bus="pcie.0"),
            add(bus="floppy-bus.0"),
            add(bus="/i440FX-pcihost/pci.0/piix3-ide"),
            '{"driver": "Haswell-v1-x86_64-cpu", "socket-id": 1, "core-id": 0, "thread-id": 0}',
            '{"driver": "Haswell-x86_64-cpu", "socket-id": 1, "core-id": 0, "thread-id": 0}',
            '{"driver": "Haswell-x86_64-cpu", "socket-id": 1, "core-id": 0, "thread-id": 0}',
            '{"driver": "Haswell-x86_64-cpu", "apic-id": 3, "socket-id": 2}',
            '{"driver": "Haswell-x86_64-cpu", "apic-id": 3, "id": "h3"}',
        ),
        ("-cpu", "Haswell"),
    ),
    Scenario(
        "q35-apic-holes",
        "q35",
        "2,sockets=2,cores=3,threads=3,maxcpus=18",
        (
            add(apic_id=3),
            add(apic_id=12),
            add(apic_id=17),
            add(apic_id=17),
            add(apic_id=27),
            add(apic_id=32),
            add(socket_id=1, core_id=3, thread_id=0),
            add(socket_id=1, core_id=2, thread_id=3),
            add(socket_id=2, core_id=0, thread_id=0),
            add(socket_id=0, core_id=0, thread_id=1),
            add(apic_id=25, thread_id=2),
            add(apic_id=26, core_id=2),
            add(socket_id=1, core_id=2, thread_id=2, id="top"),
        ),
    ),
    Scenario(
        "pc-dies",
        "pc",
        "2,sockets=2,dies=2,cores=2,threads=2,maxcpus=16",
        (
            add(socket_id=1, core_id=0, thread_id=0),
            add(socket_id=1, die_id=-1, core_id=0, thread_id=0),
            add(socket_id=1, die_id=2, core_id=0, thread_id=0),
            add(socket_id=2, die_id=2, core_id=0, thread_id=0),
            add(socket_id=1, die_id=1, core_id=2, thread_id=0),
            add(socket_id=1, die_id=1, core_id=1, thread_id=2),
            add(apic_id=16, die_id=1),
            add(apic_id=13, die_id=0),
            add(apic_id=13),
            add(apic_id=1),
            add(socket_id=1, die_id=1, core_id=1, thread_id=1),
        ),
    ),
    Scenario(
        "q35-numa",
        "q35",
        "1,sockets=2,cores=2,threads=1,maxcpus=4",
        (
            add(socket_id=1, core_id=0, thread_id=0, node_id=0),
            add(socket_id=1, core_id=0, thread_id=0, node_id=-2),
            add(socket_id=1, core_id=0, thread_id=0, node_id=2),
            add(socket_id=0, core_id=1, thread_id=0, node_id=1),
            add(socket_id=1, core_id=0, thread_id=0, id="n1"),
            add(apic_id=3, node_id=0),
            add(apic_id=3, node_id="1", id="n2"),
            add(apic_id=1),
        ),
        (
            *("-object", "memory-backend-ram,id=m0,size=64M"),
            *("-object", "memory-backend-ram,id=m1,size=64M"),
            *("-numa", "node,nodeid=0,cpus=0-1,memdev=m0"),
            *("-numa", "node,nodeid=1,cpus=2-3,memdev=m1"),
        ),
    ),
)


def _target(monitor: BlockingQmp, machine: str, topology: Topology) -> PlugTarget:
    """The module's view of the machine, with the CPU type and NUMA nodes QEMU reports."""
    slots = monitor.result("query-hotpluggable-cpus")
    assert len(slots) == topology.max_cpus
    nodes = [0] * topology.max_cpus
    for slot in slots:
        props = slot["props"]
        index = topology.index_of(
            CpuIds(props["socket-id"], props.get("die-id", 0), props["core-id"], props["thread-id"])
        )
        assert index is not None
        nodes[index] = props.get("node-id", 0)
    numa = any("node-id" in slot["props"] for slot in slots)
    return plug_target(
        find_board(machine), topology, cpu_type=slots[0]["type"], slot_nodes=nodes if numa else None
    )


def _check_created(
    monitor: BlockingQmp, topology: Topology, resolved: ResolvedCpu, qom_path: str
) -> list[str]:
    """Where QEMU put the CPU it just created, against the module's answer."""
    problems = []
    cpus = {cpu["cpu-index"]: cpu for cpu in monitor.result("query-cpus-fast")}
    created = cpus.get(resolved.slot)
    if created is None or created["qom-path"] != qom_path:
        return [f"expected a CPU at index {resolved.slot} at {qom_path}, QEMU has {sorted(cpus)}: {created}"]
    ids = resolved.ids
    expected = {
        "apic-id": ApicIds(topology).of_ids(ids),
        "socket-id": ids.socket,
        "die-id": ids.die,
        "core-id": ids.core,
        "thread-id": ids.thread,
        "node-id": -1 if resolved.node_id is None else resolved.node_id,
        "start-powered-off": resolved.start_powered_off,
    }
    for name, value in expected.items():
        actual = monitor.result("qom-get", path=qom_path, property=name)
        if actual != value:
            problems.append(f"{qom_path} {name}: QEMU {actual}, module {value}")
    return problems


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_device_add_like_qemu(qemu: str, scenario: Scenario) -> None:
    topology = resolve_topology(smp(scenario.smp), find_board(scenario.machine))
    with running_qemu(["-M", scenario.machine, "-smp", scenario.smp, *scenario.extra]) as peer:
        monitor = BlockingQmp(peer.socket)
        try:
            target = _target(monitor, scenario.machine, topology)
            occupied = set(range(topology.boot_cpus))
            existing_ids: set[str] = set()
            anonymous = 0  # QEMU's peripheral-anon counter
            problems: list[str] = []
            for text in scenario.cases:
                reply = monitor.command("device_add", text)
                theirs = (reply["error"]["class"], reply["error"]["desc"]) if "error" in reply else "ok"
                resolved: ResolvedCpu | None = None
                try:
                    request = parse_device_request(json.loads(text), target, existing_ids=existing_ids)
                    if request.device_id is None:
                        qom_path = f"/machine/peripheral-anon/device[{anonymous}]"
                        anonymous += 1
                    else:
                        qom_path = f"/machine/peripheral/{request.device_id}"
                    resolved = resolve_slot(request, target, occupied=occupied)
                    ours: object = "ok"
                except QmpError as error:
                    ours = (error.error_class, error.desc)
                if ours != theirs:
                    problems.append(f"{text}\n    QEMU:   {theirs}\n    module: {ours}")
                elif resolved is not None:
                    problems += _check_created(monitor, topology, resolved, qom_path)
                    occupied.add(resolved.slot)
                    if resolved.device_id is not None:
                        existing_ids.add(resolved.device_id)
            assert not problems, f"{len(problems)} of {len(scenario.cases)} differ:\n" + "\n".join(problems)
            assert sorted(cpu["cpu-index"] for cpu in monitor.result("query-cpus-fast")) == sorted(occupied)
        finally:
            monitor.close()


# --- -device at start-up ---------------------------------------------------------------------------

CLI_MACHINE, CLI_SMP = "q35", "1,maxcpus=4"

CLI_CASES: tuple[tuple[str, ...], ...] = (
    (add(socket_id="1"),),
    (f'{{"driver": "{CPU}", "socket-id": 1.0}}',),
    (add(socket_id=None),),
    (add(apic_id=-1),),
    (f'{{"driver": "{CPU}", "apic-id": 1.0}}',),
    (add(start_powered_off="on"),),
    (add(hv_no_nonarch_coresharing="x"),),
    (add(id="1bad", foo=5),),
    (add(bus=5, mce=1, mca=2, msr=3),),
    (add(socket_id=0, core_id=0, thread_id=0),),
    (add(socket_id=0, core_id=2, thread_id=0, id="a"), add(socket_id=0, core_id=3, thread_id=0, id="a")),
    (add(apic_id=3), add(socket_id=0, core_id=1, thread_id=0, start_powered_off=True)),
    (f"{CPU},socket-id=0x0,core-id=010,thread-id=0",),
    (f"{CPU},msr=3,mce=1,mca=2",),
    (f"{CPU},start-powered-off=yes,socket-id=0,core-id=1,thread-id=0",),
    ("Haswell-x86_64-cpu,socket-id=0,core-id=1,thread-id=0",),
)


def _as_arguments(option: str) -> tuple[dict[str, Any], ArgumentSource]:
    if option.startswith("{"):
        return json.loads(option), ArgumentSource.CLI_JSON
    driver, *pairs = option.split(",")
    return {"driver": driver, **dict(pair.split("=", 1) for pair in pairs)}, ArgumentSource.CLI


@pytest.mark.parametrize("options", CLI_CASES, ids=lambda options: " ".join(options))
def test_device_option_like_qemu(qemu: str, options: tuple[str, ...]) -> None:
    board = find_board(CLI_MACHINE)
    topology = resolve_topology(smp(CLI_SMP), board)
    target = plug_target(board, topology)
    occupied, existing_ids = set(range(topology.boot_cpus)), set[str]()
    ours = "ok"
    for option in options:
        arguments, source = _as_arguments(option)
        try:
            resolved = resolve_device_add(
                arguments, target, existing_ids=existing_ids, occupied=occupied, source=source
            )
        except QmpError as error:
            ours = f"-device {option}: {error.desc}"
            break
        occupied.add(resolved.slot)
        if resolved.device_id is not None:
            existing_ids.add(resolved.device_id)

    args = ["-M", CLI_MACHINE, "-smp", CLI_SMP]
    for option in options:
        args += ["-device", option]
    theirs = _start_up_outcome(args)
    if isinstance(theirs, str):
        assert ours == theirs
    else:
        assert ours == "ok"
        assert theirs == sorted(occupied)


def _start_up_outcome(args: Sequence[str]) -> str | list[int]:
    """QEMU's `-device ...: <error>` line, or the cpu-index of every CPU when it started."""
    try:
        with running_qemu(args) as peer:
            monitor = BlockingQmp(peer.socket)
            try:
                return sorted(cpu["cpu-index"] for cpu in monitor.result("query-cpus-fast"))
            finally:
                monitor.close()
    except RuntimeError as failure:
        lines = re.findall(r"^qemu-system-x86_64: (-device .*)$", str(failure), re.MULTILINE)
        return lines[-1] if lines else str(failure)
