"""The CPU DR connectors in the QOM tree, as QEMU 7.2 shows them, made from the board's arrays.

`/machine/dr-connector[<index>]` (type spapr-drc-cpu) for every possible core, and the alias
container `/dr-connector` with a `link<spapr-drc-cpu>` named by the index in lower-case hex.
Neither holds an object per connector: a name is parsed back to a slot in O(1), an object is
made when a path reaches it, and qom-list writes the entries out as it walks the slots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from vmd.errors import GenericError
from vmd.machine.hotplug.spapr_drc import CPU_DRC_BASE, SpaprCpuDrcs
from vmd.machine.qom import DeviceObject, QomObject, QomProperty, constant
from vmd.qapi.runtime import JSON_NULL

DRC_TYPE = "spapr-drc-cpu"
_PREFIX, _SUFFIX = "dr-connector[", "]"


def _refuse(name: str) -> Callable[[Any], None]:
    def setter(value: Any) -> None:
        raise GenericError(f"Property '{DRC_TYPE}.{name}' is not writable")

    return setter


class DrcObject(DeviceObject):
    """One connector's QOM object: a view of slot `slot` of the arrays (made when reached)."""

    def __init__(
        self, drcs: SpaprCpuDrcs, slot: int, core_type: str, device_path: Callable[[int], str | None]
    ):
        super().__init__(DRC_TYPE, hotpluggable=True)
        index = drcs.index(slot)
        path = device_path(slot)
        if path is not None:  # the link exists only while a core is attached
            self.add_property(QomProperty("device", f"link<{core_type}>", get=constant(path)))
        self.add_property(QomProperty("id", "uint32", get=constant(index - CPU_DRC_BASE), set=_refuse("id")))
        self.add_property(QomProperty("index", "uint32", get=constant(index), set=_refuse("index")))
        self.add_property(
            QomProperty("fdt", "struct", get=lambda: _fdt(drcs, slot, index), set=_refuse("fdt"))
        )


def _fdt(drcs: SpaprCpuDrcs, slot: int, index: int) -> Any:
    """What configure-connector gave the guest: null until it ran (vmd shows the core's node
    and its DRC index; QEMU the whole device-tree node)."""
    if not drcs.configured_fdt[slot]:
        return JSON_NULL
    return {"ibm,my-drc-index": list(index.to_bytes(4, "big"))}


class MachineDrcs:
    """The `dr-connector[N]` children of /machine."""

    def __init__(
        self, machine: QomObject, drcs: SpaprCpuDrcs, core_type: str, device_path: Callable[[int], str | None]
    ) -> None:
        self.machine = machine
        self.drcs = drcs
        self.core_type = core_type
        self.device_path = device_path

    def slot_of_name(self, name: str) -> int | None:
        if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
            return None
        digits = name[len(_PREFIX) : -len(_SUFFIX)]
        if not digits.isascii() or not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
            return None
        return self.drcs.slot_of_index(int(digits))

    def make(self, slot: int) -> DrcObject:
        obj = DrcObject(self.drcs, slot, self.core_type, self.device_path)
        obj.parent = self.machine
        obj.name = f"{_PREFIX}{self.drcs.index(slot)}{_SUFFIX}"
        return obj

    def child(self, name: str) -> QomObject | None:
        slot = self.slot_of_name(name)
        return None if slot is None else self.make(slot)

    def entry(self, name: str) -> QomProperty | None:
        slot = self.slot_of_name(name)
        if slot is None:
            return None
        return QomProperty(name, f"child<{DRC_TYPE}>", get=constant(f"/machine/{name}"))

    def entries(self) -> Iterator[QomProperty]:
        kind = f"child<{DRC_TYPE}>"
        for slot in range(self.drcs.count):
            name = f"{_PREFIX}{self.drcs.index(slot)}{_SUFFIX}"
            yield QomProperty(name, kind, get=constant(f"/machine/{name}"))

    def objects(self) -> Iterator[QomObject]:
        for slot in range(self.drcs.count):
            yield self.make(slot)


class AliasDrcs:
    """The root `/dr-connector` container's links, named by the index in lower-case hex."""

    def __init__(self, machine_drcs: MachineDrcs) -> None:
        self.machine_drcs = machine_drcs
        self.drcs = machine_drcs.drcs

    def _slot(self, name: str) -> int | None:
        if not name or len(name) > 8 or any(c not in "0123456789abcdef" for c in name):
            return None
        return self.drcs.slot_of_index(int(name, 16))

    def child(self, name: str) -> QomObject | None:
        slot = self._slot(name)
        return None if slot is None else self.machine_drcs.make(slot)

    def entry(self, name: str) -> QomProperty | None:
        slot = self._slot(name)
        if slot is None:
            return None
        return QomProperty(
            name, f"link<{DRC_TYPE}>", get=constant(f"/machine/dr-connector[{self.drcs.index(slot)}]")
        )

    def entries(self) -> Iterator[QomProperty]:
        for slot in range(self.drcs.count):
            index = self.drcs.index(slot)
            yield QomProperty(
                f"{index:x}", f"link<{DRC_TYPE}>", get=constant(f"/machine/dr-connector[{index}]")
            )

    def objects(self) -> Iterator[QomObject]:
        return iter(())  # links: a partial path does not match through them


def realize(
    machine: QomObject,
    root: QomObject,
    drcs: SpaprCpuDrcs,
    core_type: str,
    device_path: Callable[[int], str | None],
) -> None:
    """Put the connectors under /machine and their aliases under /dr-connector."""
    machine_drcs = MachineDrcs(machine, drcs, core_type, device_path)
    machine.add_table(machine_drcs)
    aliases = root.children.get("dr-connector")
    if aliases is None:
        aliases = root.add_child("dr-connector", QomObject("container"))
    aliases.add_table(AliasDrcs(machine_drcs))
