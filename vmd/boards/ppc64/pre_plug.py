"""device_add / -device of a pseries core: its properties and spapr_core_pre_plug's checks.

A core type (`<model>-spapr-cpu-core`) has core-id (int; a negative value is refused by the
setter, before anything else), nr-threads (int, defaulting to the machine's threads per core),
node-id (int32, -1 = unset) and pre-3.0-migration (bool).  Then, in QEMU's order: the machine
type must have CPU hotplug, the core type must be the machine's, core-id a
multiple of the threads per core, nr-threads the threads per core, core-id within the slots
(vmd refuses every core-id past them with the range error: QEMU 7.2 truncates it to 32 bits and
crashes or plugs another slot), the slot free, node-id the slot's node.
Every text was checked against qemu-system-ppc64 7.2 (tests/integration/test_pseries_vs_qemu.py).
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from types import MappingProxyType

from vmd.errors import GenericError
from vmd.machine.qdev.opts import DeviceRequest
from vmd.machine.qdev.props import PropertyKind, PropertySpec, PropertyValue
from vmd.machine.qdev.target import DeviceKind, ResolvedCpu
from vmd.machine.topology import Topology


def _check_core_id(name: str, value: PropertyValue) -> None:
    assert isinstance(value, int)
    if value < 0:
        raise GenericError(f"Invalid core id {value}")


_PROPERTIES: Mapping[str, PropertySpec] = MappingProxyType(
    {
        "type": PropertySpec(PropertyKind.READ_ONLY),
        "parent_bus": PropertySpec(PropertyKind.READ_ONLY),
        "hotplugged": PropertySpec(PropertyKind.READ_ONLY),
        "hotpluggable": PropertySpec(PropertyKind.READ_ONLY),
        "nr-threads": PropertySpec(PropertyKind.INT),
        "core-id": PropertySpec(PropertyKind.INT, _check_core_id),
        "pre-3.0-migration": PropertySpec(PropertyKind.BOOL),
        "node-id": PropertySpec(PropertyKind.INT32),
    }
)


class SpaprCoreKind(DeviceKind):
    """The core types of one pseries VM: `core_type` is the only one it accepts (the others are
    known, to be refused with QEMU's text); `slot_nodes` each slot's NUMA node, None without."""

    def __init__(
        self,
        topology: Topology,
        core_type: str,
        *,
        hotpluggable: bool,
        slot_nodes: Sequence[int] | None,
    ) -> None:
        self.topology = topology
        self.core_type = core_type
        self.hotpluggable = hotpluggable
        self.slot_nodes = slot_nodes
        self.threads = topology.threads
        self.slots = topology.max_cpus // topology.threads

    def property_spec(self, driver: str, name: str) -> PropertySpec | None:
        return _PROPERTIES.get(name)

    def pre_plug(
        self, request: DeviceRequest, values: Mapping[str, PropertyValue], occupied: Container[int]
    ) -> ResolvedCpu:
        # (-device on such a type too: every slot of it is a boot core, so nothing else could fit.)
        if not self.hotpluggable:
            raise GenericError("CPU hotplug not supported for this machine")
        if request.driver != self.core_type:
            raise GenericError(f"CPU core type should be {self.core_type}")
        core_id = values.get("core-id", 0)
        nr_threads = values.get("nr-threads", self.threads)
        node_id = values.get("node-id", -1)
        assert isinstance(core_id, int)
        assert isinstance(nr_threads, int)
        assert isinstance(node_id, int)
        if core_id % self.threads:
            raise GenericError(f"invalid core id {core_id}")
        if self.hotpluggable and nr_threads != self.threads:
            raise GenericError(f"invalid nr-threads {_int32(nr_threads)}, must be {self.threads}")
        slot = core_id // self.threads
        if slot >= self.slots:
            raise GenericError(f"core id {core_id} out of range")
        if slot in occupied:
            raise GenericError(f"core {core_id} already populated")
        node = 0 if self.slot_nodes is None else self.slot_nodes[slot]
        if node_id not in (-1, node):
            raise GenericError(f"invalid node-id, must be {node}")
        others: dict[str, PropertyValue] = {"start-powered-off": True}
        if "pre-3.0-migration" in values:
            others["pre-3.0-migration"] = values["pre-3.0-migration"]
        ids = self.topology.ids(slot * self.threads)
        return ResolvedCpu(slot, ids, node, request.device_id, request.driver, MappingProxyType(others))


def _int32(value: int) -> int:
    """nr-threads is an int32 field that the int property setter fills in (QEMU prints it so)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value
