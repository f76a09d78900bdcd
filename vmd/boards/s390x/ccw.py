"""QEMU 7.2's s390-ccw-virtio boards: s390-ccw-virtio-2.4 ... -7.2, and the alias s390-ccw-virtio.

Every value here was checked against qemu-system-s390x 7.2 (`-machine help`, `query-machines`,
its -smp rules, `qom-list` of its QOM tree): 248 CPUs at most, one thread per core, slots
addressed by core-id, no NUMA, 128 MiB of RAM by default, CPU hotplug through the SCLP (add only).
What depends on the version: the `qemu` CPU model and, before 4.1, the newer models' default
features (vmd.boards.s390x.cpu_models), and which -smp level an omitted one fills (sockets before
6.2, cores from 6.2 on).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import field

from vmd.boards.s390x import sclp
from vmd.boards.s390x.cpu_models import DEFAULT_CPU_TYPE, machine_version
from vmd.boards.s390x.cpus import S390Family
from vmd.machine.board import (
    COMMON_MACHINE_OPTIONS,
    COMMON_MACHINE_PROPERTIES,
    VMD_MAX_CPUS,
    Board,
    MachineDevices,
    MachineParts,
    SmpRules,
)
from vmd.machine.cpu_catalog import CpuCatalog
from vmd.machine.qdev.target import PlugTarget
from vmd.machine.slots import SlotLayout
from vmd.machine.topology import Topology, TopologyError
from vmd.qapi.compiled import SysEmuTarget
from vmd.records import dataclass

MiB = 1 << 20

VERSIONS = (
    *(f"2.{minor}" for minor in range(4, 13)),
    "3.0", "3.1", "4.0", "4.1", "4.2", "5.0", "5.1", "5.2", "6.0", "6.1", "6.2", "7.0", "7.1", "7.2",
)  # fmt: skip
LATEST = "7.2"

# The -machine properties the s390-ccw-virtio types add (qom-list-properties of
# s390-ccw-virtio-7.2-machine), and their `-machine TYPE,help` rows.
_CCW_OPTIONS: tuple[tuple[str, str, str | None], ...] = (
    ("aes-key-wrap", "bool", "enable/disable AES key wrapping using the CPACF wrapping key"),
    ("dea-key-wrap", "bool", "enable/disable DEA key wrapping using the CPACF wrapping key"),
    (
        "loadparm",
        "loadparm",
        "Up to 8 chars in set of [A-Za-z0-9. ] (lower case chars converted to upper case) to pass "
        "to machine loader, boot manager, and guest kernel",
    ),
)
_CCW_PROPERTIES = COMMON_MACHINE_PROPERTIES | {name for name, _, _ in _CCW_OPTIONS} | {VMD_MAX_CPUS}


@dataclass(frozen=True)
class CcwBoard(Board):
    """An s390-ccw-virtio-X.Y type; `cpu_family` knows its CPU models (and -cpu's options)."""

    cpu_family: S390Family = field(default_factory=lambda: S390Family(LATEST))

    def machine_properties(self) -> frozenset[str]:
        return _CCW_PROPERTIES

    def machine_options(self) -> tuple[tuple[str, str, str | None], ...]:
        return COMMON_MACHINE_OPTIONS + _CCW_OPTIONS

    def check_topology(self, topology: Topology) -> None:
        # s390_init_cpus, when the machine creates its CPUs.
        if topology.threads > 1:
            raise TopologyError("S390 does not support more than 1 threads.")

    def with_cpu_options(self, cpu_type: str, options: str, warn: Callable[[str], None]) -> Board:
        return dataclasses.replace(self, cpu_family=self.cpu_family.with_cpu_options(cpu_type, options, warn))

    def cpu_models(self) -> CpuCatalog:
        return self.cpu_family.models()

    def slot_layout(self, topology: Topology, cpu_type: str) -> SlotLayout:
        return self.cpu_family.layout(topology, cpu_type)

    def plug_target(self, cpu_type: str, layout: SlotLayout, slot_nodes: Sequence[int] | None) -> PlugTarget:
        return self.cpu_family.plug_target(cpu_type, layout, slot_nodes)

    def realize(self, parts: MachineParts) -> MachineDevices:
        controller = sclp.realize(parts)
        return MachineDevices(self.cpu_family.cpus(parts.qom, parts.slots.layout, parts.cpu_type), controller)


def ccw_board(version: str) -> CcwBoard:
    number = tuple(int(part) for part in version.split("."))
    latest = version == LATEST
    return CcwBoard(
        name=f"s390-ccw-virtio-{version}",
        description=f"Virtual s390x machine (version {version})",
        target=SysEmuTarget.S390X,
        cpu_max=248,
        hotpluggable_cpus=True,
        default_cpu_type=DEFAULT_CPU_TYPE,
        default_ram_id="s390.ram",
        default_ram_size=128 * MiB,
        numa_mem_supported=False,
        smp=SmpRules(prefers_sockets=number < (6, 2)),
        alias="s390-ccw-virtio" if latest else None,
        is_default=latest,
        version=number,
        qom_parent="s390-ccw-machine",
        cpu_family=S390Family(machine_version(number), buses=sclp.BUSES, fixed_types=sclp.FIXED_TYPES),
    )


def ccw_boards() -> Iterator[CcwBoard]:
    """Every s390-ccw-virtio type, in `-machine help` order: QEMU sorts types without a family by
    QOM type name (strcmp, so 2.10 before 2.4)."""
    yield from sorted((ccw_board(v) for v in VERSIONS), key=lambda board: board.name)
