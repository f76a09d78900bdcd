"""QEMU's `none` machine: no devices, no CPU unless -cpu asks for one, no CPU hotplug.

libvirt probes an emulator with `-machine none`; the answers must be the target's (its CPU
models and QOM types), so a `none` board is made for each target from that target's CPU family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from vmd.errors import GenericError
from vmd.machine.board import Board, BoardCpus, MachineDevices, MachineParts
from vmd.machine.cpu_catalog import CpuCatalog
from vmd.machine.cpu_qom import CpuObject
from vmd.machine.qdev.target import PlugTarget
from vmd.machine.qom import QomObject, QomTree
from vmd.machine.slots import SlotLayout
from vmd.machine.topology import Topology
from vmd.qapi.compiled import SysEmuTarget
from vmd.records import dataclass

if TYPE_CHECKING:
    from vmd.qapi.runtime import WireStruct

MiB = 1 << 20


class CpuFamily(Protocol):
    """What a target's CPUs are, whatever the board."""

    def models(self, versioned: bool = True) -> CpuCatalog: ...

    def layout(self, topology: Topology, cpu_type: str) -> SlotLayout: ...

    def plug_target(
        self,
        cpu_type: str,
        layout: SlotLayout,
        slot_nodes: Sequence[int] | None,
        *,
        hotplug_handler: bool = True,
    ) -> PlugTarget: ...

    def cpus(self, qom: QomTree, layout: SlotLayout, cpu_type: str) -> BoardCpus: ...

    def with_cpu_options(self, cpu_type: str, options: str, warn: Callable[[str], None]) -> CpuFamily:
        """The family once -cpu's options are known (see Board.with_cpu_options)."""


class _OnlyBootCpu(BoardCpus):
    """The target's CPU objects, where `none` puts its one CPU; it can never be unplugged."""

    def __init__(self, cpus: BoardCpus) -> None:
        self._cpus = cpus
        self.boot_powered_off = cpus.boot_powered_off
        self.package_type = cpus.package_type
        self.package_ids = cpus.package_ids

    def boot_place(self, slot: int) -> tuple[QomObject, str]:
        return self._cpus.boot_place(slot)

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
        return self._cpus.create(
            slot,
            driver=driver,
            node_id=node_id,
            device_id=device_id,
            hotplugged=hotplugged,
            start_powered_off=start_powered_off,
        )

    def vcpu_paths(self, device_path: str, slot: int) -> tuple[str, ...]:
        return self._cpus.vcpu_paths(device_path, slot)

    def vcpu_running(self, cpu_index: int, running: bool) -> None:
        self._cpus.vcpu_running(cpu_index, running)

    def reset(self) -> None:
        self._cpus.reset()

    def fast_info(self, cpu_index: int) -> WireStruct | None:
        return self._cpus.fast_info(cpu_index)

    def check_unplug(self, slot: int) -> None:
        raise GenericError("Boot CPU is unpluggable")


@dataclass(frozen=True)
class NoneBoard(Board):
    cpu_family: CpuFamily | None = None

    @property
    def _family(self) -> CpuFamily:
        assert self.cpu_family is not None
        return self.cpu_family

    def cpu_models(self) -> CpuCatalog:
        return self._family.models()

    def with_cpu_options(self, cpu_type: str, options: str, warn: Callable[[str], None]) -> Board:
        # `none` creates its one CPU only when -cpu names a model, which is when this is asked.
        return dataclasses.replace(self, cpu_family=self._family.with_cpu_options(cpu_type, options, warn))

    def slot_layout(self, topology: Topology, cpu_type: str) -> SlotLayout:
        return self._family.layout(topology, cpu_type)

    def boot_cpu_count(self, topology: Topology, cpu_model_given: bool) -> int:
        # `none` creates a CPU only when -cpu names one.
        return topology.boot_cpus if cpu_model_given else 0

    def plug_target(self, cpu_type: str, layout: SlotLayout, slot_nodes: Sequence[int] | None) -> PlugTarget:
        return self._family.plug_target(cpu_type, layout, slot_nodes, hotplug_handler=False)

    def realize(self, parts: MachineParts) -> MachineDevices:
        cpus = self._family.cpus(parts.qom, parts.slots.layout, parts.cpu_type)
        return MachineDevices(_OnlyBootCpu(cpus), None)


def none_board(target: SysEmuTarget, family: CpuFamily) -> NoneBoard:
    return NoneBoard(
        name="none",
        description="empty machine",
        target=target,
        cpu_max=1,
        hotpluggable_cpus=False,
        default_cpu_type=None,
        default_ram_id="ram",
        default_ram_size=128 * MiB,
        numa_mem_supported=False,
        cpu_family=family,
    )
