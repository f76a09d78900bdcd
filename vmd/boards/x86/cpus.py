"""x86 CPUs on any board of the x86_64 target: one slot per thread, their QOM objects (with the
lapic child and apic-id), and the device types device_add knows."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vmd.boards.x86 import cpu_models
from vmd.boards.x86.apic import ApicIds
from vmd.boards.x86.cpu_props import ABSTRACT_DEVICE_TYPES
from vmd.boards.x86.pre_plug import X86CpuKind
from vmd.errors import GenericError
from vmd.machine.board import BoardCpus
from vmd.machine.cpu_catalog import CpuCatalog
from vmd.machine.cpu_qom import CpuObject
from vmd.machine.qdev.bus import EMPTY_BUSES, QdevBus
from vmd.machine.qdev.target import PlugTarget
from vmd.machine.qom import DeviceObject, QomObject, QomTree
from vmd.machine.slots import SlotLayout
from vmd.machine.topology import Topology
from vmd.qapi.compiled import CpuInstanceProperties

LAPIC_TYPE = "apic"  # QEMU's TCG local APIC ("kvm-apic" under KVM)


class X86Slots(SlotLayout):
    """QEMU's x86 possible CPUs: one slot per thread, the slot index being the cpu-index."""

    def __init__(self, topology: Topology, cpu_type: str) -> None:
        super().__init__(topology, cpu_type)

    def props(self, slot: int, node: int | None) -> CpuInstanceProperties:
        """The slot's address as QEMU 7.2 shows it on x86: die-id only with several dies, node-id
        only with NUMA."""
        ids = self.topology.ids(slot)
        die = ids.die if self.topology.dies > 1 else None
        return CpuInstanceProperties(
            node_id=node, socket_id=ids.socket, die_id=die, core_id=ids.core, thread_id=ids.thread
        )


class X86CpuObjects(BoardCpus):
    """x86 CPU devices: the address properties QEMU shows, the lapic child, the boot CPUs where the
    pc/q35 boards put them."""

    package_type = "x86-thread-cpu-package"
    package_ids = ("socket-id", "die-id", "core-id", "thread-id", "node-id")

    def __init__(self, qom: QomTree, layout: SlotLayout, cpu_type: str) -> None:
        self.qom = qom
        self.layout = layout
        self.cpu_type = cpu_type
        self.apic = ApicIds(layout.topology)

    def boot_place(self, slot: int) -> tuple[QomObject, str]:
        # unattached device[0] for the first, then device[2], device[3], ... (device[1] is the first
        # CPU's kvmvapic, created in between).
        return self.qom.machine.children["unattached"], f"device[{0 if slot == 0 else slot + 1}]"

    def create(
        self,
        slot: int,
        *,
        driver: str,
        node_id: int,
        device_id: str | None,
        hotplugged: bool,
        start_powered_off: bool,
    ) -> CpuObject:
        # x86_cpu_pre_plug accepts only the machine's CPU type: `driver` is cpu_type.
        ids = self.layout.ids(slot)
        obj = CpuObject(
            self.cpu_type,
            address=(
                ("socket-id", "int32", ids.socket),
                ("die-id", "int32", ids.die),
                ("core-id", "int32", ids.core),
                ("thread-id", "int32", ids.thread),
                ("node-id", "int32", node_id),
                ("apic-id", "uint32", self.apic.of_ids(ids)),
            ),
            device_id=device_id,
            hotplugged=hotplugged,
            start_powered_off=start_powered_off,
        )
        obj.add_child("lapic", DeviceObject(LAPIC_TYPE, hotplugged=hotplugged))
        return obj

    def deleted_children(self, device_path: str) -> tuple[str, ...]:
        return (f"{device_path}/lapic",)

    def check_unplug(self, slot: int) -> None:
        if slot == 0:
            raise GenericError("Boot CPU is unpluggable")


class X86Family:
    """What every board of the x86_64 target shares about CPUs (the `none` board too)."""

    abstract_types = ABSTRACT_DEVICE_TYPES

    def models(self, versioned: bool = True) -> CpuCatalog:
        return cpu_models.VERSIONED if versioned else cpu_models.LEGACY

    def layout(self, topology: Topology, cpu_type: str) -> SlotLayout:
        return X86Slots(topology, cpu_type)

    def plug_target(
        self,
        cpu_type: str,
        layout: SlotLayout,
        slot_nodes: Sequence[int] | None,
        *,
        buses: QdevBus = EMPTY_BUSES,
        hotplug_handler: bool = True,
    ) -> PlugTarget:
        kind = X86CpuKind(layout.topology, cpu_type, slot_nodes)
        return PlugTarget(
            devices=dict.fromkeys(cpu_models.VERSIONED.typenames(), kind),
            abstract_types=ABSTRACT_DEVICE_TYPES,
            buses=buses,
            hotplug_handler=hotplug_handler,
        )

    def cpus(self, qom: QomTree, layout: SlotLayout, cpu_type: str) -> BoardCpus:
        return X86CpuObjects(qom, layout, cpu_type)

    def with_cpu_options(self, cpu_type: str, options: str, warn: Callable[[str], None]) -> X86Family:
        return self  # CPUID flags change nothing vmd's guest runs


X86 = X86Family()
