"""The QOM types vmd has, with QEMU 7.2's names and parents: what qom-list-types reports.

Only types vmd gives meaning to are here: its machine types, CPU models and the CPU's lapic, the
ACPI device that carries CPU hotplug, the memory backends -numa may name, and the character
devices of its monitors and serial ports.  Each name and parent is QEMU 7.2's, so a client that
looks a type up by name (libvirt does) finds what it would find in QEMU; a type vmd does not
implement is absent rather than faked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from vmd.machine.boards import BOARDS
from vmd.machine.cpu_models import CPU_MODELS


@dataclass(frozen=True, slots=True)
class QomType:
    name: str
    parent: str | None
    abstract: bool = False


_FIXED = (
    QomType("object", None, abstract=True),
    QomType("container", "object"),
    QomType("device", "object", abstract=True),
    QomType("machine", "object", abstract=True),
    QomType("x86-machine", "machine", abstract=True),
    QomType("generic-pc-machine", "x86-machine", abstract=True),
    QomType("cpu", "device", abstract=True),
    QomType("x86_64-cpu", "cpu", abstract=True),
    QomType("apic-common", "device", abstract=True),
    QomType("apic", "apic-common"),
    QomType("pci-device", "device", abstract=True),
    QomType("ICH9-LPC", "pci-device"),
    QomType("PIIX4_PM", "pci-device"),
    QomType("memory-backend", "object", abstract=True),
    QomType("memory-backend-ram", "memory-backend"),
    QomType("chardev", "object", abstract=True),
    QomType("chardev-fd", "chardev", abstract=True),
    QomType("chardev-socket", "chardev"),
    QomType("chardev-file", "chardev-fd"),
    QomType("chardev-stdio", "chardev-fd"),
    QomType("chardev-null", "chardev"),
)


def _all_types() -> Iterator[QomType]:
    yield from _FIXED
    for board in BOARDS.values():
        parent = "generic-pc-machine" if board.hotpluggable_cpus else "machine"
        yield QomType(f"{board.name}-machine", parent)
    for model in CPU_MODELS.values():
        # QEMU derives `host` from `max` (max is host's features where the accelerator allows).
        parent = "max-x86_64-cpu" if model.name == "host" else "x86_64-cpu"
        yield QomType(model.typename, parent)


TYPES: dict[str, QomType] = {t.name: t for t in _all_types()}


def implements(name: str, ancestor: str) -> bool:
    """Whether type `name` is `ancestor` or derives from it."""
    current: str | None = name
    while current is not None:
        if current == ancestor:
            return True
        current = TYPES[current].parent
    return False
