"""CPU topology: QEMU 7.2's -smp rules (hw/core/machine-smp.c) and the numbering of CPUs.

`resolve_smp` applies machine_parse_smp_config to the -smp numbers with the levels the board's
`SmpRules` allow, giving a `Topology` or QEMU's exact refusal; `resolve_topology` adds the board's
own check (`Board.check_topology`, e.g. the x86 APIC ID limit), which QEMU makes right after.
A Topology maps a CPU index (QEMU's cpu-index: the position among all possible vCPUs) to its
drawer/book/socket/die/cluster/core/thread ids and back, in constant time; thread varies
fastest.  How a board numbers CPUs for its hardware (x86 APIC IDs, pseries DRC indexes) is the
board's business, not this module's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import TYPE_CHECKING, ClassVar

from vmd.config import SmpConfig
from vmd.records import dataclass

if TYPE_CHECKING:
    from vmd.machine.board import Board

ZERO_IS_DEPRECATED = (
    "Deprecated CPU topology (considered invalid): CPU topology parameters must be greater than zero"
)

# QEMU reads the -smp numbers into C `unsigned`: arithmetic on them wraps modulo 2**32.
_U32 = (1 << 32) - 1


class TopologyError(Exception):
    """A -smp QEMU refuses; `str()` is QEMU's message without the program-name prefix.

    QEMU checks -smp once it builds the machine, when the command-line location is gone, so it
    prints `qemu-system-x86_64: <message>` with no `-smp ...:` in between; the caller prints
    `vmd: <message>`.  `warnings` are the warnings QEMU printed before failing (each as the text
    after `warning: `).
    """

    has_option_prefix: ClassVar[bool] = False

    def __init__(self, message: str, warnings: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.warnings: tuple[str, ...] = tuple(warnings)


@dataclass(frozen=True, slots=True)
class CpuIds:
    """Where a CPU sits: QEMU's socket-id, die-id, core-id and thread-id, and the levels only some
    boards have (cluster-id on ARM virt; books and drawers on s390x)."""

    socket: int
    die: int
    core: int
    thread: int
    cluster: int = 0
    book: int = 0
    drawer: int = 0


@dataclass(frozen=True, slots=True)
class Topology:
    """A resolved -smp: `max_cpus` possible vCPUs in drawers x books x sockets x dies x clusters x
    cores x threads, the first `boot_cpus` of which are present at start-up.

    `warnings` are what QEMU warns about the -smp given, without the `warning: ` prefix; they do
    not take part in comparisons.
    """

    sockets: int
    dies: int
    cores: int
    threads: int
    boot_cpus: int
    max_cpus: int
    warnings: tuple[str, ...] = field(default=(), compare=False)
    clusters: int = 1
    books: int = 1
    drawers: int = 1

    def __post_init__(self) -> None:
        if (
            min(self.sockets, self.dies, self.cores, self.threads, self.clusters, self.books, self.drawers)
            < 1
        ):
            raise ValueError(f"every topology level needs at least one member: {self}")
        # Normally every place of the hierarchy exists; a product QEMU saw wrap around 2**32 can
        # leave fewer CPUs than places, never more.
        if not 1 <= self.boot_cpus <= self.max_cpus <= self.places:
            raise ValueError(f"need 1 <= boot_cpus <= max_cpus <= the hierarchy's size: {self}")

    @property
    def places(self) -> int:
        return (
            self.drawers * self.books * self.sockets * self.dies * self.clusters * self.cores * self.threads
        )

    def ids(self, index: int) -> CpuIds:
        """The ids of CPU `index`; thread varies fastest, then core, cluster, die, socket, book."""
        self._check_index(index)
        rest, thread = divmod(index, self.threads)
        rest, core = divmod(rest, self.cores)
        rest, cluster = divmod(rest, self.clusters)
        rest, die = divmod(rest, self.dies)
        rest, socket = divmod(rest, self.sockets)
        drawer, book = divmod(rest, self.books)
        return CpuIds(socket, die, core, thread, cluster, book, drawer)

    def index_of(self, ids: CpuIds) -> int | None:
        """The CPU index of these ids, or None if they name no possible CPU."""
        if not (
            0 <= ids.thread < self.threads
            and 0 <= ids.core < self.cores
            and 0 <= ids.cluster < self.clusters
            and 0 <= ids.die < self.dies
            and 0 <= ids.socket < self.sockets
            and 0 <= ids.book < self.books
            and 0 <= ids.drawer < self.drawers
        ):
            return None
        index = ids.drawer
        for count, value in (
            (self.books, ids.book),
            (self.sockets, ids.socket),
            (self.dies, ids.die),
            (self.clusters, ids.cluster),
            (self.cores, ids.core),
            (self.threads, ids.thread),
        ):
            index = index * count + value
        return index if index < self.max_cpus else None

    def all_ids(self) -> tuple[CpuIds, ...]:
        """The ids of every possible CPU, in index order."""
        return tuple(self.ids(index) for index in range(self.max_cpus))

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.max_cpus:
            raise IndexError(f"CPU {index} out of range 0:{self.max_cpus - 1}")


def resolve_topology(smp: SmpConfig, board: Board) -> Topology:
    """`resolve_smp`, then the board's own check, as QEMU makes it when it creates the CPUs (its
    refusal carries the warnings -smp printed)."""
    topology = resolve_smp(smp, board)
    try:
        board.check_topology(topology)
    except TopologyError as error:
        error.warnings = topology.warnings
        raise
    return topology


def resolve_smp(smp: SmpConfig, board: Board) -> Topology:
    """The topology QEMU 7.2 builds for -smp `smp` on `board`, or TopologyError with its message.

    Checks happen in QEMU's order: unsupported levels, the hierarchy's product, maxcpus against
    cpus, the board's minimum and maximum.
    """
    given = (smp.cpus, smp.maxcpus, smp.sockets, smp.dies, smp.clusters, smp.cores, smp.threads)
    # An explicit 0 counts as "not given", with a deprecation warning.
    warnings = (ZERO_IS_DEPRECATED,) if 0 in given else ()
    counts = _SmpCounts(*(_unsigned(value) for value in given))
    try:
        _check_levels_supported(counts, board)
        _fill_in_omitted(counts, board.smp.prefers_sockets)
        _check_counts(counts, board)
    except TopologyError as error:
        error.warnings = warnings
        raise
    return Topology(
        counts.sockets,
        counts.dies,
        counts.cores,
        counts.threads,
        counts.cpus,
        counts.maxcpus,
        warnings,
        clusters=counts.clusters,
    )


@dataclass(slots=True)
class _SmpCounts:
    """The -smp numbers as machine_parse_smp_config holds them: C unsigned, 0 for "not given"."""

    cpus: int
    maxcpus: int
    sockets: int
    dies: int
    clusters: int
    cores: int
    threads: int

    def places(self) -> int:
        return (self.sockets * self.dies * self.clusters * self.cores * self.threads) & _U32


def _unsigned(value: int | None) -> int:
    # None and 0 both mean "not given"; so does a multiple of 2**32, as the C code sees it.
    return (value or 0) & _U32


def _check_levels_supported(counts: _SmpCounts, board: Board) -> None:
    # A level the board lacks may be given only as 1 (or 0, meaning omitted).
    if counts.dies > 1 and not board.smp.dies:
        raise TopologyError("dies not supported by this machine's CPU topology")
    if counts.clusters > 1 and not board.smp.clusters:
        raise TopologyError("clusters not supported by this machine's CPU topology")


def _fill_in_omitted(n: _SmpCounts, prefers_sockets: bool) -> None:
    n.dies = n.dies or 1
    n.clusters = n.clusters or 1
    if not n.cpus and not n.maxcpus:
        n.sockets, n.cores, n.threads = n.sockets or 1, n.cores or 1, n.threads or 1
    else:
        n.maxcpus = n.maxcpus or n.cpus
        # One omitted level is what is left of maxcpus: sockets on types before 6.2, cores after.
        if prefers_sockets:
            if not n.sockets:
                n.cores, n.threads = n.cores or 1, n.threads or 1
                n.sockets = _share(n.maxcpus, n.dies * n.clusters * n.cores * n.threads)
            elif not n.cores:
                n.threads = n.threads or 1
                n.cores = _share(n.maxcpus, n.sockets * n.dies * n.clusters * n.threads)
        elif not n.cores:
            n.sockets, n.threads = n.sockets or 1, n.threads or 1
            n.cores = _share(n.maxcpus, n.sockets * n.dies * n.clusters * n.threads)
        elif not n.sockets:
            n.threads = n.threads or 1
            n.sockets = _share(n.maxcpus, n.dies * n.clusters * n.cores * n.threads)
        # threads last: still omitted only when both sockets and cores were given
        if not n.threads:
            n.threads = _share(n.maxcpus, n.sockets * n.dies * n.clusters * n.cores)
    n.maxcpus = n.maxcpus or n.places()
    n.cpus = n.cpus or n.maxcpus


def _check_counts(n: _SmpCounts, board: Board) -> None:
    if n.places() != n.maxcpus:
        raise TopologyError(
            "Invalid CPU topology: product of the hierarchy must match maxcpus: "
            f"{_hierarchy(n, board)} != maxcpus ({n.maxcpus})"
        )
    if n.maxcpus < n.cpus:
        raise TopologyError(
            "Invalid CPU topology: maxcpus must be equal to or greater than smp: "
            f"{_hierarchy(n, board)} == maxcpus ({n.maxcpus}) < smp_cpus ({n.cpus})"
        )
    # QEMU prints these two counts with %d: -smp -1 is "Invalid SMP CPUs -1".
    if n.cpus < board.min_cpus:
        raise TopologyError(
            f"Invalid SMP CPUs {_as_int32(n.cpus)}. "
            f"The min CPUs supported by machine '{board.name}' is {board.min_cpus}"
        )
    if n.maxcpus > board.cpu_max:
        raise TopologyError(
            f"Invalid SMP CPUs {_as_int32(n.maxcpus)}. "
            f"The max CPUs supported by machine '{board.name}' is {board.cpu_max}"
        )


def _hierarchy(n: _SmpCounts, board: Board) -> str:
    """QEMU's "sockets (2) * dies (1) * cores (2) * threads (1)": the levels the board has."""
    levels = [f"sockets ({n.sockets})"]
    if board.smp.dies:
        levels.append(f"dies ({n.dies})")
    if board.smp.clusters:
        levels.append(f"clusters ({n.clusters})")
    levels += [f"cores ({n.cores})", f"threads ({n.threads})"]
    return " * ".join(levels)


def _share(total: int, divisor: int) -> int:
    """total / divisor as QEMU's unsigned arithmetic computes it.

    A divisor that wrapped to 0 (levels like cores=65536,threads=65536) makes QEMU 7.2 die of
    SIGFPE; here the level comes out 0 and the product check then refuses the topology.
    """
    divisor &= _U32
    return total // divisor if divisor else 0


def _as_int32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value
