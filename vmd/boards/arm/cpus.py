"""ARM CPUs on the boards of the aarch64 target: one slot per thread, addressed by socket, cluster,
core and thread; their QOM objects (mp-affinity, and in hotplug mode the four ids); and what
device_add and device_del may do with them.

mp-affinity (the MPIDR affinity, also the CPU's ACPI arch id) is linear in the CPU index, not
derived from the topology, as in QEMU 7.2: Aff0 is the index modulo the CPUs per Aff1 cluster
(8 with a GICv2, 16 with a GICv3), Aff1 the quotient.  A slot keeps its value across unplug and
replug.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vmd.boards.arm import cpu_models
from vmd.boards.arm.pre_plug import ArmCpuKind, mp_affinity, slot_text
from vmd.errors import GenericError
from vmd.machine.board import BoardCpus
from vmd.machine.cpu_catalog import CpuCatalog
from vmd.machine.cpu_qom import CpuObject
from vmd.machine.qdev.bus import EMPTY_BUSES
from vmd.machine.qdev.target import PlugTarget
from vmd.machine.qom import QomObject, QomProperty, QomTree, constant
from vmd.machine.slots import SlotLayout
from vmd.machine.topology import Topology
from vmd.qapi.compiled import CpuInstanceProperties

# The board's own devices (QEMU: sysbus devices no one may create with device_add).
BOARD_DEVICE_TYPES = frozenset(
    {"arm_gic", "arm-gicv3", "arm-gicv2m", "arm-gicv3-its", "pl011", "pl031", "gpex-pcihost", "pl061",
     "gpio-key", "acpi-ged", "virtio-mmio", "platform-bus-device"}
)  # fmt: skip
# QEMU's "unset" mp-affinity (device-list-properties' default): every non-affinity bit set.
UNSET_MP_AFFINITY = 0xFFFFFF00FF000000


class ArmSlots(SlotLayout):
    """virt's possible CPUs: one per thread; props always name socket, cluster, core and thread."""

    def __init__(self, topology: Topology, cpu_type: str) -> None:
        super().__init__(topology, cpu_type)

    def props(self, slot: int, node: int | None) -> CpuInstanceProperties:
        ids = self.topology.ids(slot)
        return CpuInstanceProperties(
            node_id=node, socket_id=ids.socket, cluster_id=ids.cluster, core_id=ids.core, thread_id=ids.thread
        )


@dataclass(frozen=True, slots=True)
class UnplugRules:
    """What device_del of a CPU meets: whether the machine has CPU hotplug and a GED."""

    hotplug: bool
    ged: bool


class ArmCpuObjects(BoardCpus):
    """ARM CPU devices: boot CPUs at unattached/device[N], mp-affinity, node-id, and in hotplug mode
    socket-id, cluster-id, core-id and thread-id."""

    # Layer 2: one thread per slot, addressed as the ARM virt hotplug slots are.
    package_type = "arm-thread-cpu-package"
    package_ids = ("socket-id", "cluster-id", "core-id", "thread-id", "node-id")

    def __init__(self, qom: QomTree, layout: SlotLayout, per_cluster: int, rules: UnplugRules) -> None:
        self.qom = qom
        self.layout = layout
        self.per_cluster = per_cluster
        self.rules = rules

    def boot_place(self, slot: int) -> tuple[QomObject, str]:
        return self.qom.machine.children["unattached"], f"device[{slot}]"

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
        ids = self.layout.ids(slot)
        address: list[tuple[str, str, int]] = []
        if self.rules.hotplug:
            address += [
                ("socket-id", "int32", ids.socket),
                ("cluster-id", "int32", ids.cluster),
                ("core-id", "int32", ids.core),
                ("thread-id", "int32", ids.thread),
            ]
        address += [
            ("mp-affinity", "uint64", mp_affinity(slot, self.per_cluster)),
            ("node-id", "int32", node_id),
        ]
        obj = CpuObject(
            driver,
            address=address,
            device_id=device_id,
            hotplugged=hotplugged,
            # PSCI: every CPU but the boot CPU starts powered off until the guest's CPU_ON.
            start_powered_off=start_powered_off or slot != 0,
        )
        obj.add_property(
            QomProperty("memory", "link<memory-region>", get=constant("/machine/unattached/system[0]"))
        )
        obj.add_property(QomProperty("aarch64", "bool", get=constant(cpu_models.is_aarch64(driver))))
        return obj

    def check_unplug(self, slot: int) -> None:
        if not self.rules.hotplug:
            # QEMU 7.2 aborts here (no hotplug handler for a CPU); vmd answers as for any device
            # that cannot be unplugged.
            raise GenericError(f"Device '{self.layout.cpu_type}' does not support hotplugging")
        if not self.rules.ged:
            raise GenericError("GED does not exists or device is not realized!")
        if slot == 0:
            raise GenericError(f"Boot CPU({slot_text(self.layout.topology, 0)}) hot-unplug not supported")


@dataclass(frozen=True)
class ArmFamily:
    """What every board of the aarch64 target shares about CPUs (`none` too): `hotplug` and `ged`
    are the virt machine's (off on `none`), `per_cluster` its CPUs per Aff1 (8: GICv2)."""

    hotplug: bool = False
    ged: bool = False
    per_cluster: int = 8

    def models(self, versioned: bool = True) -> CpuCatalog:
        return cpu_models.catalog()

    def layout(self, topology: Topology, cpu_type: str) -> SlotLayout:
        return ArmSlots(topology, cpu_type)

    def plug_target(
        self,
        cpu_type: str,
        layout: SlotLayout,
        slot_nodes: Sequence[int] | None,
        *,
        hotplug_handler: bool = True,
    ) -> PlugTarget:
        everything = cpu_models.catalog().typenames()
        if not self.hotplug:
            # 7.2: no ARM CPU type is user-creatable, and that check comes before any property.
            return PlugTarget(
                devices={},
                abstract_types=cpu_models.ABSTRACT_CPU_TYPES,
                buses=EMPTY_BUSES,
                hotplug_handler=hotplug_handler,
                fixed_types=everything | BOARD_DEVICE_TYPES,
            )
        pluggable = frozenset(t for t in everything if cpu_models.is_aarch64(t))
        kind = ArmCpuKind(layout.topology, cpu_type, slot_nodes, ged=self.ged, per_cluster=self.per_cluster)
        return PlugTarget(
            devices=dict.fromkeys(sorted(pluggable), kind),
            abstract_types=cpu_models.ABSTRACT_CPU_TYPES,
            buses=EMPTY_BUSES,
            hotplug_handler=hotplug_handler,
            fixed_types=(everything - pluggable) | BOARD_DEVICE_TYPES,
        )

    def cpus(self, qom: QomTree, layout: SlotLayout, cpu_type: str) -> BoardCpus:
        return ArmCpuObjects(qom, layout, self.per_cluster, UnplugRules(self.hotplug, self.ged))

    def with_cpu_options(self, cpu_type: str, options: str, warn: Callable[[str], None]) -> ArmFamily:
        return self  # feature flags (sve=, pauth=) change nothing vmd's guest runs
