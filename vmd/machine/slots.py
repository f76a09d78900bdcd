"""The VM's CPU slots: QEMU's possible-CPUs table, what occupies each slot, and the vCPUs in them.

Three notions, kept apart: a *slot* is one hot-pluggable unit (query-hotpluggable-cpus lists one
entry per slot: an x86 thread, a pseries core of N threads); a *vCPU* is one thread of execution,
numbered by QEMU's cpu-index (query-cpus-fast lists one entry per vCPU, and the engine runs each
as a host thread of that index); a slot holds `vcpus_per_slot` consecutive vCPUs.  A slot's
address and its vCPUs come from the board's layout, computed when asked, so a table of thousands
of slots costs nothing until it is listed.  Only occupied slots hold a device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from vmd.machine.topology import CpuIds, Topology
from vmd.qapi.compiled import CpuInstanceProperties, HotpluggableCPU
from vmd.records import dataclass


class SlotLayout(ABC):
    """A board's possible slots for one topology (its possible_cpu_arch_ids)."""

    def __init__(self, topology: Topology, cpu_type: str, vcpus_per_slot: int = 1) -> None:
        if topology.max_cpus % vcpus_per_slot:
            raise ValueError(f"{topology.max_cpus} vCPUs do not make slots of {vcpus_per_slot}")
        self.topology = topology
        self.cpu_type = cpu_type  # what query-hotpluggable-cpus reports as each slot's type
        self.vcpus_per_slot = vcpus_per_slot
        self.count = topology.max_cpus // vcpus_per_slot

    def vcpus(self, slot: int) -> range:
        """The cpu-indexes of the vCPUs slot `slot` holds."""
        if not 0 <= slot < self.count:
            raise IndexError(f"slot {slot} out of range 0:{self.count - 1}")
        first = slot * self.vcpus_per_slot
        return range(first, first + self.vcpus_per_slot)

    def slot_of(self, cpu_index: int) -> int:
        return cpu_index // self.vcpus_per_slot

    def ids(self, slot: int) -> CpuIds:
        """The ids of the slot's first vCPU: the slot's address."""
        return self.topology.ids(self.vcpus(slot).start)

    @abstractmethod
    def props(self, slot: int, node: int | None) -> CpuInstanceProperties:
        """The slot's address as query-hotpluggable-cpus shows it (`node`: its NUMA node, None
        without NUMA)."""


@dataclass(frozen=True, slots=True)
class CpuDevice:
    """A present CPU device in `slot`: its QOM path, and its vCPUs' cpu-indexes and QOM paths (the
    device itself for a one-thread CPU; a pseries core's threads are children of the core)."""

    slot: int
    vcpus: range
    qom_path: str
    vcpu_paths: tuple[str, ...]


class SlotTable:
    """Possible slots and present CPUs.  `devices` keeps creation order (query-cpus-fast's)."""

    def __init__(self, layout: SlotLayout, slot_nodes: tuple[int, ...] | None = None) -> None:
        if slot_nodes is not None and len(slot_nodes) != layout.count:
            raise ValueError("slot_nodes needs one node per slot")
        self.layout = layout
        self.slot_nodes = slot_nodes
        self.devices: dict[int, CpuDevice] = {}
        # Bumped on every change of occupancy: views derived from the slots cache on it.
        self.generation = 0

    def __len__(self) -> int:
        return self.layout.count

    @property
    def possible_vcpus(self) -> int:
        return self.layout.topology.max_cpus

    def node(self, slot: int) -> int | None:
        return None if self.slot_nodes is None else self.slot_nodes[slot]

    def props(self, slot: int) -> CpuInstanceProperties:
        return self.layout.props(slot, self.node(slot))

    def vcpu_props(self, cpu_index: int) -> CpuInstanceProperties:
        """query-cpus-fast's props of a vCPU: those of its slot (QEMU's cpu_index_to_instance_props)."""
        return self.props(self.layout.slot_of(cpu_index))

    def add(self, device: CpuDevice) -> None:
        if device.slot in self.devices:
            raise ValueError(f"slot {device.slot} is occupied")
        self.devices[device.slot] = device
        self.generation += 1

    def remove(self, slot: int) -> CpuDevice:
        device = self.devices.pop(slot)
        self.generation += 1
        return device

    def present_vcpus(self) -> Iterator[tuple[int, str]]:
        """(cpu-index, QOM path) of every present vCPU, in creation order."""
        for device in self.devices.values():
            yield from zip(device.vcpus, device.vcpu_paths, strict=True)

    def entry(self, slot: int) -> HotpluggableCPU:
        device = self.devices.get(slot)
        return HotpluggableCPU(
            type=self.layout.cpu_type,
            vcpus_count=self.layout.vcpus_per_slot,
            props=self.props(slot),
            qom_path=None if device is None else device.qom_path,
        )

    def hotpluggable(self) -> list[HotpluggableCPU]:
        """query-hotpluggable-cpus: every slot, highest first (QEMU prepends as it walks the table)."""
        return [self.entry(slot) for slot in range(self.layout.count - 1, -1, -1)]
