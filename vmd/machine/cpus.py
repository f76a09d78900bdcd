"""The VM's CPUs as QMP sees them: the possible slots of the topology and the devices in them.

A slot is an index into the possible-CPU table (QEMU's cpu-index on x86); its
address (socket/die/core/thread) and APIC ID come from the topology, computed
when asked, so a table of thousands of slots costs nothing until it is listed.
Only occupied slots hold an object.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmd.machine.topology import Topology
from vmd.qapi.compiled import CpuInstanceProperties, HotpluggableCPU


@dataclass(frozen=True, slots=True)
class CpuDevice:
    """A present (realized) CPU: `index` is its slot, QEMU's cpu-index and the vCPU engine's index."""

    index: int
    qom_path: str


def boot_cpu_qom_path(index: int) -> str:
    """Where QEMU 7.2's pc/q35 boards put boot CPU `index`: unattached device[0] for the first,
    then device[2], device[3], ... (device[1] is the first CPU's kvmvapic, created in between)."""
    return f"/machine/unattached/device[{0 if index == 0 else index + 1}]"


class CpuSlots:
    """Possible slots and present CPUs.  `devices` keeps creation order (query-cpus-fast's)."""

    def __init__(self, topology: Topology, cpu_type: str, slot_nodes: tuple[int, ...] | None = None) -> None:
        self.topology = topology
        self.cpu_type = cpu_type
        self.slot_nodes = slot_nodes
        self.devices: dict[int, CpuDevice] = {}
        # Bumped on every change of occupancy: views derived from the slots cache on it.
        self.generation = 0

    def __len__(self) -> int:
        return self.topology.max_cpus

    def props(self, index: int) -> CpuInstanceProperties:
        """The slot's address as QEMU 7.2 shows it on x86: die-id only with several dies, node-id
        only with NUMA."""
        ids = self.topology.ids(index)
        die = ids.die if self.topology.dies > 1 else None
        node = None if self.slot_nodes is None else self.slot_nodes[index]
        return CpuInstanceProperties(
            node_id=node, socket_id=ids.socket, die_id=die, core_id=ids.core, thread_id=ids.thread
        )

    def add(self, device: CpuDevice) -> None:
        if device.index in self.devices:
            raise ValueError(f"slot {device.index} is occupied")
        self.devices[device.index] = device
        self.generation += 1

    def remove(self, index: int) -> CpuDevice:
        device = self.devices.pop(index)
        self.generation += 1
        return device

    def entry(self, index: int) -> HotpluggableCPU:
        device = self.devices.get(index)
        return HotpluggableCPU(
            type=self.cpu_type,
            vcpus_count=1,
            props=self.props(index),
            qom_path=None if device is None else device.qom_path,
        )

    def hotpluggable(self) -> list[HotpluggableCPU]:
        """query-hotpluggable-cpus: every slot, highest first (QEMU prepends as it walks the table)."""
        return [self.entry(index) for index in range(self.topology.max_cpus - 1, -1, -1)]
