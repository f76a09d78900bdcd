"""pseries cores: one slot per core of `threads` vCPUs, their QOM objects (the core, its threads
and each thread's interrupt presenters), and what device_add knows of them.

A slot's core-id is its first vCPU's cpu-index (slot x threads, as spapr_possible_cpu_arch_ids
numbers them), so a thread's cpu-index is core-id + thread.  node-id is always in a slot's props
(0 without NUMA).  A core's threads are `<core>/thread[i]`; each has an `icp` (XICS) and, where
the interrupt controller is XIVE-capable (ic-mode dual or xive on POWER9 and later), a
`xive-tctx`; an unplug deletes them thread by thread (icp, xive-tctx, the thread), then the core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from vmd.boards.ppc64 import cpu_models
from vmd.boards.ppc64.pre_plug import SpaprCoreKind
from vmd.errors import GenericError
from vmd.machine.board import BoardCpus
from vmd.machine.cpu_catalog import CpuCatalog
from vmd.machine.cpu_qom import CpuObject
from vmd.machine.qdev.bus import EMPTY_BUSES, QdevBus
from vmd.machine.qdev.target import PlugTarget
from vmd.machine.qom import DeviceObject, QomObject, QomProperty, QomTree, constant
from vmd.machine.slots import SlotLayout
from vmd.machine.topology import Topology
from vmd.qapi.compiled import CpuInstanceProperties

BOOT_CORE_UNPLUG = "Boot CPU core may not be unplugged"
NO_CPU_UNPLUG = "CPU hot unplug not supported on this machine"

# QEMU 7.2's abstract device types of qemu-system-ppc64 that matter to device_add of a core.
ABSTRACT_DEVICE_TYPES = frozenset(
    {"cpu", "cpu-core", "device", "powerpc64-cpu", "spapr-cpu-core", "sys-bus-device", "pci-device"}
)


class SpaprSlots(SlotLayout):
    """QEMU's pseries possible CPUs: one slot per core, core-id = slot x threads."""

    def __init__(self, topology: Topology, cpu_type: str) -> None:
        super().__init__(topology, cpu_models.core_type(cpu_type), topology.threads)

    def props(self, slot: int, node: int | None) -> CpuInstanceProperties:
        return CpuInstanceProperties(core_id=slot * self.vcpus_per_slot, node_id=0 if node is None else node)


def _refuse_after_realize(name: str, device_id: str | None, type_name: str) -> Callable[[Any], None]:
    def refuse(value: Any) -> None:
        device = "anonymous device" if device_id is None else f"device '{device_id}'"
        raise GenericError(
            f"Attempt to set property '{name}' on {device} (type '{type_name}') after it was realized"
        )

    return refuse


class SpaprCoreObjects(BoardCpus):
    """Core devices of one machine.  `xive`: the threads have a xive-tctx (and spapr-xive takes
    unattached/device[0], so boot cores start at device[1]); `hotpluggable`: the machine type has
    CPU hotplug (pseries 2.7 and later)."""

    # Layer 2: a pseries package is a whole core (its threads plug and unplug together).
    package_type = "spapr-core-cpu-package"
    package_ids = ("core-id", "node-id")

    boot_powered_off = True  # every ppc thread starts powered off; the firmware starts the boot one

    def __init__(
        self, qom: QomTree, layout: SlotLayout, cpu_type: str, *, xive: bool, hotpluggable: bool
    ) -> None:
        self.qom = qom
        self.layout = layout
        self.thread_type = cpu_type
        self.threads = layout.vcpus_per_slot
        self.xive = xive
        self.hotpluggable = hotpluggable
        self._children = ("icp", "xive-tctx") if xive else ("icp",)

    def boot_place(self, slot: int) -> tuple[QomObject, str]:
        return self.qom.machine.children["unattached"], f"device[{slot + 1 if self.xive else slot}]"

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
        core = CpuObject(
            driver,
            address=(
                ("nr-threads", "int", self.threads),
                ("core-id", "int", slot * self.threads),
                ("pre-3.0-migration", "bool", False),
                ("node-id", "int32", max(node_id, 0)),
            ),
            device_id=device_id,
            hotplugged=hotplugged,
        )
        del core.properties["start-powered-off"]  # a core has none; its threads do
        for name in ("nr-threads", "core-id", "pre-3.0-migration", "node-id"):
            core.properties[name].set = _refuse_after_realize(name, device_id, driver)
        core.add_table(_Threads(core, self, hotplugged))
        return core

    def thread(self, hotplugged: bool) -> DeviceObject:
        thread = DeviceObject(self.thread_type, hotplugged=hotplugged, hotpluggable=True)
        for prop in (
            QomProperty("memory", "link<memory-region>", get=constant("/machine/unattached/system[0]")),
            QomProperty("start-powered-off", "bool", get=constant(True)),
            QomProperty("legacy-memory", "str"),  # QEMU: not readable
            QomProperty("pre-3.0-migration", "bool", get=constant(False)),
            QomProperty("pre-2.8-migration", "bool", get=constant(False)),
            QomProperty("pre-2.10-migration", "bool", get=constant(False)),
        ):
            thread.add_property(prop)
        for gpio in ("unnamed-gpio-in[0]", "unnamed-gpio-in[1]"):
            thread.add_child(gpio, QomObject("irq"))
        thread.add_child("icp", DeviceObject("icp", hotplugged=hotplugged))
        if self.xive:
            thread.add_child("xive-tctx", DeviceObject("xive-tctx", hotplugged=hotplugged))
        return thread

    def vcpu_paths(self, device_path: str, slot: int) -> tuple[str, ...]:
        return tuple(f"{device_path}/thread[{thread}]" for thread in range(self.threads))

    def deleted_children(self, device_path: str) -> tuple[str, ...]:
        paths = []
        for thread in range(self.threads):
            base = f"{device_path}/thread[{thread}]"
            paths += [f"{base}/{child}" for child in self._children]
            paths.append(base)
        return tuple(paths)

    def check_unplug(self, slot: int) -> None:
        if not self.hotpluggable:
            raise GenericError(NO_CPU_UNPLUG)
        if slot == 0:
            raise GenericError(BOOT_CORE_UNPLUG)


class _Threads:
    """A core's `thread[i]` children, made when a path reaches them: a thread's QOM object holds
    nothing that changes, and a plug of an 8-thread core then creates one object, not 40."""

    def __init__(self, core: CpuObject, cores: SpaprCoreObjects, hotplugged: bool) -> None:
        self.core = core
        self.cores = cores
        self.hotplugged = hotplugged

    def _number(self, name: str) -> int | None:
        if not (name.startswith("thread[") and name.endswith("]")):
            return None
        digits = name[len("thread[") : -1]
        if not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
            return None
        number = int(digits)
        return number if number < self.cores.threads else None

    def child(self, name: str) -> QomObject | None:
        if self._number(name) is None:
            return None
        thread = self.cores.thread(self.hotplugged)
        thread.parent, thread.name = self.core, name
        return thread

    def entry(self, name: str) -> QomProperty | None:
        if self._number(name) is None:
            return None
        return QomProperty(name, f"child<{self.cores.thread_type}>", get=lambda: f"{self.core.path()}/{name}")

    def entries(self) -> Iterator[QomProperty]:
        for number in range(self.cores.threads):
            prop = self.entry(f"thread[{number}]")
            assert prop is not None
            yield prop

    def objects(self) -> Iterator[QomObject]:
        for number in range(self.cores.threads):
            child = self.child(f"thread[{number}]")
            assert child is not None
            yield child


@dataclass(frozen=True)
class SpaprFamily:
    """What every board of the ppc64 target vmd has shares about CPUs (`none` too).  `xive` and
    `hotpluggable` are the pseries type's."""

    xive_capable: bool = True
    hotpluggable: bool = True
    buses: QdevBus = EMPTY_BUSES

    def models(self, versioned: bool = True) -> CpuCatalog:
        return cpu_models.catalog()

    def layout(self, topology: Topology, cpu_type: str) -> SlotLayout:
        return SpaprSlots(topology, cpu_type)

    def plug_target(
        self,
        cpu_type: str,
        layout: SlotLayout,
        slot_nodes: Sequence[int] | None,
        *,
        hotplug_handler: bool = True,
    ) -> PlugTarget:
        kind = SpaprCoreKind(
            layout.topology,
            cpu_models.core_type(cpu_type),
            hotpluggable=self.hotpluggable,
            slot_nodes=slot_nodes,
        )
        return PlugTarget(
            devices=dict.fromkeys((m + cpu_models.CORE_SUFFIX for m in cpu_models.CORE_MODELS), kind),
            abstract_types=ABSTRACT_DEVICE_TYPES,
            buses=self.buses,
            hotplug_handler=hotplug_handler,
            fixed_types=cpu_models.catalog().typenames(),
        )

    def cpus(self, qom: QomTree, layout: SlotLayout, cpu_type: str) -> BoardCpus:
        xive = self.xive_capable and cpu_models.model_name(cpu_type) in cpu_models.XIVE_MODELS
        return SpaprCoreObjects(qom, layout, cpu_type, xive=xive, hotpluggable=self.hotpluggable)

    def with_cpu_options(self, cpu_type: str, options: str, warn: Callable[[str], None]) -> SpaprFamily:
        return self
