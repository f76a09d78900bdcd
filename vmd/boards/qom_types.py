"""The QOM types vmd has, with QEMU 7.2's names and parents: what qom-list-types reports.

Only types vmd gives meaning to are here: its machine types, CPU models and the CPU's lapic, the
ACPI device that carries CPU hotplug, the memory backends and secrets -object creates, and the character
devices of its monitors and serial ports.  Each name and parent is QEMU 7.2's, so a client that
looks a type up by name (libvirt does) finds what it would find in QEMU; a type vmd does not
implement is absent rather than faked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from vmd.boards.catalog import catalog
from vmd.devices.isa_serial import DRIVER as ISA_SERIAL
from vmd.errors import DeviceNotFound, GenericError
from vmd.qapi.compiled import SysEmuTarget


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
)


def _all_types(target: SysEmuTarget) -> Iterator[QomType]:
    yield from (t for t in _FIXED if not t.targets or target in t.targets)
    boards = catalog(target)
    for board in boards.boards.values():
        yield QomType(f"{board.name}-machine", board.qom_parent)
    for model in boards.default.cpu_models().models.values():
        yield QomType(model.typename, model.qom_parent)


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


def device_models(target: SysEmuTarget) -> list[DeviceModel]:
    """What -device creates on `target` (-device help, HMP's device_add help): the ISA serial port
    and the CPU models' types."""
    models = catalog(target).default.cpu_models()
    cpus = [DeviceModel("CPU", model.typename) for model in models.models.values()]
    return [DeviceModel("Input", ISA_SERIAL, bus="ISA"), *cpus]
