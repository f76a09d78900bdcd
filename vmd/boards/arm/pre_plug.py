"""Where a hot-plugged ARM CPU goes: the virt pre-plug of the ARMv8 vCPU hotplug RFC (v5), which
vmd follows where no QEMU release has one.

After its properties are set, a CPU is checked in this order: the machine has a GED (`acpi=off`
has none), its type is the machine's CPU type, thread-id, core-id, cluster-id and socket-id are
in range (each defaults to 0: the seed's and Kata's commands give core-id alone), the slot is
free, a node-id given is the slot's node.  The texts are v5's, typos included; its range checks
print the int32 ids with %u.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from types import MappingProxyType

from vmd.errors import GenericError
from vmd.machine.qdev.opts import DeviceRequest
from vmd.machine.qdev.props import PropertyKind, PropertySpec, PropertyValue
from vmd.machine.qdev.target import DeviceKind, ResolvedCpu
from vmd.machine.topology import CpuIds, Topology

_U32 = 0xFFFFFFFF
ID_PROPERTIES = ("socket-id", "cluster-id", "core-id", "thread-id")

# The properties of an ARM CPU type that a device_add may set (qom-list of a 7.2 CPU, plus the
# four ids of hotplug mode); vmd's CPUs keep only the address ones.
_PROPERTIES: Mapping[str, PropertySpec] = MappingProxyType(
    {
        **{name: PropertySpec(PropertyKind.INT32) for name in (*ID_PROPERTIES, "node-id", "core-count")},
        **{
            name: PropertySpec(PropertyKind.UINT64)
            for name in ("mp-affinity", "midr", "cntfrq", "rvbar", "reset-cbar")
        },
        "psci-conduit": PropertySpec(PropertyKind.UINT32),
        **{
            name: PropertySpec(PropertyKind.BOOL)
            for name in (
                "start-powered-off",
                "aarch64",
                "has_el2",
                "has_el3",
                "pmu",
                "vfp",
                "neon",
                "reset-hivecs",
                "cfgend",
            )
        },
    }
)


def mp_affinity(index: int, per_cluster: int) -> int:
    """QEMU 7.2's virt_cpu_mp_affinity: Aff1 = index / per_cluster, Aff0 = index % per_cluster."""
    return (index // per_cluster) << 8 | index % per_cluster


def slot_text(topology: Topology, index: int) -> str:
    """v5's `id<index>=<socket>:<cluster>:<core>:<thread>`."""
    ids = topology.ids(index)
    return f"id{index}={ids.socket}:{ids.cluster}:{ids.core}:{ids.thread}"


class ArmCpuKind(DeviceKind):
    """The hot-pluggable (AArch64) CPU types of one virt VM; `cpu_type` is the one its slots take."""

    def __init__(
        self,
        topology: Topology,
        cpu_type: str,
        slot_nodes: Sequence[int] | None,
        *,
        ged: bool,
        per_cluster: int,
    ) -> None:
        self.topology = topology
        self.cpu_type = cpu_type
        self.slot_nodes = slot_nodes
        self.ged = ged
        self.per_cluster = per_cluster

    def property_spec(self, driver: str, name: str) -> PropertySpec | None:
        return _PROPERTIES.get(name)

    def pre_plug(
        self, request: DeviceRequest, values: Mapping[str, PropertyValue], occupied: Container[int]
    ) -> ResolvedCpu:
        topology = self.topology
        if not self.ged:
            raise GenericError("GED acpi device does not exists")
        if request.driver != self.cpu_type:
            raise GenericError(f"Invalid CPU type, expected cpu type: '{self.cpu_type}'")

        def given(name: str, default: int = 0) -> int:
            value = values.get(name, default)
            assert isinstance(value, int)
            return value

        socket, cluster, core, thread = (given(name) for name in ID_PROPERTIES)
        for level, value, count in (
            ("thread", thread, topology.threads),
            ("core", core, topology.cores),
            ("cluster", cluster, topology.clusters),
            ("socket", socket, topology.sockets),
        ):
            if not 0 <= value < count:
                raise GenericError(
                    f"Invalid {level}-id {value & _U32} specified, correct range 0:{count - 1}"
                )
        ids = CpuIds(socket, 0, core, thread, cluster)
        index = topology.index_of(ids)
        assert index is not None  # every place exists: the product of the levels is maxcpus
        if index in occupied:
            raise GenericError(
                f"cpu({slot_text(topology, index)}) with arch-id {mp_affinity(index, self.per_cluster)} exist"
            )
        node_id = given("node-id", -1)
        slot_node = None if self.slot_nodes is None else self.slot_nodes[index]
        if node_id == -1:
            node = slot_node
        elif node_id != (slot_node or 0):
            raise GenericError(f"node-id={node_id} must match numa node specified with -numa option")
        else:
            node = node_id
        others = {name: value for name, value in values.items() if name not in (*ID_PROPERTIES, "node-id")}
        return ResolvedCpu(index, ids, node, request.device_id, request.driver, MappingProxyType(others))
