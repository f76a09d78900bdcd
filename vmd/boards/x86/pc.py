"""QEMU 7.2's versioned pc (i440FX + PIIX) and q35 (Q35 + ICH9) boards.

Every value here was checked against qemu-system-x86_64 7.2 (`-machine help`, `query-machines`,
how it treats -smp and -numa on each version, `qom-list` of its QOM tree); microvm, isapc and
x-remote are QEMU types vmd does not offer.  CPU hotplug goes through the ACPI CPU hotplug block
of the PIIX4_PM (pc) or ICH9-LPC (q35) device, which the guest's OSPM drives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

from vmd.boards.x86 import pre_plug
from vmd.boards.x86.apic import check_apic_id_limit
from vmd.boards.x86.buses import I440FX_BUSES, Q35_BUSES
from vmd.boards.x86.cpu_models import DEFAULT_CPU_TYPE
from vmd.boards.x86.cpus import X86
from vmd.config import MemoryConfig
from vmd.errors import GenericError
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
from vmd.machine.hotplug.acpi_cpu import AcpiCpuHotplug
from vmd.machine.qdev.target import PlugTarget
from vmd.machine.qom import DeviceObject, QomProperty
from vmd.machine.slots import SlotLayout
from vmd.machine.topology import CpuIds, Topology
from vmd.qapi.compiled import SysEmuTarget
from vmd.records import dataclass

MiB = 1 << 20

_PC_DESCRIPTION = "Standard PC (i440FX + PIIX, 1996)"
_Q35_DESCRIPTION = "Standard PC (Q35 + ICH9, 2009)"
_PC_1_X_DEPRECATION = "old and unattended - use a newer version instead"

# The versions QEMU 7.2 registers: every minor release from 3.0 to 7.2 in both families, older
# ones back to 1.4 (pc) and 2.4 (q35), and a q35-only 4.0.1 (4.0 plus a fix).
_SINCE_3_0 = tuple(
    f"{major}.{minor}"
    for major, last in ((3, 1), (4, 2), (5, 2), (6, 2), (7, 2))
    for minor in range(last + 1)
)
PC_VERSIONS = ("1.4", "1.5", "1.6", "1.7", *(f"2.{minor}" for minor in range(13)), *_SINCE_3_0)
Q35_VERSIONS = (*(f"2.{minor}" for minor in range(4, 13)), *_SINCE_3_0, "4.0.1")

# The -machine properties of QEMU 7.2's pc/q35 types beyond every machine's (qom-list-properties
# of pc-q35-7.2-machine and pc-i440fx-7.2-machine).
_X86_PROPERTIES = COMMON_MACHINE_PROPERTIES | frozenset(
    {
        "acpi", "bus-lock-ratelimit", "cxl", "cxl-fmw", "default-bus-bypass-iommu",
        "device-memory-region-size", "hmat", "hpet", "i8042", "max-fw-size", "max-ram-below-4g",
        "nvdimm", "nvdimm-persistence", "pcspk-audiodev", "pflash0", "pflash1", "pic", "pit", "sata",
        "sgx-epc", "smbios-entry-point-type", "smbus", "smm", "system.flash0", "system.flash1",
        "vmport", "x-oem-id", "x-oem-table-id", VMD_MAX_CPUS,
    }
)  # fmt: skip


# The rows `-machine TYPE,help` adds for every pc and q35 type (qemu-system-x86_64 7.2, the same
# for every version of both families).
_X86_MACHINE_OPTIONS: tuple[tuple[str, str, str | None], ...] = (
    ("acpi", "OnOffAuto", "Enable ACPI"),
    ("bus-lock-ratelimit", "uint64_t", "Set the ratelimit for the bus locks acquired in VMs"),
    ("default-bus-bypass-iommu", "bool", None),
    ("hpet", "bool", "Enable/disable high precision event timer emulation"),
    ("i8042", "bool", None),
    ("max-fw-size", "size", "Maximum combined firmware size"),
    ("max-ram-below-4g", "size", "Maximum ram below the 4G boundary (32bit boundary)"),
    ("pic", "OnOffAuto", "Enable i8259 PIC"),
    ("pit", "OnOffAuto", "Enable i8254 PIT"),
    ("sata", "bool", "Enable/disable Serial ATA bus"),
    ("sgx-epc", "SgxEPC", "SGX EPC device"),
    ("smbios-entry-point-type", "str", "SMBIOS Entry Point type [32, 64]"),
    ("smbus", "bool", "Enable/disable system management bus"),
    ("smm", "OnOffAuto", "Enable SMM"),
    ("vmport", "OnOffAuto", "Enable vmport (pc & q35)"),
    (
        "x-oem-id",
        "string",
        "Override the default value of field OEMID in ACPI table header."
        "The string may be up to 6 bytes in size",
    ),
    (
        "x-oem-table-id",
        "string",
        "Override the default value of field OEM Table ID in ACPI table header."
        "The string may be up to 8 bytes in size",
    ),
)


@dataclass(frozen=True)
class PcBoard(Board):
    """A pc-i440fx-* or pc-q35-* type.  `apic_id_limit`: whether the TCG APIC ID limit applies
    (vmd's x-vmd-max-cpus lifts it)."""

    q35: bool = False
    apic_id_limit: bool = True

    def machine_properties(self) -> frozenset[str]:
        return _X86_PROPERTIES

    def machine_options(self) -> tuple[tuple[str, str, str | None], ...]:
        return COMMON_MACHINE_OPTIONS + _X86_MACHINE_OPTIONS

    def with_max_cpus(self, max_cpus: int) -> Board:
        return dataclasses.replace(self, cpu_max=max_cpus, apic_id_limit=False)

    def check_topology(self, topology: Topology) -> None:
        # x86 boards check this when they create the CPUs; nothing else fails in between.
        if self.apic_id_limit:
            check_apic_id_limit(topology)

    def cpu_models(self) -> CpuCatalog:
        # From 4.1 on, an unversioned CPU model name is an alias of its -v1.
        return X86.models(versioned=self.version is not None and self.version >= (4, 1))

    def slot_layout(self, topology: Topology, cpu_type: str) -> SlotLayout:
        return X86.layout(topology, cpu_type)

    def numa_supported(self) -> bool:
        return True

    def numa_enabled_implicitly(self, memory: MemoryConfig) -> bool:
        # Without -numa, memory hotplug makes QEMU add one node holding all RAM: DIMM slots from
        # 2.11 on, maxmem above -m (memory devices) from 5.1 on.
        assert self.version is not None
        size = memory.size_bytes
        maxram = memory.maxmem_bytes if memory.maxmem_bytes is not None else size
        return (bool(memory.slots) and self.version >= (2, 11)) or (maxram > size and self.version >= (5, 1))

    def default_node(self, ids: CpuIds, nodes: int) -> int:
        return ids.socket % nodes

    def plug_target(self, cpu_type: str, layout: SlotLayout, slot_nodes: Sequence[int] | None) -> PlugTarget:
        return X86.plug_target(cpu_type, layout, slot_nodes, buses=Q35_BUSES if self.q35 else I440FX_BUSES)

    def legacy_cpu_add(self, index: int, layout: SlotLayout, cpu_type: str) -> Mapping[str, object]:
        return pre_plug.legacy_cpu_add(index, layout.topology, cpu_type)

    def realize(self, parts: MachineParts) -> MachineDevices:
        """The ICH9-LPC (q35) or PIIX4_PM (pc) device, where QEMU 7.2 puts it with -nodefaults,
        with the ACPI CPU hotplug block and its cpu-hotplug-legacy switch."""
        acpi = AcpiCpuHotplug(
            len(parts.slots),
            cpu_type=parts.cpu_type,
            occupant_id=parts.occupant_id,
            emit=parts.emit,
            on_taken=parts.on_taken,
        )
        index = parts.boot_cpus + 1 if self.q35 else parts.boot_cpus + 17
        obj = DeviceObject("ICH9-LPC" if self.q35 else "PIIX4_PM")

        def set_legacy(value: object) -> None:
            if not isinstance(value, bool):
                raise GenericError("Invalid parameter type for 'value', expected: boolean")
            if value and not acpi.legacy:
                # QEMU 7.2 aborts here (assertion); refusing keeps the VM.
                raise GenericError("The CPU hotplug interface cannot go back to legacy mode")
            if not value:
                acpi.switch_to_modern()

        obj.add_property(QomProperty("cpu-hotplug-legacy", "bool", get=lambda: acpi.legacy, set=set_legacy))
        parts.qom.machine.children["unattached"].add_child(f"device[{index}]", obj)
        return MachineDevices(X86.cpus(parts.qom, parts.slots.layout, parts.cpu_type), acpi)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def pc_board(family: str, version: str) -> PcBoard:
    number = _version(version)
    q35 = family == "q35"
    latest = version == "7.2"
    return PcBoard(
        name=f"pc-q35-{version}" if q35 else f"pc-i440fx-{version}",
        description=_Q35_DESCRIPTION if q35 else _PC_DESCRIPTION,
        target=SysEmuTarget.X86_64,
        # q35 2.8 raised the limit for guests with x2APIC; i440FX never did.
        cpu_max=288 if q35 and number >= (2, 8) else 255,
        hotpluggable_cpus=True,
        default_cpu_type=DEFAULT_CPU_TYPE,
        default_ram_id="pc.ram",
        default_ram_size=128 * MiB,
        numa_mem_supported=number <= (5, 0),
        smp=SmpRules(dies=True, prefers_sockets=number < (6, 2)),
        alias=("q35" if q35 else "pc") if latest else None,
        is_default=latest and not q35,
        deprecation_reason=_PC_1_X_DEPRECATION if number < (2, 0) else None,
        family="pc_q35" if q35 else "pc_piix",
        version=number,
        qom_parent="generic-pc-machine",
        q35=q35,
    )


def pc_boards() -> Iterator[PcBoard]:
    """Every pc and q35 type, in `-machine help` order: families alphabetically (pc_piix before
    pc_q35), each family's types by name in *descending* strcmp order (so 2.2 before 2.12)."""
    for family, versions in (("pc", PC_VERSIONS), ("q35", Q35_VERSIONS)):
        yield from sorted((pc_board(family, v) for v in versions), key=lambda b: b.name, reverse=True)
