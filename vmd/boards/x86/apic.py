"""x86 APIC IDs: how QEMU 7.2 packs a CPU's socket/die/core/thread ids into one (hw/i386/topology.h).

Each level gets just enough bits to number its members (ceil(log2(count))), thread bits lowest and
the socket field unbounded above, so counts that are not powers of two leave holes in the ID space:
an APIC ID in a hole names no CPU.  Every mapping is constant time.
"""

from __future__ import annotations

from vmd.machine.topology import CpuIds, Topology, TopologyError
from vmd.records import dataclass

# The ceiling QEMU's x86 boards put on the highest APIC ID + 1 unless KVM's in-kernel irqchip
# offers the x2APIC API; vmd has no KVM, so like TCG it always applies.
APIC_ID_LIMIT = 255
X2APIC_REQUIRED = "current -smp configuration requires kernel irqchip and X2APIC API support."


def _bit_width(count: int) -> int:
    # Just enough bits to number `count` things: ceil(log2(count)), 0 for a single one.
    return (count - 1).bit_length()


@dataclass(frozen=True, slots=True)
class ApicIds:
    """The APIC ID bit fields of one topology."""

    topology: Topology

    @property
    def thread_width(self) -> int:
        return _bit_width(self.topology.threads)

    @property
    def core_width(self) -> int:
        return _bit_width(self.topology.cores)

    @property
    def die_width(self) -> int:
        return _bit_width(self.topology.dies)

    @property
    def core_offset(self) -> int:
        return self.thread_width

    @property
    def die_offset(self) -> int:
        return self.core_offset + self.core_width

    @property
    def socket_offset(self) -> int:
        return self.die_offset + self.die_width

    def of_index(self, index: int) -> int:
        return self.of_ids(self.topology.ids(index))

    def of_ids(self, ids: CpuIds) -> int:
        """The APIC ID of a CPU with these ids (no range check, as in QEMU)."""
        return (
            ids.socket << self.socket_offset
            | ids.die << self.die_offset
            | ids.core << self.core_offset
            | ids.thread
        )

    def decode(self, apic_id: int) -> CpuIds:
        """The ids an APIC ID's bit fields spell, in range or not: QEMU quotes them when it rejects
        an apic-id (`Invalid CPU [socket: 0, die: 0, core: 0, thread: 3] with APIC ID 3, ...`)."""
        return CpuIds(
            socket=apic_id >> self.socket_offset,
            die=(apic_id >> self.die_offset) & ((1 << self.die_width) - 1),
            core=(apic_id >> self.core_offset) & ((1 << self.core_width) - 1),
            thread=apic_id & ((1 << self.thread_width) - 1),
        )

    def index_of(self, apic_id: int) -> int | None:
        """The CPU with this APIC ID, or None for a hole in the ID space or an ID past the end."""
        # A negative ID decodes to a negative socket, which the range check refuses.
        return self.topology.index_of(self.decode(apic_id))


def check_apic_id_limit(topology: Topology) -> None:
    """What x86 boards refuse when they create the CPUs: an APIC ID beyond what TCG can address."""
    if ApicIds(topology).of_index(topology.max_cpus - 1) + 1 > APIC_ID_LIMIT:
        raise TopologyError(X2APIC_REQUIRED)
