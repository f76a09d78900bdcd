"""-numa on pc/q35 (vmd.machine.numa), without QEMU.

The expected values are QEMU 7.2's, observed with qemu-system-x86_64 (query-hotpluggable-cpus'
node-id of every slot, and stderr); tests/integration/test_numa_vs_qemu.py checks most of these
cases against QEMU again.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import pytest

from vmd.boards.catalog import find_board
from vmd.config import (
    JsonValue,
    MemoryConfig,
    MiB,
    NumaConfig,
    NumaCpuConfig,
    NumaDistConfig,
    NumaNodeConfig,
    NumaRawConfig,
    ObjectConfig,
)
from vmd.machine.numa import (
    HMAT_DISABLED,
    MEM_DEPRECATED,
    PARTIAL_MAPPING,
    NumaError,
    NumaLayout,
    NumaNode,
    resolve_numa,
)
from vmd.machine.topology import Topology


def topo(sockets: int, dies: int, cores: int, threads: int, boot: int, maximum: int) -> Topology:
    return Topology(sockets, dies, cores, threads, boot, maximum)


def backend(object_id: str, size: JsonValue, qom_type: str = "memory-backend-ram") -> ObjectConfig:
    return ObjectConfig(qom_type, object_id, MappingProxyType({"size": size}))


def memdev(*ids: str, cpus: tuple[tuple[int, int], ...] = ()) -> tuple[NumaNodeConfig, ...]:
    return tuple(NumaNodeConfig(memdev=object_id, cpus=cpus) for object_id in ids)


def resolve(
    numa: Sequence[NumaConfig],
    topology: Topology,
    *,
    machine: str = "q35",
    ram: int = 256 * MiB,
    objects: Sequence[ObjectConfig] = (),
    memory: MemoryConfig | None = None,
    texts: Sequence[str] | None = None,
) -> NumaLayout | None:
    return resolve_numa(
        numa, objects, topology, find_board(machine), memory or MemoryConfig(ram), option_texts=texts
    )


HALVES = (backend("m0", "128M"), backend("m1", "128M"))
THIRDS = (backend("m0", "128M"), backend("m1", "64M"), backend("m2", "64M"))
TWO = memdev("m0", "m1")
FOUR = topo(2, 1, 2, 1, 4, 4)  # -smp 4,sockets=2,cores=2
EIGHT = topo(4, 1, 2, 1, 8, 8)  # -smp 8,sockets=4,cores=2
DIES = topo(2, 2, 1, 1, 4, 4)  # -smp 4,sockets=2,dies=2


def unmapped(*slots: str) -> tuple[str, str]:
    return (
        f"warning: CPU(s) not present in any NUMA nodes: {', '.join(slots)}",
        f"warning: {PARTIAL_MAPPING}",
    )


def slot(index: int, socket: int, core: int, thread: int = 0, die: int | None = None) -> str:
    dies = "" if die is None else f"die-id: {die}, "
    return f"CPU {index} [socket-id: {socket}, {dies}core-id: {core}, thread-id: {thread}]"


# (id, numa, topology, objects, slot nodes, warnings); all on q35 with -m 256.
MAPPED: list[
    tuple[str, tuple[NumaConfig, ...], Topology, tuple[ObjectConfig, ...], tuple[int, ...], tuple[str, ...]]
] = [
    ("default by socket", TWO, EIGHT, HALVES, (0, 0, 1, 1, 0, 0, 1, 1), ()),
    (
        "default, three nodes",
        memdev("m0", "m1", "m2"),
        topo(4, 1, 2, 1, 1, 8),
        THIRDS,
        (0, 0, 1, 1, 2, 2, 0, 0),
        (),
    ),
    ("default ignores dies", TWO, DIES, HALVES, (0, 0, 1, 1), ()),
    (
        "cpus= complete",
        (NumaNodeConfig(memdev="m0", cpus=((0, 1),)), NumaNodeConfig(memdev="m1", cpus=((2, 3),))),
        topo(1, 1, 4, 1, 4, 4),
        HALVES,
        (0, 0, 1, 1),
        (),
    ),
    (
        "cpus= several ranges, one repeated",
        (NumaNodeConfig(memdev="m0", cpus=((0, 1), (0, 0))), NumaNodeConfig(memdev="m1", cpus=((2, 3),))),
        topo(1, 1, 4, 1, 4, 4),
        HALVES,
        (0, 0, 1, 1),
        (),
    ),
    (
        "cpus= partial: the rest on node 0",
        (NumaNodeConfig(memdev="m0", cpus=((0, 0),)), NumaNodeConfig(memdev="m1")),
        EIGHT,
        HALVES,
        (0,) * 8,
        unmapped(*(slot(i, i // 2, i % 2) for i in range(1, 8))),
    ),
    (
        "-numa cpu by socket",
        (*TWO, NumaCpuConfig(node_id=1, socket_id=0)),
        FOUR,
        HALVES,
        (1, 1, 0, 0),
        unmapped(slot(2, 1, 0), slot(3, 1, 1)),
    ),
    (
        "-numa cpu by die",
        (*TWO, NumaCpuConfig(node_id=1, die_id=1)),
        DIES,
        HALVES,
        (0, 1, 0, 1),
        unmapped(slot(0, 0, 0, die=0), slot(2, 1, 0, die=0)),
    ),
    (
        "-numa cpu by core, across sockets",
        (*TWO, NumaCpuConfig(node_id=1, core_id=1)),
        FOUR,
        HALVES,
        (0, 1, 0, 1),
        unmapped(slot(0, 0, 0), slot(2, 1, 0)),
    ),
    ("-numa cpu without ids: every slot", (*TWO, NumaCpuConfig(node_id=1)), FOUR, HALVES, (1, 1, 1, 1), ()),
    (
        "-numa cpu full",
        (*TWO, NumaCpuConfig(node_id=1, socket_id=0), NumaCpuConfig(node_id=0, socket_id=1)),
        FOUR,
        HALVES,
        (1, 1, 0, 0),
        (),
    ),
    (
        "cpus= and -numa cpu agreeing",
        (
            NumaNodeConfig(memdev="m0", cpus=((0, 0),)),
            NumaNodeConfig(memdev="m1"),
            NumaCpuConfig(0, socket_id=0),
        ),
        FOUR,
        HALVES,
        (0, 0, 0, 0),
        unmapped(slot(2, 1, 0), slot(3, 1, 1)),
    ),
    (
        "node ids out of order",
        (NumaNodeConfig(nodeid=1, memdev="m1"), NumaNodeConfig(nodeid=0, memdev="m0", cpus=((1, 2),))),
        topo(1, 1, 4, 1, 4, 4),
        HALVES,
        (0, 0, 0, 0),
        unmapped(slot(0, 0, 0), slot(3, 0, 3)),
    ),
    (
        "hotpluggable slots too",
        (
            NumaNodeConfig(memdev="m0", cpus=((0, 1), (4, 4))),
            NumaNodeConfig(memdev="m1", cpus=((2, 3), (5, 5))),
        ),
        topo(1, 1, 6, 1, 2, 6),
        HALVES,
        (0, 0, 1, 1, 0, 1),
        (),
    ),
]


@pytest.mark.parametrize(
    ("numa", "topology", "objects", "slot_nodes", "warnings"),
    [case[1:] for case in MAPPED],
    ids=[case[0] for case in MAPPED],
)
def test_slot_nodes(
    numa: tuple[NumaConfig, ...],
    topology: Topology,
    objects: tuple[ObjectConfig, ...],
    slot_nodes: tuple[int, ...],
    warnings: tuple[str, ...],
) -> None:
    layout = resolve(numa, topology, objects=objects)
    assert layout is not None
    assert layout.slot_nodes == slot_nodes
    assert layout.warnings == warnings


def test_nodes_memory_and_memdevs() -> None:
    numa = (NumaNodeConfig(nodeid=1, memdev="/objects/m1"), NumaNodeConfig(nodeid=0, memdev="objects/m0"))
    objects = (backend("m0", "192M"), backend("m1", 64 * MiB, "memory-backend-memfd"))
    layout = resolve(numa, FOUR, objects=objects)
    assert layout == NumaLayout(
        nodes=(NumaNode(0, 192 * MiB, "m0"), NumaNode(1, 64 * MiB, "m1")),
        slot_nodes=(0, 0, 1, 1),
    )
    assert layout.distances is None
    assert not layout.implicit


def test_legacy_mem_on_old_machines_warns_per_option() -> None:
    numa = (NumaNodeConfig(mem=64 * MiB), NumaNodeConfig(mem=64 * MiB))
    texts = ("node,mem=64", "node,mem=64M")
    layout = resolve(numa, FOUR, machine="pc-i440fx-5.0", ram=128 * MiB, texts=texts)
    assert layout is not None
    assert layout.nodes == (NumaNode(0, 64 * MiB), NumaNode(1, 64 * MiB))
    assert layout.slot_nodes == (0, 0, 1, 1)
    assert layout.warnings == tuple(f"-numa {text}: warning: {MEM_DEPRECATED}" for text in texts)
    # without the option texts the location is left out
    bare = resolve(numa, FOUR, machine="pc-i440fx-5.0", ram=128 * MiB)
    assert bare is not None
    assert bare.warnings == (f"warning: {MEM_DEPRECATED}",) * 2


def test_distances_symmetric_from_one_direction() -> None:
    numa: tuple[NumaConfig, ...] = (
        *memdev("m0", "m1", "m2"),
        NumaDistConfig(0, 1, 20),
        NumaDistConfig(2, 0, 30),
        NumaDistConfig(1, 2, 40),
    )
    layout = resolve(numa, topo(3, 1, 1, 1, 3, 3), objects=THIRDS)
    assert layout is not None
    assert layout.distances == ((10, 20, 30), (20, 10, 40), (30, 40, 10))
    assert layout.slot_nodes == (0, 1, 2)


def test_distances_asymmetric_in_full() -> None:
    numa: tuple[NumaConfig, ...] = (
        *TWO,
        NumaDistConfig(0, 1, 20),
        NumaDistConfig(1, 0, 30),
        NumaDistConfig(1, 1, 10),
    )
    layout = resolve(numa, FOUR, objects=HALVES)
    assert layout is not None
    assert layout.distances == ((10, 20), (30, 10))


@pytest.mark.parametrize(
    ("machine", "memory", "implicit"),
    [
        ("q35", MemoryConfig(256 * MiB, slots=2, maxmem_bytes=1024 * MiB), True),
        ("q35", MemoryConfig(256 * MiB, maxmem_bytes=1024 * MiB), True),
        ("pc-i440fx-5.1", MemoryConfig(256 * MiB, maxmem_bytes=1024 * MiB), True),
        ("pc-i440fx-5.0", MemoryConfig(256 * MiB, maxmem_bytes=1024 * MiB), False),
        ("pc-i440fx-5.0", MemoryConfig(256 * MiB, slots=2, maxmem_bytes=1024 * MiB), True),
        ("pc-q35-2.11", MemoryConfig(256 * MiB, slots=2, maxmem_bytes=1024 * MiB), True),
        ("pc-q35-2.10", MemoryConfig(256 * MiB, slots=2, maxmem_bytes=1024 * MiB), False),
        ("q35", MemoryConfig(256 * MiB, maxmem_bytes=256 * MiB), False),
        ("q35", MemoryConfig(256 * MiB), False),
        ("none", MemoryConfig(256 * MiB, slots=2, maxmem_bytes=1024 * MiB), False),
    ],
)
def test_memory_hotplug_enables_numa_without_numa_options(
    machine: str, memory: MemoryConfig, implicit: bool
) -> None:
    topology = topo(1, 1, 4, 1, 2, 4) if machine != "none" else topo(1, 1, 1, 1, 1, 1)
    layout = resolve((), topology, machine=machine, memory=memory)
    if not implicit:
        assert layout is None
        return
    assert layout == NumaLayout(nodes=(NumaNode(0, 256 * MiB),), slot_nodes=(0, 0, 0, 0), implicit=True)


R128 = (backend("m0", "128M"),)
INVALID_NODE = (
    "Invalid node-id={}, NUMA node must be defined with -numa node,nodeid=ID before it's used with "
    "-numa cpu,node-id=ID"
)
MISSING_DISTANCE = (
    "The distance between node 0 and 2 is missing, at least one distance value between each nodes "
    "should be provided."
)
ASYMMETRIC = (
    "At least one asymmetrical pair of distances is given, please provide distances for both "
    "directions of all node pairs."
)
MIXED = "numa configuration should use either mem= or memdev=,mixing both is not allowed"
NO_NUMA = "NUMA is not supported by this machine-type"


def refused(
    name: str,
    numa: tuple[NumaConfig, ...],
    message: str,
    *,
    option: int | None,
    machine: str = "q35",
    ram_mib: int = 256,
    objects: tuple[ObjectConfig, ...] = HALVES,
    hint: str | None = None,
) -> Any:
    """A refusal: `option` is the index of the -numa QEMU names, None for a message without one."""
    return pytest.param(machine, ram_mib, numa, objects, option, message, hint, id=name)


ONE = memdev("m0")
REFUSED = [
    # node ids
    refused("hole", (NumaNodeConfig(nodeid=1, memdev="m0"),), "numa: Node ID missing: 0",
            option=None, ram_mib=128, objects=R128),
    refused("highest hole first", (NumaNodeConfig(nodeid=127, memdev="m0"),), "numa: Node ID missing: 126",
            option=None, ram_mib=128, objects=R128),
    refused("implicit id taken", (NumaNodeConfig(nodeid=1, memdev="m1"), NumaNodeConfig(memdev="m0")),
            "Duplicate NUMA nodeid: 1", option=1),
    refused("too many nodes", (NumaNodeConfig(nodeid=128, memdev="m0"),),
            "Max number of NUMA nodes reached: 128", option=0, ram_mib=128, objects=R128),
    # cpus=
    refused("cpus= past maxcpus", (NumaNodeConfig(memdev="m0", cpus=((0, 65535),)),),
            "CPU index (4) should be smaller than maxcpus (4)", option=0, ram_mib=128, objects=R128),
    refused("cpus= overlapping",
            (NumaNodeConfig(memdev="m0", cpus=((0, 1),)), NumaNodeConfig(memdev="m1", cpus=((1, 1),))),
            "CPU is already assigned to node-id: 0", option=1),
    # memory
    refused("mem= on 7.2", (NumaNodeConfig(mem=128 * MiB), NumaNodeConfig(mem=128 * MiB)),
            "Parameter -numa node,mem is not supported by this machine type", option=0, objects=(),
            hint="Use -numa node,memdev instead"),
    refused("memdev= then mem=", (NumaNodeConfig(memdev="m0"), NumaNodeConfig(mem=0)), MIXED,
            option=1, ram_mib=128, objects=R128),
    refused("mem= and memdev= in one node", (NumaNodeConfig(mem=64 * MiB, memdev="m0"),), MIXED,
            option=0, machine="pc-i440fx-5.0", ram_mib=128, objects=R128),
    refused("memdev= missing", memdev("m1"), "memdev=m1 is ambiguous", option=0, ram_mib=128, objects=R128),
    refused("memdev= not a backend", memdev("io0"), "memdev=io0 is ambiguous", option=0, ram_mib=128,
            objects=(ObjectConfig("iothread", "io0"),)),
    refused("memdev= elsewhere", memdev("/machine/m0"), "memdev=/machine/m0 is ambiguous", option=0,
            ram_mib=128, objects=R128),
    refused("memdev= too deep", memdev("a/objects/m0"), "memdev=a/objects/m0 is ambiguous", option=0,
            ram_mib=128, objects=R128),
    refused("total below -m", TWO,
            "total memory for NUMA nodes (0xc000000) should equal RAM size (0x10000000)",
            option=None, objects=(backend("m0", "128M"), backend("m1", "64M"))),
    refused("node without memory", (NumaNodeConfig(),),
            "total memory for NUMA nodes (0x0) should equal RAM size (0x8000000)",
            option=None, ram_mib=128, objects=()),
    refused("backend used twice", memdev("m0", "/objects/m0"),
            "memory backend m0 can't be used multiple times.", option=None, objects=R128),
    # -numa cpu
    refused("cpu without node-id", (*TWO, NumaCpuConfig(socket_id=0)), "Missing mandatory node-id property",
            option=2),
    *(
        refused(f"cpu node-id={node}", (*TWO, NumaCpuConfig(node_id=node, socket_id=0)),
                INVALID_NODE.format(node), option=2)
        for node in (2, 128, 1000, -2)
    ),
    refused("cpu before its node",
            (NumaNodeConfig(memdev="m0"), NumaCpuConfig(node_id=1, socket_id=0), NumaNodeConfig(memdev="m1")),
            INVALID_NODE.format(1), option=1),
    refused("die-id without dies", (*TWO, NumaCpuConfig(node_id=1, die_id=0)), "die-id is not supported",
            option=2),
    refused("cluster-id before die-id", (*TWO, NumaCpuConfig(node_id=1, die_id=0, cluster_id=0)),
            "cluster-id is not supported", option=2),
    refused("no slot matches", (*TWO, NumaCpuConfig(node_id=1, socket_id=0, thread_id=1)), "no match found",
            option=2),
    refused("cpu against cpus=",
            (NumaNodeConfig(memdev="m0", cpus=((0, 0),)), NumaNodeConfig(memdev="m1"),
             NumaCpuConfig(node_id=1, socket_id=0)),
            "CPU is already assigned to node-id: 0", option=2),
    # HMAT is off
    refused("initiator=", (NumaNodeConfig(memdev="m0", initiator=0),), HMAT_DISABLED, option=0,
            ram_mib=128, objects=R128),
    refused("hmat-lb", (*ONE, NumaRawConfig("hmat-lb")), HMAT_DISABLED, option=1, ram_mib=128, objects=R128),
    refused("hmat-cache", (*ONE, NumaRawConfig("hmat-cache")), HMAT_DISABLED, option=1, ram_mib=128,
            objects=R128),
    # distances
    refused("dist to a missing node", (*ONE, NumaDistConfig(0, 1, 20)),
            "Source/Destination NUMA node is missing. Please use '-numa node' option to declare it first.",
            option=1, ram_mib=128, objects=R128),
    refused("dist below 10", (*TWO, NumaDistConfig(0, 1, 9)),
            "NUMA distance (9) is invalid, it shouldn't be less than 10.", option=2),
    refused("local dist not 10", (*TWO, NumaDistConfig(1, 1, 20)), "Local distance of node 1 should be 10.",
            option=2),
    refused("dist src too big", (*TWO, NumaDistConfig(300, 1, 20)),
            "Parameter 'src' expects an integer between 0 and 127", option=2),
    refused("dist both too big", (*TWO, NumaDistConfig(300, 200, 20)),
            "Parameter 'src' expects an integer between 0 and 127", option=2),
    refused("dist dst too big", (*TWO, NumaDistConfig(0, 200, 20)),
            "Parameter 'dst' expects an integer between 0 and 127", option=2),
    refused("dist pair missing", (*memdev("m0", "m1", "m2"), NumaDistConfig(0, 1, 20)), MISSING_DISTANCE,
            option=None, objects=THIRDS),
    refused("asymmetric and incomplete",
            (*memdev("m0", "m1", "m2"), NumaDistConfig(0, 1, 20), NumaDistConfig(1, 0, 30),
             NumaDistConfig(0, 2, 20), NumaDistConfig(1, 2, 20)),
            ASYMMETRIC, option=None, objects=THIRDS),
    # no NUMA on `none`, whatever the option
    refused("machine none", (NumaNodeConfig(),), NO_NUMA, option=0, machine="none", ram_mib=128, objects=()),
    refused("machine none, dist", (NumaDistConfig(0, 0, 10),), NO_NUMA, option=0, machine="none",
            ram_mib=128, objects=()),
]  # fmt: skip


@pytest.mark.parametrize(("machine", "ram_mib", "numa", "objects", "option", "message", "hint"), REFUSED)
def test_refused(
    machine: str,
    ram_mib: int,
    numa: tuple[NumaConfig, ...],
    objects: tuple[ObjectConfig, ...],
    option: int | None,
    message: str,
    hint: str | None,
) -> None:
    topology = topo(1, 1, 1, 1, 1, 1) if machine == "none" else FOUR
    with pytest.raises(NumaError) as caught:
        resolve(numa, topology, machine=machine, ram=ram_mib * MiB, objects=objects)
    error = caught.value
    # without the option texts, str() is the message alone
    assert (str(error), error.detail, error.option, error.hint, error.warnings) == (
        message,
        message,
        option,
        hint,
        (),
    )


def test_an_error_names_its_option_and_keeps_the_warnings_before_it() -> None:
    numa = (NumaNodeConfig(mem=0), NumaNodeConfig(memdev="m0"))
    texts = ("node,mem=0", "node,memdev=m0")
    with pytest.raises(NumaError) as caught:
        resolve(numa, FOUR, machine="pc-i440fx-5.0", ram=128 * MiB, objects=R128, texts=texts)
    error = caught.value
    assert str(error) == f"-numa node,memdev=m0: {MIXED}"
    assert error.option == 1
    assert error.warnings == (f"-numa node,mem=0: warning: {MEM_DEPRECATED}",)


def test_errors_after_the_options_have_no_location() -> None:
    with pytest.raises(NumaError) as caught:
        resolve((NumaNodeConfig(nodeid=1, memdev="m0"),), FOUR, ram=128 * MiB, objects=R128, texts=("x",))
    assert str(caught.value) == "numa: Node ID missing: 0"
    assert caught.value.option is None


def test_option_texts_must_match_the_options() -> None:
    with pytest.raises(ValueError, match="one text per -numa option"):
        resolve(TWO, FOUR, objects=HALVES, texts=("node,memdev=m0",))


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("128M", 128 * MiB),
        ("128m", 128 * MiB),
        ("0x8000000", 128 * MiB),
        ("134217728", 128 * MiB),
        ("134217728b", 128 * MiB),
        ("131072K", 128 * MiB),
        ("0.125G", 128 * MiB),
        ("1.5M", 3 * MiB // 2),
        (134217728, 128 * MiB),
    ],
)
def test_backend_sizes(size: JsonValue, expected: int) -> None:
    layout = resolve(memdev("m0"), FOUR, ram=expected, objects=(backend("m0", size),))
    assert layout is not None
    assert layout.nodes == (NumaNode(0, expected, "m0"),)


@pytest.mark.parametrize("size", [None, "", "big", "1.5", True, 1.5])
def test_a_backend_without_a_valid_size_is_the_callers_mistake(size: JsonValue) -> None:
    # QEMU refuses such an -object before it reads -numa.
    with pytest.raises(ValueError, match="has no valid size"):
        resolve(memdev("m0"), FOUR, objects=(backend("m0", size),))


def test_no_numa_options_no_layout() -> None:
    assert resolve((), FOUR) is None


def test_4096_slots() -> None:
    # What 4096 slots cost is measured in the benchmarks, not asserted here.
    topology = topo(64, 4, 16, 1, 1, 4096)
    objects = tuple(backend(f"m{n}", "64M") for n in range(4))
    numa: tuple[NumaConfig, ...] = (
        *memdev("m0", "m1", "m2", "m3"),
        *(NumaCpuConfig(node_id=socket % 4, socket_id=socket) for socket in range(64)),
    )
    layout = resolve(numa, topology, objects=objects)
    default = resolve(memdev("m0", "m1", "m2", "m3"), topology, objects=objects)
    partial = resolve(
        (*memdev("m0", "m1", "m2", "m3"), NumaCpuConfig(1, socket_id=0)), topology, objects=objects
    )
    assert layout is not None
    assert default is not None
    assert partial is not None
    assert layout.slot_nodes == default.slot_nodes == tuple((index // 64) % 4 for index in range(4096))
    assert partial.slot_nodes == (1,) * 64 + (0,) * (4096 - 64)
    assert partial.warnings[0].count("CPU ") == 4096 - 64


def test_layout_is_a_plain_value() -> None:
    layout = resolve(TWO, FOUR, objects=HALVES)
    assert layout is not None
    with pytest.raises(AttributeError):
        layout.slot_nodes = ()  # type: ignore[misc]  # the assignment mypy refuses is what is tested
    assert layout == NumaLayout(
        nodes=(NumaNode(0, 128 * MiB, "m0"), NumaNode(1, 128 * MiB, "m1")), slot_nodes=(0, 0, 1, 1)
    )
