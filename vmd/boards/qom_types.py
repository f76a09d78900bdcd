"""The QOM types vmd has, with QEMU 7.2's names and parents: what qom-list-types reports.

Only types vmd gives meaning to are here: its machine types, CPU models and the CPU's lapic, the
ACPI device that carries CPU hotplug, the memory backends and secrets -object creates, and the character
devices of its monitors and serial ports.  Each name and parent is QEMU 7.2's, so a client that
looks a type up by name (libvirt does) finds what it would find in QEMU; a type vmd does not
implement is absent rather than faked.  The one exception is vmd's own layer 2, the CPU packages
(VMD_ONLY_TYPES), which QEMU never had: they have names no QEMU type has.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from types import MappingProxyType

from vmd.boards.catalog import catalog
from vmd.devices.isa_serial import DRIVER as ISA_SERIAL
from vmd.errors import DeviceNotFound, GenericError
from vmd.qapi.compiled import SysEmuTarget
from vmd.records import dataclass


@dataclass(frozen=True, slots=True)
class ClassProperty:
    """A property every object of a type (and of its subtypes) has, as introspection shows it."""

    name: str
    type: str
    description: str | None = None
    default: object = None
    settable: bool = True


@dataclass(frozen=True, slots=True)
class QomType:
    """A type; `targets` are the targets that have it (empty: every target)."""

    name: str
    parent: str | None
    abstract: bool = False
    properties: tuple[ClassProperty, ...] = ()
    targets: frozenset[SysEmuTarget] = frozenset()


_X86 = frozenset({SysEmuTarget.X86_64})
_S390X = frozenset({SysEmuTarget.S390X})
_PPC64 = frozenset({SysEmuTarget.PPC64})
_AARCH64 = frozenset({SysEmuTarget.AARCH64})


def _ids() -> tuple[ClassProperty, ...]:
    # An unplugged CPU's address is unset: QEMU's -1 (and UINT32_MAX for apic-id).
    names = ("socket-id", "die-id", "core-id", "thread-id", "node-id")
    return (
        *(ClassProperty(name, "int32", default=-1) for name in names),
        ClassProperty("apic-id", "uint32", default=0xFFFFFFFF),
    )


_DEVICE = (
    ClassProperty("realized", "bool"),
    ClassProperty("hotplugged", "bool"),
    ClassProperty("hotpluggable", "bool"),
    ClassProperty("parent_bus", "link<bus>"),
)
_BACKEND = (ClassProperty("size", "int", "Size of the memory region (ex: 500M)"),)
# vmd places a serial port at its index's standard I/O base and IRQ: only these two are settable.
_ISA_SERIAL = (
    ClassProperty("index", "uint32", default=0xFFFFFFFF),
    ClassProperty("chardev", "str", "ID of a chardev to use as a backend"),
)
# The guest agent's channel (vmd.devices.virtio_serial), with QEMU 7.2's names, parents and the
# properties vmd gives meaning to (QEMU has `addr` and `multifunction` on every pci-device; vmd's
# ACPI devices have no PCI placement, so they sit on the PCI types that have one).
_VIRTSERIALPORT = (
    ClassProperty("nr", "uint32", default=0xFFFFFFFF),
    ClassProperty("name", "str"),
    ClassProperty("chardev", "str", "ID of a chardev to use as a backend"),
)
_VIRTIO_SERIAL_PCI = (
    ClassProperty("max_ports", "uint32", default=31),
    ClassProperty("emergency-write", "bool", default=True),
    ClassProperty("vectors", "uint32", default=2),
)
_PCI_DEVICE = (
    ClassProperty("addr", "int32", "Slot and optional function number, example: 06.0 or 06", default=-1),
    ClassProperty("multifunction", "bool", default=False),
)
_PCIE_ROOT_PORT = (
    ClassProperty("port", "uint8"),
    ClassProperty("chassis", "uint8", default=0),
    ClassProperty("slot", "uint16", default=0),
    ClassProperty("hotplug", "bool", default=True),
)
_PCI_BRIDGE = (ClassProperty("chassis_nr", "uint8", default=0), ClassProperty("shpc", "bool", default=True))
_X86_VIRTIO_SERIAL = (
    QomType("base-pci-bridge", "pci-device", abstract=True, properties=_PCI_DEVICE, targets=_X86),
    QomType("pcie-port", "base-pci-bridge", abstract=True, targets=_X86),
    QomType("pcie-slot", "pcie-port", abstract=True, targets=_X86),
    QomType("pcie-root-port-base", "pcie-slot", abstract=True, targets=_X86),
    QomType("i82801b11-bridge", "base-pci-bridge", targets=_X86),
    QomType("pci-bridge", "base-pci-bridge", properties=_PCI_BRIDGE, targets=_X86),
    QomType("pcie-root-port", "pcie-root-port-base", properties=_PCIE_ROOT_PORT, targets=_X86),
    QomType("virtio-pci", "pci-device", abstract=True, properties=_PCI_DEVICE, targets=_X86),
    QomType(
        "virtio-serial-pci-base", "virtio-pci", abstract=True, properties=_VIRTIO_SERIAL_PCI, targets=_X86
    ),
    QomType("virtio-serial-pci", "virtio-serial-pci-base", targets=_X86),
    QomType("virtio-device", "device", abstract=True, targets=_X86),
    QomType("virtio-serial-device", "virtio-device", properties=_VIRTIO_SERIAL_PCI[:2], targets=_X86),
    QomType("virtio-serial-port", "device", abstract=True, targets=_X86),
    QomType("virtserialport", "virtio-serial-port", properties=_VIRTSERIALPORT, targets=_X86),
    QomType("bus", "object", abstract=True, targets=_X86),
    QomType("PCI", "bus", targets=_X86),
    QomType("PCIE", "PCI", targets=_X86),
    QomType("virtio-serial-bus", "bus", targets=_X86),
)
# vmd honours `share` for file-backed RAM only (anonymous RAM is always private).
_FILE = (
    ClassProperty("mem-path", "string"),
    ClassProperty("share", "bool", "Mark the memory as private to QEMU or shared"),
)
_SECRET = (
    ClassProperty("loaded", "bool", settable=False),
    ClassProperty("format", "QCryptoSecretFormat"),
    ClassProperty("keyid", "string"),
    ClassProperty("iv", "string"),
    ClassProperty("data", "string"),
    ClassProperty("file", "string"),
)


def _s390x_cpu() -> tuple[ClassProperty, ...]:
    """What every s390x CPU model type has (qom-list-properties of s390x-cpu in 7.2): a few
    properties, then a bool for every feature and feature group."""
    from vmd.boards.s390x.model_props import FEATURE_DESCRIPTIONS, GROUP_DESCRIPTIONS

    return (
        ClassProperty("memory", "link<memory-region>"),
        ClassProperty("static", "bool", settable=False),
        ClassProperty("migration-safe", "bool", settable=False),
        ClassProperty("description", "string", settable=False),
        ClassProperty("core-id", "uint32", default=0),
        *(ClassProperty(name, "bool", text) for name, text in FEATURE_DESCRIPTIONS.items()),
        *(ClassProperty(name, "bool", text) for name, text in GROUP_DESCRIPTIONS.items()),
    )


# The s390-ccw-virtio machine's devices and buses (vmd.boards.s390x.sclp), with QEMU's parents.
_S390X_DEVICES = (
    QomType("s390-ccw-machine", "machine", abstract=True, targets=_S390X),
    QomType("sys-bus-device", "device", abstract=True, targets=_S390X),
    QomType("s390-sclp-event-type", "device", abstract=True, targets=_S390X),
    QomType("sclp", "device", targets=_S390X),
    QomType("s390-sclp-event-facility", "sys-bus-device", targets=_S390X),
    QomType("sclp-cpu-hotplug", "s390-sclp-event-type", targets=_S390X),
    QomType("sclpquiesce", "s390-sclp-event-type", targets=_S390X),
    QomType("s390-ipl", "device", targets=_S390X),
    QomType("s390-tod", "device", abstract=True, targets=_S390X),
    QomType("s390-tod-qemu", "s390-tod", targets=_S390X),
    QomType("virtual-css-bridge", "sys-bus-device", targets=_S390X),
    QomType("s390-flic", "sys-bus-device", targets=_S390X),
    QomType("s390-flic-qemu", "s390-flic", targets=_S390X),
    QomType("s390-skeys", "device", abstract=True, targets=_S390X),
    QomType("s390-skeys-qemu", "s390-skeys", targets=_S390X),
    QomType("s390-storage_attributes", "device", abstract=True, targets=_S390X),
    QomType("s390-storage_attributes-qemu", "s390-storage_attributes", targets=_S390X),
    QomType("pci-host-bridge", "sys-bus-device", abstract=True, targets=_S390X),
    QomType("s390-pcihost", "pci-host-bridge", targets=_S390X),
    QomType("bus", "object", abstract=True, targets=_S390X),
    QomType("System", "bus", targets=_S390X),
    QomType("virtual-css-bus", "bus", targets=_S390X),
    QomType("s390-sclp-events-bus", "bus", targets=_S390X),
    QomType("PCI", "bus", targets=_S390X),
    QomType("s390-pcibus", "bus", targets=_S390X),
)

# The pseries types vmd has (qom-list-types of qemu-system-ppc64 7.2): the machine, cores and
# their threads' presenters, the DR connectors; a core type's properties are its own.
_CORE = (
    ClassProperty("nr-threads", "int", default=1),
    ClassProperty("core-id", "int", default=0),
)
_SPAPR_CORE = (
    ClassProperty("pre-3.0-migration", "bool", default=False),
    ClassProperty("node-id", "int32", default=-1),
)
_PPC64_DEVICES = (
    QomType("spapr-machine", "machine", abstract=True, targets=_PPC64),
    QomType("cpu-core", "device", abstract=True, properties=_CORE, targets=_PPC64),
    QomType("spapr-cpu-core", "cpu-core", abstract=True, properties=_SPAPR_CORE, targets=_PPC64),
    QomType("powerpc64-cpu", "cpu", abstract=True, targets=_PPC64),
    QomType("icp", "device", targets=_PPC64),
    QomType("xive-tctx", "device", targets=_PPC64),
    QomType("spapr-drc", "device", abstract=True, targets=_PPC64),
    QomType("spapr-drc-logical", "spapr-drc", abstract=True, targets=_PPC64),
    QomType("spapr-drc-cpu", "spapr-drc-logical", targets=_PPC64),
    # The machine's other devices, as objects in the tree (libvirt looks the PHB's type up).
    QomType("sys-bus-device", "device", abstract=True, targets=_PPC64),
    QomType("pci-host-bridge", "sys-bus-device", abstract=True, targets=_PPC64),
    QomType("spapr-pci-host-bridge", "pci-host-bridge", targets=_PPC64),
    QomType("spapr-vio-bridge", "sys-bus-device", targets=_PPC64),
    QomType("vio-spapr-device", "device", abstract=True, targets=_PPC64),
    QomType("spapr-nvram", "vio-spapr-device", targets=_PPC64),
    QomType("spapr-rtc", "device", targets=_PPC64),
    QomType("spapr-wdt", "device", targets=_PPC64),
    QomType("ics-spapr", "device", targets=_PPC64),
    QomType("xive-router", "sys-bus-device", abstract=True, targets=_PPC64),
    QomType("spapr-xive", "xive-router", targets=_PPC64),
)


def _ppc64_cpu_types() -> Iterator[QomType]:
    from vmd.boards.ppc64 import cpu_models

    for typename in sorted(cpu_models.catalog().typenames()):
        yield QomType(typename, "powerpc64-cpu", targets=_PPC64)
    for model in cpu_models.CORE_MODELS:
        yield QomType(model + cpu_models.CORE_SUFFIX, "spapr-cpu-core", targets=_PPC64)


# The virt machine's devices (vmd.boards.arm.virt), with QEMU 7.2's parents.
_AARCH64_DEVICES = (
    QomType("virt-machine", "machine", abstract=True, targets=_AARCH64),
    QomType("arm-cpu", "cpu", abstract=True, properties=(
        ClassProperty("mp-affinity", "uint64", default=0xFFFFFF00FF000000),
        ClassProperty("node-id", "int32", default=-1),
    ), targets=_AARCH64),
    QomType("aarch64-cpu", "arm-cpu", abstract=True, targets=_AARCH64),
    QomType("sys-bus-device", "device", abstract=True, targets=_AARCH64),
    QomType("arm_gic_common", "sys-bus-device", abstract=True, targets=_AARCH64),
    QomType("arm_gic", "arm_gic_common", targets=_AARCH64),
    QomType("arm-gicv3-common", "sys-bus-device", abstract=True, targets=_AARCH64),
    QomType("arm-gicv3", "arm-gicv3-common", targets=_AARCH64),
    QomType("arm-gicv3-its-common", "sys-bus-device", abstract=True, targets=_AARCH64),
    QomType("arm-gicv3-its", "arm-gicv3-its-common", targets=_AARCH64),
    QomType("arm-gicv2m", "sys-bus-device", targets=_AARCH64),
    QomType("pl011", "sys-bus-device", targets=_AARCH64),
    QomType("pl031", "sys-bus-device", targets=_AARCH64),
    QomType("pci-host-bridge", "sys-bus-device", abstract=True, targets=_AARCH64),
    QomType("pcie-host-bridge", "pci-host-bridge", abstract=True, targets=_AARCH64),
    QomType("gpex-pcihost", "pcie-host-bridge", targets=_AARCH64),
    QomType("pl061", "sys-bus-device", targets=_AARCH64),
    QomType("gpio-key", "sys-bus-device", targets=_AARCH64),
    QomType("acpi-ged", "sys-bus-device", properties=(ClassProperty("ged-event", "uint32", default=0),),
            targets=_AARCH64),
    QomType("virtio-mmio", "sys-bus-device", targets=_AARCH64),
    QomType("platform-bus-device", "sys-bus-device", targets=_AARCH64),
)  # fmt: skip

# What a CPU model's own type adds to its abstract parent's properties, by target.
_MODEL_PROPERTIES = {SysEmuTarget.S390X: (ClassProperty("crash-information", "GuestPanicInformation"),)}


# vmd's layer 2 (vmd.machine.cpu_packages): QEMU has no such types; see VMD_ONLY_TYPES.
_PACKAGE = (
    ClassProperty("present", "bool"),
    ClassProperty("unplug-pending", "bool", settable=False),
    ClassProperty("vcpus", "uint32", settable=False),
    ClassProperty("cpu-indexes", "uint32List", settable=False),
    ClassProperty("hotpluggable", "bool", settable=False),
    ClassProperty("qom-path", "string", settable=False),
)
# The topology ids a package may show (each board's package type takes the ones its slots have).
_PACKAGE_IDS = tuple(
    ClassProperty(name, "int32", settable=False)
    for name in ("socket-id", "die-id", "core-id", "thread-id", "node-id")
)
VMD_ONLY_TYPES = frozenset(
    {
        "cpu-package",
        "thread-cpu-package",
        "x86-thread-cpu-package",
        "s390x-cpu-package",
        "spapr-core-cpu-package",
        "arm-thread-cpu-package",
    }
)

_FIXED = (
    QomType("object", None, abstract=True, properties=(ClassProperty("type", "string", settable=False),)),
    QomType("container", "object"),
    # vmd's interpreter is what -accel tcg selects (the only accelerator vmd has).
    QomType("accel", "object"),  # not abstract in QEMU 7.2 either
    QomType("tcg-accel", "accel"),
    QomType("device", "object", abstract=True, properties=_DEVICE),
    QomType("machine", "object", abstract=True),
    QomType("x86-machine", "machine", abstract=True, targets=_X86),
    QomType("generic-pc-machine", "x86-machine", abstract=True, targets=_X86),
    QomType("cpu", "device", abstract=True, properties=(ClassProperty("start-powered-off", "bool"),)),
    QomType("x86_64-cpu", "cpu", abstract=True, properties=_ids(), targets=_X86),
    QomType("apic-common", "device", abstract=True, targets=_X86),
    QomType("apic", "apic-common", targets=_X86),
    QomType("pci-device", "device", abstract=True, targets=_X86),
    QomType(
        "ICH9-LPC", "pci-device", properties=(ClassProperty("cpu-hotplug-legacy", "bool"),), targets=_X86
    ),
    # PIIX4_PM gets cpu-hotplug-legacy when it is realized, so its type does not show it (QEMU).
    QomType("PIIX4_PM", "pci-device", targets=_X86),
    QomType("memory-backend", "object", abstract=True, properties=_BACKEND),
    QomType("memory-backend-ram", "memory-backend"),
    QomType("memory-backend-file", "memory-backend", properties=_FILE),
    QomType("secret_common", "object", abstract=True, properties=_SECRET[:4]),
    QomType("secret", "secret_common", properties=_SECRET[4:]),
    QomType("chardev", "object", abstract=True),
    QomType("chardev-fd", "chardev", abstract=True),
    QomType("chardev-socket", "chardev"),
    QomType("chardev-file", "chardev-fd"),
    QomType("chardev-stdio", "chardev-fd"),
    QomType("chardev-null", "chardev"),
    QomType("chardev-pty", "chardev"),
    QomType("isa-device", "device", abstract=True, targets=_X86),
    QomType("isa-serial", "isa-device", properties=_ISA_SERIAL, targets=_X86),
    QomType("cpu-package", "object", abstract=True, properties=_PACKAGE),
    # A board's default (machine.board.BoardCpus): one thread per slot, addressed by socket, core, thread.
    QomType("thread-cpu-package", "cpu-package", properties=_PACKAGE_IDS[:1] + _PACKAGE_IDS[2:4]),
    QomType("x86-thread-cpu-package", "cpu-package", properties=_PACKAGE_IDS, targets=_X86),
    QomType(
        "s390x-cpu-package", "cpu-package", properties=(ClassProperty("core-id", "int32"),), targets=_S390X
    ),
    QomType(
        "spapr-core-cpu-package",
        "cpu-package",
        properties=(_PACKAGE_IDS[2], _PACKAGE_IDS[4]),
        targets=_PPC64,
    ),
    QomType(
        "arm-thread-cpu-package",
        "cpu-package",
        properties=(
            _PACKAGE_IDS[0],
            ClassProperty("cluster-id", "int32", settable=False),
            *_PACKAGE_IDS[2:],
        ),
        targets=_AARCH64,
    ),
)


def _all_types(target: SysEmuTarget) -> Iterator[QomType]:
    yield from (t for t in _FIXED if not t.targets or target in t.targets)
    if target is SysEmuTarget.X86_64:
        yield from _X86_VIRTIO_SERIAL
    if target is SysEmuTarget.S390X:
        yield QomType("s390x-cpu", "cpu", abstract=True, properties=_s390x_cpu(), targets=_S390X)
        yield from _S390X_DEVICES
    if target is SysEmuTarget.AARCH64:
        yield from _AARCH64_DEVICES
    boards = catalog(target)
    for board in boards.boards.values():
        yield QomType(f"{board.name}-machine", board.qom_parent)
    if target is SysEmuTarget.PPC64:
        yield from _PPC64_DEVICES
        yield from _ppc64_cpu_types()
        return
    extra = _MODEL_PROPERTIES.get(target, ())
    for model in boards.default.cpu_models().models.values():
        yield QomType(model.typename, model.qom_parent, properties=extra)


@dataclass(frozen=True, eq=False)
class TypeTable:
    """The QOM types of one target, by name in qom-list-types order."""

    types: Mapping[str, QomType]

    def ancestry(self, name: str) -> Iterator[QomType]:
        """The type `name`, then its parent, up to `object`."""
        current: str | None = name
        while current is not None:
            yield self.types[current]
            current = self.types[current].parent

    def class_properties(self, name: str) -> list[ClassProperty]:
        """Every property an object of type `name` has, its own first (QEMU lists them that way)."""
        return [prop for qom_type in self.ancestry(name) for prop in qom_type.properties]

    def implements(self, name: str, ancestor: str) -> bool:
        """Whether type `name` is `ancestor` or derives from it."""
        current: str | None = name
        while current is not None:
            if current == ancestor:
                return True
            current = self.types[current].parent
        return False

    def device_properties(self, name: str) -> list[ClassProperty]:
        """device-list-properties of type `name` (and -device NAME,help), or QEMU's refusal."""
        qom_type = self.types.get(name)
        if qom_type is None:
            raise DeviceNotFound(f"Device '{name}' not found")
        if qom_type.abstract or not self.implements(qom_type.name, "device"):
            raise GenericError("Parameter 'typename' expects a non-abstract device type")
        return [p for p in self.class_properties(qom_type.name) if p.name not in _COMMON_DEVICE_PROPERTIES]


# What device-list-properties leaves out: the properties of every object and every device.
_COMMON_DEVICE_PROPERTIES = frozenset({"type", "realized", "hotpluggable", "hotplugged", "parent_bus"})


@cache
def types_of(target: SysEmuTarget) -> TypeTable:
    """The types of `target` (built on first use)."""
    return TypeTable(MappingProxyType({t.name: t for t in _all_types(target)}))


@dataclass(frozen=True, slots=True)
class DeviceModel:
    """A device type -device and device_add create, as `-device help` lists it."""

    category: str  # qdev's category: "CPU", "Input", ...
    name: str
    bus: str | None = None
    alias: str | None = None
    description: str | None = None


def device_models(target: SysEmuTarget) -> list[DeviceModel]:
    """What -device creates on `target` (-device help, HMP's device_add help): the CPU models'
    types, and on x86 the ISA serial port (other targets have no ISA bus) and the guest agent's
    channel."""
    if target is SysEmuTarget.PPC64:  # device_add creates cores, not threads
        from vmd.boards.ppc64 import cpu_models

        return [DeviceModel("CPU", model + cpu_models.CORE_SUFFIX) for model in cpu_models.CORE_MODELS]
    models = catalog(target).default.cpu_models()
    cpus = [DeviceModel("CPU", model.typename) for model in models.models.values()]
    if target is not SysEmuTarget.X86_64:
        return cpus
    return [
        DeviceModel("Input", ISA_SERIAL, bus="ISA"),
        DeviceModel("Input", "virtserialport", bus="virtio-serial-bus"),
        DeviceModel("Controller/Bridge/Hub", "i82801b11-bridge", bus="PCI"),
        DeviceModel("Controller/Bridge/Hub", "pci-bridge", bus="PCI", description="Standard PCI Bridge"),
        DeviceModel(
            "Controller/Bridge/Hub", "pcie-root-port", bus="PCI", description="PCI Express Root Port"
        ),
        DeviceModel("Input", "virtio-serial-pci", bus="PCI", alias="virtio-serial"),
        *cpus,
    ]
