"""QEMU 7.2's ARM `virt` boards (virt-2.6 ... virt-7.2, alias `virt`), and vCPU hotplug on them.

The facts are qemu-system-aarch64 7.2's (`-machine help`, `query-machines`, its -smp rules and
start-up refusals, its QOM tree): no default machine, cpu-max 255 before 3.0 and 512 from it,
clusters on every version, cores preferred from 6.2, a 32-bit cortex-a15 as the default CPU, a GICv2 by
default (at most 8 CPUs, counted with maxcpus), `mach-virt.ram`.

vCPU hotplug is the ARMv8 vCPU hotplug RFC's (v5, never merged; /work/shared/spec/arm-virt-hotplug.md):
it is on with a GICv3 or later (`gic-version=3`, `4` or `max`) and a 64-bit CPU model.  Then
every possible vCPU is present to the guest from boot (the GIC and the MADT sized for maxcpus,
empty slots *online capable*), its engine context is created and parked at start-up, device_add
enables a parked vCPU and device_del asks the guest through the GED to give one back.  Otherwise
(a plain `-M virt`) the board answers as 7.2 does: no CPU is pluggable, query-hotpluggable-cpus is
"not enabled", except that device_del of a CPU is refused where 7.2 aborts.  query-machines says
`hotpluggable-cpus: true` for every virt type, unlike 7.2, because libvirt never drives CPU
hotplug on a machine type that says false.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from vmd.boards.arm import cpu_models
from vmd.boards.arm.cpus import ArmFamily
from vmd.errors import StartupError
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
from vmd.machine.hotplug.ged_cpu import GED_CPU_HOTPLUG_EVENT, GED_PWR_DOWN_EVENT, GedCpuHotplug
from vmd.machine.qdev.target import PlugTarget
from vmd.machine.qom import DeviceObject, QomProperty, constant
from vmd.machine.slots import SlotLayout
from vmd.machine.topology import Topology
from vmd.qapi.compiled import SysEmuTarget
from vmd.syntax import BadValue, parse_bool

MiB = 1 << 20

VERSIONS = (
    *(f"2.{minor}" for minor in range(6, 13)),
    "3.0", "3.1", "4.0", "4.1", "4.2", "5.0", "5.1", "5.2", "6.0", "6.1", "6.2", "7.0", "7.1", "7.2",
)  # fmt: skip
LATEST = "7.2"

GICV2_MAX_CPUS = 8  # GIC_NCPU
LOWMEM_REDISTRIBUTORS = 123  # 0x080A0000-0x08FFFFFF in frames of 2 x 64 KiB
SYSTEM_BUS = "main-system-bus"
VIRTIO_MMIO_TRANSPORTS = 32

# The rows `-machine virt-X.Y,help` adds to every machine's (qemu-system-aarch64 7.2).
_VIRT_OPTIONS: tuple[tuple[str, str, str | None], ...] = (
    ("acpi", "OnOffAuto", "Enable ACPI"),
    ("default-bus-bypass-iommu", "bool", "Set on/off to enable/disable bypass_iommu for default root bus"),
    ("dtb-kaslr-seed", "bool", "Deprecated synonym of dtb-randomness"),
    (
        "dtb-randomness",
        "bool",
        "Set off to disable passing random or non-deterministic dtb nodes to guest",
    ),
    ("gic-version", "string", "Set GIC version. Valid values are 2, 3, 4, host and max"),
    ("highmem", "bool", "Set on/off to enable/disable using physical address space above 32 bits"),
    ("iommu", "string", "Set the IOMMU type. Valid values are none and smmuv3"),
    ("its", "bool", "Set on/off to enable/disable ITS instantiation"),
    (
        "mte",
        "bool",
        "Set on/off to enable/disable emulating a guest CPU which implements the ARM Memory Tagging "
        "Extension",
    ),
    (
        "ras",
        "bool",
        "Set on/off to enable/disable reporting host memory errors to a KVM guest using ACPI and "
        "guest external abort exceptions",
    ),
    ("secure", "bool", "Set on/off to enable/disable the ARM Security Extensions (TrustZone)"),
    (
        "virtualization",
        "bool",
        "Set on/off to enable/disable emulating a guest CPU which implements the ARM Virtualization "
        "Extensions",
    ),
    (
        "x-oem-id",
        "string",
        "Override the default value of field OEMID in ACPI table header.The string may be up to 6 "
        "bytes in size",
    ),
    (
        "x-oem-table-id",
        "string",
        "Override the default value of field OEM Table ID in ACPI table header.The string may be up "
        "to 8 bytes in size",
    ),
)
_VIRT_PROPERTIES = COMMON_MACHINE_PROPERTIES | {name for name, _, _ in _VIRT_OPTIONS} | {VMD_MAX_CPUS}
_GIC_VALUES = ("2", "3", "4", "host", "max")


@dataclass(frozen=True)
class VirtOptions:
    """The -machine properties that shape the board: the GIC version asked for, ACPI, highmem and
    the EL2 (virtualization) extensions."""

    gic_version: str = "2"
    acpi: str = "auto"
    highmem: bool = True
    virtualization: bool = False


@dataclass(frozen=True)
class VirtBoard(Board):
    """A virt-X.Y type.  Once configured (`finalize`), `gic` is the GIC version in use and
    `hotplug` whether vCPU hotplug is on."""

    options: VirtOptions = field(default_factory=VirtOptions)
    gic: int = 2
    hotplug: bool = False

    @property
    def ged(self) -> bool:
        """Whether the machine has its GED (vmd's rule: ACPI on, and vCPU hotplug, which needs it;
        vmd's firmware plays UEFI's part)."""
        return self.hotplug and self.options.acpi != "off"

    def machine_properties(self) -> frozenset[str]:
        return _VIRT_PROPERTIES

    def machine_options(self) -> tuple[tuple[str, str, str | None], ...]:
        return COMMON_MACHINE_OPTIONS + _VIRT_OPTIONS

    def with_properties(self, props: Mapping[str, str]) -> Board:
        options = self.options
        gic = props.get("gic-version")
        if gic is not None:
            if gic not in _GIC_VALUES:
                raise StartupError("Invalid gic-version value\nValid values are 3, 2, host, max.")
            options = dataclasses.replace(options, gic_version=gic)
        acpi = props.get("acpi")
        if acpi is not None:
            if acpi not in ("on", "off", "auto"):
                raise StartupError(f"Parameter 'acpi' does not accept value '{acpi}'")
            options = dataclasses.replace(options, acpi=acpi)
        flags = {"highmem": options.highmem, "virtualization": options.virtualization}
        for name in flags:
            text = props.get(name)
            if text is not None:
                try:
                    flags[name] = parse_bool(text)
                except BadValue:
                    raise StartupError(f"Parameter '{name}' expects 'on' or 'off'") from None
        options = dataclasses.replace(
            options, highmem=flags["highmem"], virtualization=flags["virtualization"]
        )
        return dataclasses.replace(self, options=options)

    def finalize(self, cpu_type: str, topology: Topology) -> Board:
        """machvirt_init's checks, in its order, then whether vCPU hotplug is on."""
        if cpu_type.removesuffix(cpu_models.TYPE_SUFFIX) not in cpu_models.VIRT_MODELS:
            raise StartupError(f"mach-virt: CPU type {cpu_type} not supported")
        asked = self.options.gic_version
        if asked == "host":
            raise StartupError("gic-version=host requires KVM")
        if asked == "4" and not self.options.virtualization:
            raise StartupError("gic-version=4 requires virtualization enabled")
        gic = (4 if self.options.virtualization else 3) if asked == "max" else int(asked)
        if gic == 2 and topology.max_cpus > GICV2_MAX_CPUS:
            raise StartupError(
                f"Number of SMP CPUs requested ({topology.max_cpus}) exceeds max CPUs supported by "
                f"machine 'mach-virt' ({GICV2_MAX_CPUS})"
            )
        hotplug = gic >= 3 and cpu_models.is_aarch64(cpu_type)
        # The redistributors are sized for the CPUs present in 7.2, for every possible one in
        # hotplug mode; below 4 GiB (highmem=off) there is room for 123.
        sized_for = topology.max_cpus if hotplug else topology.boot_cpus
        if gic >= 3 and not self.options.highmem and sized_for > LOWMEM_REDISTRIBUTORS:
            raise StartupError(
                f"Capacity of the redist regions({LOWMEM_REDISTRIBUTORS}) does not match the number "
                f"of vcpus({sized_for})"
            )
        return dataclasses.replace(self, gic=gic, hotplug=hotplug, hotpluggable_cpus=hotplug)

    @property
    def precreate_vcpus(self) -> bool:
        return self.hotplug

    @property
    def arm_family(self) -> ArmFamily:
        return ArmFamily(hotplug=self.hotplug, ged=self.ged, per_cluster=8 if self.gic == 2 else 16)

    def cpu_models(self) -> CpuCatalog:
        return cpu_models.catalog()

    def slot_layout(self, topology: Topology, cpu_type: str) -> SlotLayout:
        return self.arm_family.layout(topology, cpu_type)

    def plug_target(self, cpu_type: str, layout: SlotLayout, slot_nodes: Sequence[int] | None) -> PlugTarget:
        return self.arm_family.plug_target(cpu_type, layout, slot_nodes)

    def numa_supported(self) -> bool:
        return True

    def realize(self, parts: MachineParts) -> MachineDevices:
        """virt's devices after the boot CPUs, where 7.2 puts them (`unattached/device[N]`): the GIC
        and its MSI controller, the UART, the RTC, the PCIe host, then the GED (or, without one,
        the GPIO controller and its power key), 32 virtio-mmio transports and the platform bus."""
        machine = parts.qom.machine
        machine.add_property(QomProperty("gic-version", "string", get=constant(str(self.gic))))
        machine.add_property(QomProperty("acpi", "OnOffAuto", get=constant(self.options.acpi)))
        unattached = machine.children["unattached"]
        types = [
            "arm_gic" if self.gic == 2 else "arm-gicv3",
            "arm-gicv2m" if self.gic == 2 else "arm-gicv3-its",
        ]
        types += ["pl011", "pl031", "gpex-pcihost"]
        controller = None
        ged_index = None
        if self.ged:
            ged_index = parts.boot_cpus + len(types)
            types.append("acpi-ged")
        else:
            types += ["pl061", "gpio-key"]
        types += ["virtio-mmio"] * VIRTIO_MMIO_TRANSPORTS + ["platform-bus-device"]
        for offset, type_name in enumerate(types):
            obj = DeviceObject(type_name, bus=SYSTEM_BUS)
            index = parts.boot_cpus + offset
            if index == ged_index:
                events = GED_PWR_DOWN_EVENT | GED_CPU_HOTPLUG_EVENT
                obj.add_property(QomProperty("ged-event", "uint32", get=constant(events)))
            unattached.add_child(f"device[{index}]", obj)
        if self.ged:
            controller = GedCpuHotplug(
                len(parts.slots),
                cpu_type=parts.cpu_type,
                occupant_id=parts.occupant_id,
                emit=parts.emit,
                on_taken=parts.on_taken,
            )
        return MachineDevices(self.arm_family.cpus(parts.qom, parts.slots.layout, parts.cpu_type), controller)


def virt_board(version: str) -> VirtBoard:
    number = tuple(int(part) for part in version.split("."))
    latest = version == LATEST
    return VirtBoard(
        name=f"virt-{version}",
        description=f"QEMU {version} ARM Virtual Machine",
        target=SysEmuTarget.AARCH64,
        cpu_max=255 if number < (3, 0) else 512,
        hotpluggable_cpus=True,  # vmd's choice (7.2: false); finalize() clears it where hotplug is off
        default_cpu_type=cpu_models.DEFAULT_CPU_TYPE,
        default_ram_id="mach-virt.ram",
        default_ram_size=128 * MiB,
        numa_mem_supported=number <= (5, 0),
        smp=SmpRules(clusters=True, prefers_sockets=number < (6, 2)),
        alias="virt" if latest else None,
        version=number,
        qom_parent="virt-machine",
    )


def virt_boards() -> Iterator[VirtBoard]:
    """Every virt type, in `-machine help` order (by name, strcmp: 2.10 before 2.6)."""
    yield from sorted((virt_board(v) for v in VERSIONS), key=lambda board: board.name)
