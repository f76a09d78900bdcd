"""Where an x86 CPU goes: QEMU 7.2's x86_cpu_pre_plug and numa_cpu_pre_plug, and cpu-add's index.

After its properties are set (step 6), an x86 CPU is checked against the machine's CPU type,
then its socket/die/core/thread ids or its apic-id pick the slot, every id given must agree with
it, and a node-id must be the slot's node.  The first failure is QEMU's error, in QEMU's order;
every string here was checked against qemu-system-x86_64 7.2
(tests/integration/test_cpu_address_vs_qemu.py).
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from types import MappingProxyType

from vmd.boards.x86.apic import ApicIds
from vmd.boards.x86.cpu_props import ADDRESS_PROPERTIES, cpu_property
from vmd.errors import GenericError
from vmd.machine.qdev.opts import DeviceRequest
from vmd.machine.qdev.props import PropertySpec, PropertyValue
from vmd.machine.qdev.target import DeviceKind, ResolvedCpu
from vmd.machine.topology import CpuIds, Topology

# x86_cpu_pre_plug: an apic-id of 0xffffffff means "not given", like -1 for the other ids.
UNASSIGNED_APIC_ID = 0xFFFFFFFF
UNSET_ID = -1
_U32 = 0xFFFFFFFF
# QEMU 5.1's limit for cpu-add: the highest APIC ID its ACPI CPU hotplug tables can describe.
ACPI_CPU_HOTPLUG_ID_LIMIT = 288


class X86CpuKind(DeviceKind):
    """The x86 CPU types of one VM: `cpu_type` is the one its slots take."""

    def __init__(self, topology: Topology, cpu_type: str, slot_nodes: Sequence[int] | None = None) -> None:
        if slot_nodes is not None and len(slot_nodes) != topology.max_cpus:
            raise ValueError("slot_nodes needs one node per slot of the topology")
        self.topology = topology
        self.apic = ApicIds(topology)
        self.cpu_type = cpu_type
        self.slot_nodes = slot_nodes

    def property_spec(self, driver: str, name: str) -> PropertySpec | None:
        return cpu_property(driver, name)

    def pre_plug(
        self, request: DeviceRequest, values: Mapping[str, PropertyValue], occupied: Container[int]
    ) -> ResolvedCpu:
        topology, apic = self.topology, self.apic
        if request.driver != self.cpu_type:
            raise GenericError(f"Invalid CPU type, expected cpu type: '{self.cpu_type}'")

        def given(name: str, unset: int = UNSET_ID) -> int:
            value = values.get(name, unset)
            assert isinstance(value, int)
            return value

        socket, die, core, thread = (given(f"{level}-id") for level in ("socket", "die", "core", "thread"))
        apic_id = given("apic-id", UNASSIGNED_APIC_ID)
        if apic_id == UNASSIGNED_APIC_ID:
            # die-id was optional before QEMU 4.1, so it stays optional with one die per socket.
            if die < 0 and topology.dies == 1:
                die = 0
            max_socket = (topology.max_cpus - 1) // topology.threads // topology.cores // topology.dies
            for level, value, last in (
                ("socket", socket, max_socket),
                ("die", die, topology.dies - 1),
                ("core", core, topology.cores - 1),
                ("thread", thread, topology.threads - 1),
            ):
                if value < 0:
                    raise GenericError(f"CPU {level}-id is not set")
                if value > last:
                    raise GenericError(f"Invalid CPU {level}-id: {value} must be in range 0:{last}")
            apic_id = apic.of_ids(CpuIds(socket, die, core, thread))

        index = apic.index_of(apic_id)
        if index is None:
            spelled = apic.decode(apic_id)
            raise GenericError(
                f"Invalid CPU [socket: {spelled.socket}, die: {spelled.die}, core: {spelled.core}, "
                f"thread: {spelled.thread}] with APIC ID {apic_id}, "
                f"valid index range 0:{topology.max_cpus - 1}"
            )
        if index in occupied:
            raise GenericError(f"CPU[{index}] with APIC ID {apic_id} exists")

        ids = topology.ids(index)
        for level, value, actual in (
            ("socket", socket, ids.socket),
            ("die", die, ids.die),
            ("core", core, ids.core),
            ("thread", thread, ids.thread),
        ):
            if value != UNSET_ID and value != actual:
                # QEMU prints the int32 property with %u.
                raise GenericError(
                    f"property {level}-id: {value & _U32} doesn't match set apic-id: "
                    f"{apic_id:#x} ({level}-id: {actual})"
                )

        if values.get("hv-vpindex") is True:
            # Settable only with KVM's Hyper-V support, which vmd (like TCG) never has.
            raise GenericError("kernel doesn't allow setting HyperV VP_INDEX")

        node_id = given("node-id")
        slot_node = 0 if self.slot_nodes is None else self.slot_nodes[index]
        if node_id == UNSET_ID:
            node = None if self.slot_nodes is None else slot_node
        elif node_id != slot_node:
            raise GenericError(f"invalid node-id, must be {slot_node}")
        else:
            node = node_id

        others = {name: value for name, value in values.items() if name not in ADDRESS_PROPERTIES}
        return ResolvedCpu(index, ids, node, request.device_id, request.driver, MappingProxyType(others))


def legacy_cpu_add(index: int, topology: Topology, cpu_type: str) -> Mapping[str, object]:
    """QEMU 5.1's pc_hot_add_cpu: the CPU index becomes an APIC ID through the topology (past
    maxcpus too), then it is plugged as device_add would plug it, without an id."""
    if index < 0:
        raise GenericError(f"Invalid CPU id: {index}")
    rest, thread = divmod(index, topology.threads)
    rest, core = divmod(rest, topology.cores)
    socket, die = divmod(rest, topology.dies)
    apic_id = ApicIds(topology).of_ids(CpuIds(socket, die, core, thread))
    if apic_id >= ACPI_CPU_HOTPLUG_ID_LIMIT:
        raise GenericError(f"Unable to add CPU: {index}, resulting APIC ID ({apic_id}) is too large")
    return {"driver": cpu_type, "apic-id": apic_id}
