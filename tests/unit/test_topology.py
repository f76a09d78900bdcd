"""Boards, CPU models, -smp topology and APIC IDs (vmd.boards, vmd.machine.topology), without QEMU.

The expected values are QEMU 7.2's, observed with qemu-system-x86_64 (spec §6 and the runs behind
tests/integration/test_topology_vs_qemu.py, which checks most of them against QEMU again).
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmd.boards.catalog import catalog, find_board
from vmd.boards.x86.apic import APIC_ID_LIMIT, X2APIC_REQUIRED, ApicIds
from vmd.boards.x86.cpu_models import CPU_MODELS, VERSIONED
from vmd.boards.x86.pc import PcBoard
from vmd.config import SmpConfig
from vmd.machine.board import Board, UnknownMachineError
from vmd.machine.topology import (
    ZERO_IS_DEPRECATED,
    CpuIds,
    Topology,
    TopologyError,
    resolve_topology,
)

BOARDS = catalog().boards
DEFAULT_BOARD = catalog().default

# --- boards ---------------------------------------------------------------------------------


def test_aliases_and_default() -> None:
    assert find_board("q35") is find_board("pc-q35-7.2")
    assert find_board("pc") is find_board("pc-i440fx-7.2")
    assert find_board(None) is DEFAULT_BOARD is BOARDS["pc-i440fx-7.2"]
    assert [b.name for b in BOARDS.values() if b.is_default] == ["pc-i440fx-7.2"]
    assert {b.alias for b in BOARDS.values()} == {None, "pc", "q35"}


@pytest.mark.parametrize(
    "name", ["bogus", "", "PC", "Q35", "pc-q35-2.3", "pc-i440fx-1.3", "microvm", "isapc"]
)
def test_unknown_machine(name: str) -> None:
    with pytest.raises(UnknownMachineError) as caught:
        find_board(name)
    assert str(caught.value) == "unsupported machine type"
    assert caught.value.hint == "Use -machine help to list supported machines"
    assert caught.value.name == name


def test_the_versions_qemu_72_has() -> None:
    pc = [name for name in BOARDS if name.startswith("pc-i440fx-")]
    q35 = [name for name in BOARDS if name.startswith("pc-q35-")]
    assert len(pc) == 4 + 13 + 2 + 3 + 3 + 3 + 3  # 1.4-1.7, 2.0-2.12, 3.x, 4.x, 5.x, 6.x, 7.x
    assert len(q35) == 9 + 2 + 4 + 3 + 3 + 3  # 2.4-2.12, 3.x, 4.0/4.0.1/4.1/4.2, 5.x, 6.x, 7.x
    assert "pc-q35-4.0.1" in q35
    assert "pc-i440fx-4.0.1" not in pc
    assert set(BOARDS) == {*pc, *q35, "none"}


def test_help_order() -> None:
    # As `-machine help` lists them: i440FX newest first by strcmp (2.2 before 2.12), q35, none.
    names = list(BOARDS)
    assert names[0] == "pc-i440fx-7.2"
    assert names[names.index("pc-i440fx-2.3") : names.index("pc-i440fx-2.0") + 1] == [
        "pc-i440fx-2.3",
        "pc-i440fx-2.2",
        "pc-i440fx-2.12",
        "pc-i440fx-2.11",
        "pc-i440fx-2.10",
        "pc-i440fx-2.1",
        "pc-i440fx-2.0",
    ]
    assert names[names.index("pc-i440fx-1.4") + 1] == "pc-q35-7.2"
    assert names.index("pc-q35-4.0.1") + 1 == names.index("pc-q35-4.0")
    assert names[-1] == "none"


@pytest.mark.parametrize(
    ("name", "cpu_max"),
    [
        ("pc-i440fx-1.4", 255),
        ("pc-i440fx-7.2", 255),
        ("pc-q35-2.4", 255),
        ("pc-q35-2.7", 255),
        ("pc-q35-2.8", 288),
        ("pc-q35-7.2", 288),
        ("none", 1),
    ],
)
def test_cpu_max(name: str, cpu_max: int) -> None:
    assert find_board(name).cpu_max == cpu_max


@pytest.mark.parametrize(
    ("name", "prefers_sockets", "versioned_cpus", "numa_mem", "deprecated"),
    [
        ("pc-i440fx-1.7", True, False, True, True),
        ("pc-i440fx-2.0", True, False, True, False),
        ("pc-q35-4.0", True, False, True, False),
        ("pc-q35-4.0.1", True, False, True, False),
        ("pc-q35-4.1", True, True, True, False),
        ("pc-i440fx-5.0", True, True, True, False),
        ("pc-i440fx-5.1", True, True, False, False),
        ("pc-q35-6.1", True, True, False, False),
        ("pc-q35-6.2", False, True, False, False),
        ("pc-i440fx-7.2", False, True, False, False),
    ],
)
def test_version_dependent_facts(
    name: str, prefers_sockets: bool, versioned_cpus: bool, numa_mem: bool, deprecated: bool
) -> None:
    board = find_board(name)
    assert isinstance(board, PcBoard)
    assert board.smp.prefers_sockets is prefers_sockets
    assert board.cpu_models().show_aliases is versioned_cpus
    assert board.numa_mem_supported is numa_mem
    assert board.deprecated is deprecated
    assert board.hotpluggable_cpus
    assert board.smp.dies
    assert not board.smp.clusters
    assert board.default_cpu_type == "qemu64-x86_64-cpu"
    assert board.apic_id_limit


def test_none_board() -> None:
    board = find_board("none")
    assert (board.description, board.cpu_max, board.hotpluggable_cpus) == ("empty machine", 1, False)
    assert board.default_cpu_type is None
    assert board.cpu_models().show_aliases
    assert not board.smp.dies


def test_descriptions() -> None:
    assert find_board("pc").description == "Standard PC (i440FX + PIIX, 1996)"
    assert find_board("q35").description == "Standard PC (Q35 + ICH9, 2009)"
    assert (
        find_board("pc-i440fx-1.4").deprecation_reason == "old and unattended - use a newer version instead"
    )


# --- CPU models -----------------------------------------------------------------------------


def test_cpu_model_catalogue() -> None:
    assert len(CPU_MODELS) == 132
    qemu64 = VERSIONED.find("qemu64")
    assert qemu64 is not None
    assert (qemu64.typename, qemu64.alias_of, qemu64.static, qemu64.migration_safe) == (
        "qemu64-x86_64-cpu",
        "qemu64-v1",
        False,
        True,
    )
    assert qemu64.description == "(alias configured by machine type)"
    base = CPU_MODELS["base"]
    assert (base.static, base.migration_safe) == (True, True)
    assert CPU_MODELS["host"].unavailable_features == ("kvm",)
    assert CPU_MODELS["host"].description == "processor with all supported host features "
    assert CPU_MODELS["Broadwell-IBRS"].alias_of == "Broadwell-v3"
    assert VERSIONED.find("QEMU64") is None
    assert not any(model.deprecated for model in CPU_MODELS.values())


def test_every_alias_names_a_versioned_model() -> None:
    for model in CPU_MODELS.values():
        if model.alias_of is not None:
            target = CPU_MODELS[model.alias_of]
            assert target.alias_of is None
            assert model.unavailable_features == target.unavailable_features


def test_cpu_help_order() -> None:
    names = [model.name for model in VERSIONED.help_order]
    assert names[:3] == ["486", "486-v1", "Broadwell"]
    assert names[-3:] == ["base", "host", "max"]
    assert names.index("Westmere-v2") < names.index("athlon")  # strcmp: upper case first
    assert sorted(names) == sorted(CPU_MODELS)


# --- -smp resolution ------------------------------------------------------------------------


def smp(text: str) -> SmpConfig:
    """SmpConfig from QEMU's -smp syntax (numbers only, a leading bare number is cpus)."""
    values: dict[str, int] = {}
    for position, item in enumerate(text.split(",") if text else []):
        key, _, value = item.rpartition("=")
        assert key or position == 0, f"only the first item may be a bare number: {text}"
        values[key or "cpus"] = int(value)
    return SmpConfig(**values)


def topo(sockets: int, dies: int, cores: int, threads: int, boot: int, maximum: int) -> Topology:
    return Topology(sockets, dies, cores, threads, boot, maximum)


RESOLVED = [
    ("pc", "", topo(1, 1, 1, 1, 1, 1)),
    ("pc", "4", topo(1, 1, 4, 1, 4, 4)),
    ("pc-i440fx-6.2", "4", topo(1, 1, 4, 1, 4, 4)),
    ("pc-i440fx-6.1", "4", topo(4, 1, 1, 1, 4, 4)),
    ("q35", "1,maxcpus=4", topo(1, 1, 4, 1, 1, 4)),
    ("pc-i440fx-6.1", "1,maxcpus=4", topo(4, 1, 1, 1, 1, 4)),
    ("pc-q35-6.1", "2,cores=2,maxcpus=6", topo(3, 1, 2, 1, 2, 6)),
    ("pc-q35-6.1", "2,sockets=2,maxcpus=6", topo(2, 1, 3, 1, 2, 6)),
    ("pc", "1,threads=2,maxcpus=4", topo(1, 1, 2, 2, 1, 4)),
    ("pc-i440fx-5.2", "2,threads=2,maxcpus=8", topo(4, 1, 1, 2, 2, 8)),
    ("pc", "8,sockets=2,cores=2", topo(2, 1, 2, 2, 8, 8)),  # threads computed last
    ("pc", "sockets=2,cores=3,threads=2", topo(2, 1, 3, 2, 12, 12)),
    ("pc", "maxcpus=3", topo(1, 1, 3, 1, 3, 3)),
    ("pc", "2,maxcpus=2", topo(1, 1, 2, 1, 2, 2)),
    ("q35", "2,sockets=2,dies=2,cores=2,threads=2,maxcpus=16", topo(2, 2, 2, 2, 2, 16)),
    ("q35", "255", topo(1, 1, 255, 1, 255, 255)),
    ("q35", "1,sockets=64,cores=3,maxcpus=192", topo(64, 1, 3, 1, 1, 192)),  # highest APIC ID 254
    ("none", "1,dies=1,clusters=1", topo(1, 1, 1, 1, 1, 1)),
    # C unsigned: a multiple of 2**32 is 0, i.e. omitted (and, not being 0, draws no warning).
    ("pc", "4,sockets=4294967296", topo(1, 1, 4, 1, 4, 4)),
    ("pc", "4294967298", topo(1, 1, 2, 1, 2, 2)),
    # ... and products wrap: 2147483649 sockets x 2 threads "is" 2 CPUs (QEMU 7.2 starts this).
    ("pc", "2,sockets=2147483649,threads=2", topo(2147483649, 1, 1, 2, 2, 2)),
]


@pytest.mark.parametrize(
    ("machine", "text", "expected"),
    RESOLVED,
    ids=[f"{machine}:{text}" for machine, text, _ in RESOLVED],
)
def test_resolve(machine: str, text: str, expected: Topology) -> None:
    topology = resolve_topology(smp(text), find_board(machine))
    assert topology == expected
    assert topology.warnings == ()


def product(hierarchy: str, maxcpus: int) -> str:
    return (
        "Invalid CPU topology: product of the hierarchy must match maxcpus: "
        f"{hierarchy} != maxcpus ({maxcpus})"
    )


def below_cpus(hierarchy: str, maxcpus: int, cpus: int) -> str:
    return (
        "Invalid CPU topology: maxcpus must be equal to or greater than smp: "
        f"{hierarchy} == maxcpus ({maxcpus}) < smp_cpus ({cpus})"
    )


def above_max(cpus: int, machine: str, cpu_max: int) -> str:
    return f"Invalid SMP CPUs {cpus}. The max CPUs supported by machine '{machine}' is {cpu_max}"


def below_min(cpus: int, machine: str) -> str:
    return f"Invalid SMP CPUs {cpus}. The min CPUs supported by machine '{machine}' is 1"


def levels(sockets: int, cores: int, threads: int, dies: int | None = 1) -> str:
    """QEMU's hierarchy text; dies=None for a board without dies."""
    die = "" if dies is None else f" * dies ({dies})"
    return f"sockets ({sockets}){die} * cores ({cores}) * threads ({threads})"


REFUSED = [
    ("pc", "4,maxcpus=2", below_cpus(levels(1, 2, 1), 2, 4)),
    ("pc", "3,maxcpus=2", below_cpus(levels(1, 2, 1), 2, 3)),
    ("pc", "4,sockets=3", product(levels(3, 1, 1), 4)),
    ("pc", "2,sockets=2,cores=2", product(levels(2, 2, 0), 2)),
    ("pc", "1,sockets=2", product(levels(2, 0, 1), 1)),
    ("pc-i440fx-6.1", "1,sockets=2", product(levels(2, 0, 1), 1)),
    ("pc-q35-6.1", "2,sockets=3,cores=2", product(levels(3, 2, 0), 2)),
    ("none", "1,sockets=2", product(levels(2, 0, 1, dies=None), 1)),
    ("q35", "300", above_max(300, "pc-q35-7.2", 288)),
    ("q35", "2,maxcpus=300", above_max(300, "pc-q35-7.2", 288)),  # the count quoted is maxcpus
    ("pc", "256", above_max(256, "pc-i440fx-7.2", 255)),
    ("pc-q35-2.7", "256", above_max(256, "pc-q35-2.7", 255)),
    ("none", "2", above_max(2, "none", 1)),
    ("pc", "-1", above_max(-1, "pc-i440fx-7.2", 255)),  # unsigned inside, printed signed
    ("pc", "1,maxcpus=-2", above_max(-2, "pc-i440fx-7.2", 255)),
    ("pc", "1,sockets=-1", product(levels(4294967295, 0, 1), 1)),
    ("pc", "sockets=65536,cores=65536", below_min(0, "pc-i440fx-7.2")),  # 2**32 places wrap to 0
    ("none", "sockets=65536,cores=65536", below_min(0, "none")),
    ("pc", "1,clusters=2", "clusters not supported by this machine's CPU topology"),
    ("q35", "1,dies=2,clusters=2", "clusters not supported by this machine's CPU topology"),
    ("none", "1,dies=2", "dies not supported by this machine's CPU topology"),
    ("none", "1,clusters=2,dies=2", "dies not supported by this machine's CPU topology"),
    ("q35", "256", X2APIC_REQUIRED),
    ("q35", "2,sockets=2,cores=128", product(levels(2, 128, 0), 2)),
    ("q35", "2,sockets=2,cores=128,threads=1,maxcpus=256", X2APIC_REQUIRED),  # highest APIC ID 255
    ("pc", "1,sockets=3,cores=65,maxcpus=195", X2APIC_REQUIRED),  # 195 CPUs, highest APIC ID 320
    # QEMU 7.2 dies of SIGFPE here (65536 * 65536 wraps to a 0 divisor); vmd refuses instead.
    ("pc", "4,cores=65536,threads=65536", product(levels(0, 65536, 65536), 4)),
]


@pytest.mark.parametrize(("machine", "text", "message"), REFUSED, ids=[f"{m}:{t}" for m, t, _ in REFUSED])
def test_refused(machine: str, text: str, message: str) -> None:
    with pytest.raises(TopologyError) as caught:
        resolve_topology(smp(text), find_board(machine))
    assert str(caught.value) == message
    assert caught.value.warnings == ()
    assert not caught.value.has_option_prefix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", topo(1, 1, 1, 1, 1, 1)),
        ("0,maxcpus=0", topo(1, 1, 1, 1, 1, 1)),
        ("2,sockets=0,cores=2", topo(1, 1, 2, 1, 2, 2)),
        ("4,dies=0,clusters=0", topo(1, 1, 4, 1, 4, 4)),
        ("4,threads=0,cores=0", topo(1, 1, 4, 1, 4, 4)),
    ],
)
def test_zero_means_omitted_with_a_warning(text: str, expected: Topology) -> None:
    topology = resolve_topology(smp(text), find_board("pc"))
    assert topology == expected
    assert topology.warnings == (ZERO_IS_DEPRECATED,)
    assert ZERO_IS_DEPRECATED == (
        "Deprecated CPU topology (considered invalid): CPU topology parameters must be greater than zero"
    )


def test_an_error_keeps_the_warnings_printed_before_it() -> None:
    with pytest.raises(TopologyError) as caught:
        resolve_topology(smp("4,sockets=3,threads=0"), find_board("pc"))
    assert caught.value.warnings == (ZERO_IS_DEPRECATED,)
    assert str(caught.value) == product(levels(3, 1, 1), 4)


_INT64 = st.integers(-(2**63), 2**63 - 1)
_SMALL = st.integers(-2, 300)


@given(
    st.builds(
        SmpConfig,
        **{
            key: st.none() | _SMALL | _INT64
            for key in ("cpus", "maxcpus", "sockets", "dies", "clusters", "cores", "threads")
        },
    ),
    st.sampled_from(["pc", "q35", "pc-i440fx-6.1", "none"]),
)
def test_any_smp_gives_a_consistent_topology_or_a_topology_error(config: SmpConfig, machine: str) -> None:
    board = find_board(machine)
    try:
        topology = resolve_topology(config, board)
    except TopologyError:
        return
    assert 1 <= topology.boot_cpus <= topology.max_cpus <= board.cpu_max
    if isinstance(board, PcBoard):
        assert ApicIds(topology).of_index(topology.max_cpus - 1) < APIC_ID_LIMIT
    for value, level in ((config.sockets, topology.sockets), (config.cores, topology.cores)):
        if value is not None and 0 < value < 2**32:
            assert level == value  # a level given stays as given


# --- APIC IDs and slots ---------------------------------------------------------------------


def test_spec_worked_example() -> None:
    # spec §6.2: sockets=2,cores=3,threads=3 (observed with qom-get apic-id and device_add).
    topology = resolve_topology(smp("1,sockets=2,cores=3,threads=3,maxcpus=18"), find_board("q35"))
    assert topology == topo(2, 1, 3, 3, 1, 18)
    apic = ApicIds(topology)
    assert (apic.thread_width, apic.core_width, apic.die_width) == (2, 2, 0)
    assert (apic.core_offset, apic.die_offset, apic.socket_offset) == (2, 4, 4)
    assert apic.of_ids(CpuIds(1, 0, 2, 2)) == 26
    assert apic.index_of(17) == 10
    assert topology.ids(10) == CpuIds(socket=1, die=0, core=0, thread=1)
    assert apic.index_of(3) is None  # thread field 3 >= 3 threads
    assert apic.index_of(12) is None  # core field 3 >= 3 cores
    assert apic.decode(3) == CpuIds(0, 0, 0, 3)
    assert apic.decode(100) == CpuIds(6, 0, 1, 0)
    assert apic.index_of(32) is None  # socket 2 of 2
    assert apic.index_of(-1) is None


@pytest.mark.parametrize(
    ("count", "width"), [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (9, 4), (255, 8), (256, 8), (257, 9)]
)
def test_a_field_is_just_wide_enough(count: int, width: int) -> None:
    apic = ApicIds(topo(count, count, count, count, 1, count**4))
    assert (apic.thread_width, apic.core_width, apic.die_width) == (width, width, width)
    assert (apic.core_offset, apic.die_offset, apic.socket_offset) == (width, 2 * width, 3 * width)


def test_dies_get_their_own_field() -> None:
    topology = topo(2, 3, 3, 2, 1, 36)
    apic = ApicIds(topology)
    assert (apic.core_offset, apic.die_offset, apic.socket_offset) == (1, 3, 5)
    assert apic.of_ids(CpuIds(1, 2, 1, 1)) == 32 | 2 << 3 | 1 << 1 | 1
    assert topology.ids(35) == CpuIds(1, 2, 2, 1)


def _all_topologies() -> list[Topology]:
    shapes = itertools.product(range(1, 4), range(1, 4), range(1, 6), range(1, 6))
    return [topo(s, d, c, t, 1, s * d * c * t) for s, d, c, t in shapes]


@pytest.mark.parametrize("topology", _all_topologies(), ids=str)
def test_indexes_ids_and_apic_ids_agree(topology: Topology) -> None:
    apic = ApicIds(topology)
    all_ids = topology.all_ids()
    assert len(all_ids) == topology.max_cpus
    assert len(set(all_ids)) == len(all_ids)
    apic_ids = [apic.of_index(index) for index in range(topology.max_cpus)]
    assert apic_ids == sorted(set(apic_ids))  # ascending, so QEMU may binary-search them
    for index, ids in enumerate(all_ids):
        assert topology.ids(index) == ids
        assert topology.index_of(ids) == index
        assert apic.decode(apic_ids[index]) == ids
    assert all_ids[-1] == CpuIds(
        topology.sockets - 1, topology.dies - 1, topology.cores - 1, topology.threads - 1
    )
    # Every other APIC ID up to the highest is a hole.
    found = [apic.index_of(value) for value in range(apic_ids[-1] + 2)]
    assert [index for index in found if index is not None] == list(range(topology.max_cpus))


def test_clusters_books_and_drawers_number_above_cores() -> None:
    topology = Topology(2, 1, 2, 2, 1, 32, clusters=2, books=2)
    assert topology.ids(5) == CpuIds(socket=0, die=0, core=0, thread=1, cluster=1)
    assert topology.ids(16) == CpuIds(socket=0, die=0, core=0, thread=0, book=1)
    assert [topology.index_of(ids) for ids in topology.all_ids()] == list(range(32))


def test_out_of_range() -> None:
    topology = topo(2, 1, 3, 1, 1, 6)
    with pytest.raises(IndexError):
        topology.ids(6)
    with pytest.raises(IndexError):
        ApicIds(topology).of_index(-1)
    for ids in [(2, 0, 0, 0), (0, 1, 0, 0), (0, 0, 3, 0), (0, 0, 0, 1), (-1, 0, 0, 0)]:
        assert topology.index_of(CpuIds(*ids)) is None


def test_wrapped_topology_has_only_max_cpus_slots() -> None:
    topology = resolve_topology(smp("2,sockets=2147483649,threads=2"), find_board("pc"))
    assert topology.all_ids() == (CpuIds(0, 0, 0, 0), CpuIds(0, 0, 0, 1))
    assert ApicIds(topology).index_of(2) is None  # socket 1 would be slot 2, past maxcpus
    assert topology.index_of(CpuIds(1, 0, 0, 0)) is None


@pytest.mark.parametrize(
    "shape",
    [(0, 1, 1, 1, 1, 1), (1, 1, 1, 1, 0, 1), (1, 1, 1, 1, 2, 1), (1, 1, 2, 1, 1, 3), (1, 0, 1, 1, 1, 1)],
)
def test_inconsistent_topology_is_a_programming_error(shape: tuple[int, int, int, int, int, int]) -> None:
    with pytest.raises(ValueError, match=r"level needs at least one|need 1 <= boot_cpus"):
        Topology(*shape)


def test_large_topologies() -> None:
    # 4096 slots (pseries' cpu-max, q35 from 9.0) and 16x as many; how their cost grows is
    # measured in scripts/bench_hotplug.py, not asserted here.
    assert len(topo(16, 4, 16, 4, 1, 4096).all_ids()) == 4096
    big = topo(256, 4, 16, 4, 1, 65536)
    assert len(big.all_ids()) == 65536
    assert ApicIds(big).index_of(ApicIds(big).of_index(65535)) == 65535


def test_board_is_a_plain_value() -> None:
    board = find_board("q35")
    assert isinstance(board, Board)
    with pytest.raises(AttributeError):
        board.cpu_max = 1  # type: ignore[misc]  # the assignment mypy refuses is what is tested
