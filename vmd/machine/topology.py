"""CPU topology: QEMU 7.2's -smp rules and x86 APIC ID packing.

`resolve_smp` applies hw/core/machine-smp.c (machine_parse_smp_config) and the x86 boards'
APIC ID limit to the -smp numbers, giving a `Topology` or QEMU's exact refusal.  A Topology maps
a slot index (QEMU's cpu-index: the position in the machine's possible-CPU table) to
socket/die/core/thread ids and an APIC ID and back, each in constant time, with the bit
packing of hw/i386/topology.h.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from vmd.config import SmpConfig
from vmd.machine.boards import Board

ZERO_IS_DEPRECATED = (
    "Deprecated CPU topology (considered invalid): CPU topology parameters must be greater than zero"
)
X2APIC_REQUIRED = "current -smp configuration requires kernel irqchip and X2APIC API support."

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
    """Where a CPU sits: QEMU's socket-id, die-id, core-id and thread-id."""

    socket: int
    die: int
    core: int
    thread: int


def _bit_width(count: int) -> int:
    # Just enough bits to number `count` things: ceil(log2(count)), 0 for a single one.
    return (count - 1).bit_length()


@dataclass(frozen=True, slots=True)
class Topology:
    """A resolved -smp: `max_cpus` slots of sockets x dies x cores x threads, the first
    `boot_cpus` of which are filled at start-up.

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

    def __post_init__(self) -> None:
        if min(self.sockets, self.dies, self.cores, self.threads) < 1:
            raise ValueError(f"every topology level needs at least one member: {self}")
        # Normally every slot of the hierarchy exists; a product QEMU saw wrap around 2**32 can
        # leave fewer slots than places, never more.
        if not 1 <= self.boot_cpus <= self.max_cpus <= self.sockets * self.dies * self.cores * self.threads:
            raise ValueError(f"need 1 <= boot_cpus <= max_cpus <= the hierarchy's size: {self}")

    # --- APIC ID bit fields (thread bits lowest, the socket field unbounded above) ---

    @property
    def thread_width(self) -> int:
        return _bit_width(self.threads)

    @property
    def core_width(self) -> int:
        return _bit_width(self.cores)

    @property
    def die_width(self) -> int:
        return _bit_width(self.dies)

    @property
    def core_offset(self) -> int:
        return self.thread_width

    @property
    def die_offset(self) -> int:
        return self.core_offset + self.core_width

    @property
    def socket_offset(self) -> int:
        return self.die_offset + self.die_width

    # --- slot index <-> ids <-> APIC ID ---

    def ids(self, index: int) -> CpuIds:
        """The ids of slot `index`; thread varies fastest, then core, die, socket."""
        self._check_index(index)
        rest, thread = divmod(index, self.threads)
        rest, core = divmod(rest, self.cores)
        socket, die = divmod(rest, self.dies)
        return CpuIds(socket, die, core, thread)

    def apic_id(self, index: int) -> int:
        return self.apic_id_of(self.ids(index))

    def apic_id_of(self, ids: CpuIds) -> int:
        """The APIC ID of a CPU with these ids (no range check, as in QEMU)."""
        return (
            ids.socket << self.socket_offset
            | ids.die << self.die_offset
            | ids.core << self.core_offset
            | ids.thread
        )

    def decode_apic_id(self, apic_id: int) -> CpuIds:
        """The ids an APIC ID's bit fields spell, in range or not: QEMU quotes them when it rejects
        an apic-id (`Invalid CPU [socket: 0, die: 0, core: 0, thread: 3] with APIC ID 3, ...`)."""
        return CpuIds(
            socket=apic_id >> self.socket_offset,
            die=(apic_id >> self.die_offset) & ((1 << self.die_width) - 1),
            core=(apic_id >> self.core_offset) & ((1 << self.core_width) - 1),
            thread=apic_id & ((1 << self.thread_width) - 1),
        )

    def index_of(self, socket: int, die: int, core: int, thread: int) -> int:
        """The slot index of these ids; ValueError if they name no slot."""
        index = self._index_or_none(CpuIds(socket, die, core, thread))
        if index is None:
            raise ValueError(f"no slot at socket {socket}, die {die}, core {core}, thread {thread}")
        return index

    def index_of_apic_id(self, apic_id: int) -> int | None:
        """The slot with this APIC ID, or None for a hole in the ID space or an ID past the end."""
        # A negative ID decodes to a negative socket, which the range check refuses.
        return self._index_or_none(self.decode_apic_id(apic_id))

    def slots(self) -> tuple[CpuIds, ...]:
        """The ids of every slot, in index order (which is also ascending APIC ID order)."""
        return tuple(self.ids(index) for index in range(self.max_cpus))

    def _index_or_none(self, ids: CpuIds) -> int | None:
        if not (
            0 <= ids.thread < self.threads
            and 0 <= ids.core < self.cores
            and 0 <= ids.die < self.dies
            and 0 <= ids.socket < self.sockets
        ):
            return None
        index = ((ids.socket * self.dies + ids.die) * self.cores + ids.core) * self.threads + ids.thread
        return index if index < self.max_cpus else None

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.max_cpus:
            raise IndexError(f"slot {index} out of range 0:{self.max_cpus - 1}")


def resolve_smp(smp: SmpConfig, board: Board) -> Topology:
    """The topology QEMU 7.2 builds for -smp `smp` on `board`, or TopologyError with its message.

    Checks happen in QEMU's order: unsupported levels, the hierarchy's product, maxcpus against
    cpus, the board's minimum and maximum, then (x86 boards) the highest APIC ID.
    """
    given = (smp.cpus, smp.maxcpus, smp.sockets, smp.dies, smp.clusters, smp.cores, smp.threads)
    # An explicit 0 counts as "not given", with a deprecation warning.
    warnings = (ZERO_IS_DEPRECATED,) if 0 in given else ()
    counts = _SmpCounts(*(_unsigned(value) for value in given))
    try:
        _check_levels_supported(counts, board)
        _fill_in_omitted(counts, board.smp_prefers_sockets)
        _check_counts(counts, board)
        assert counts.clusters == 1, "a board with clusters needs a Topology that has them"
        topology = Topology(
            counts.sockets, counts.dies, counts.cores, counts.threads, counts.cpus, counts.maxcpus, warnings
        )
        # x86 boards check this later, when they create the CPUs; nothing else fails in between.
        if board.apic_id_limit is not None and topology.apic_id(counts.maxcpus - 1) + 1 > board.apic_id_limit:
            raise TopologyError(X2APIC_REQUIRED)
    except TopologyError as error:
        error.warnings = warnings
        raise
    return topology


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
    if counts.dies > 1 and not board.dies_supported:
        raise TopologyError("dies not supported by this machine's CPU topology")
    if counts.clusters > 1 and not board.clusters_supported:
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
    if board.dies_supported:
        levels.append(f"dies ({n.dies})")
    if board.clusters_supported:
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
