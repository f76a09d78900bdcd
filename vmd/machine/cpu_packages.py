"""CPU packages: one QOM object per possible slot, present or not, under /machine/cpu-packages.

The layer-2 view of CPU hotplug (the two-layer proposal's *cpu-package*, which QEMU never
merged): a management layer scales a VM by setting `present` on packages without knowing the
board.  Each package is of the board's subtype of the abstract `cpu-package` (an x86 thread, an
s390x CPU; a pseries core and an ARM thread when those boards come), named `package[SLOT]`:

* `present` (bool, writable): whether a CPU device occupies the slot.  Setting it true plugs the
  slot through the typed CPU API as an anonymous device_add of the slot's address would (the
  same checks and events; the device gets its /machine/peripheral-anon/device[N] path).
  Setting it false asks the guest for the unplug as device_del does: `present` stays true until
  the guest ejects the CPU (DEVICE_DELETED) and stays true if it refuses
  (DEVICE_UNPLUG_GUEST_ERROR); while the guest has not answered, `unplug-pending` is true.
  A board that cannot unplug refuses with its own text.  Setting the value it has is a no-op;
  false on a pending package asks again, as a second device_del does.
* `vcpus` (the slot's thread count) and `cpu-indexes` (their cpu-indexes), `hotpluggable`, the
  slot's topology ids as query-hotpluggable-cpus gives them, and `qom-path`: the device's path
  while present, "" otherwise.

A package holds nothing of its own (every value is read from the CPU manager when asked), so the
container holds them as a table (vmd.machine.qom.ChildTable): a package object is made when a
path reaches it, and start-up makes none (thousands of possible cores cost nothing until asked).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vmd.errors import GenericError
from vmd.machine.cpu_manager import CpuManager
from vmd.machine.qom import QomObject, QomProperty, constant

CONTAINER = "cpu-packages"
ABSTRACT_TYPE = "cpu-package"


def package_name(slot: int) -> str:
    return f"package[{slot}]"


class CpuPackage(QomObject):
    def __init__(
        self, manager: CpuManager, slot: int, type_name: str, hotpluggable: bool, id_names: tuple[str, ...]
    ) -> None:
        super().__init__(type_name)
        self.manager = manager
        self.slot = slot
        vcpus = manager.layout.vcpus(slot)
        self.add_property(QomProperty("present", "bool", get=self.present, set=self._set_present))
        self.add_property(QomProperty("unplug-pending", "bool", get=lambda: manager.unplug_pending(slot)))
        self.add_property(QomProperty("vcpus", "uint32", get=constant(len(vcpus))))
        self.add_property(QomProperty("cpu-indexes", "uint32List", get=constant(list(vcpus))))
        self.add_property(QomProperty("hotpluggable", "bool", get=constant(hotpluggable)))
        for name, value in _ids(manager, slot, id_names):
            self.add_property(QomProperty(name, "int32", get=constant(value)))
        self.add_property(QomProperty("qom-path", "string", get=self.device_path))

    def present(self) -> bool:
        return self.slot in self.manager.slots.devices

    def device_path(self) -> str:
        device = self.manager.slots.devices.get(self.slot)
        return "" if device is None else device.qom_path

    def _set_present(self, value: Any) -> None:
        if not isinstance(value, bool):
            raise GenericError("Invalid parameter type for 'present', expected: boolean")
        if value:
            if not self.present():
                self.manager.plug_slot(self.slot)
        elif self.present():
            self.manager.request_unplug(self.slot)


def _ids(manager: CpuManager, slot: int, names: tuple[str, ...]) -> list[tuple[str, int]]:
    """The slot's topology ids: its address as query-hotpluggable-cpus gives it, and the levels
    that leaves out (die-id with one die: 0; node-id without NUMA: -1, as an unset CPU's)."""
    given = manager.slots.props(slot).to_wire()
    ids = manager.layout.ids(slot)
    implied = {"socket-id": ids.socket, "die-id": ids.die, "cluster-id": ids.cluster, "core-id": ids.core}
    implied["thread-id"] = ids.thread
    return [(name, given.get(name, implied.get(name, -1))) for name in names]


class _Packages:
    """The container's `package[SLOT]` children, one per possible slot, made when reached."""

    def __init__(self, container: QomObject, manager: CpuManager, hotpluggable: bool) -> None:
        self.container = container
        self.manager = manager
        self.hotpluggable = hotpluggable
        self.kind = f"child<{manager.cpus.package_type}>"

    def _slot(self, name: str) -> int | None:
        if not (name.startswith("package[") and name.endswith("]")):
            return None
        digits = name[len("package[") : -1]
        if not digits.isascii() or not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
            return None
        slot = int(digits)
        return slot if slot < len(self.manager.slots) else None

    def _make(self, slot: int) -> CpuPackage:
        cpus = self.manager.cpus
        package = CpuPackage(
            self.manager, slot, cpus.package_type, self.hotpluggable and slot != 0, cpus.package_ids
        )
        package.parent, package.name = self.container, package_name(slot)
        return package

    def child(self, name: str) -> QomObject | None:
        slot = self._slot(name)
        return None if slot is None else self._make(slot)

    def _entry(self, name: str) -> QomProperty:
        return QomProperty(name, self.kind, get=constant(f"/machine/{CONTAINER}/{name}"))

    def entry(self, name: str) -> QomProperty | None:
        return None if self._slot(name) is None else self._entry(name)

    def entries(self) -> Iterator[QomProperty]:
        for slot in range(len(self.manager.slots)):
            yield self._entry(package_name(slot))

    def objects(self) -> Iterator[QomObject]:
        for slot in range(len(self.manager.slots)):
            yield self._make(slot)


def create_packages(manager: CpuManager, machine: QomObject, hotpluggable: bool) -> None:
    """/machine/cpu-packages and one package per possible slot, of the board's package type
    (slot 0, the boot CPU, is never hotpluggable)."""
    container = machine.add_child(CONTAINER, QomObject("container"))
    container.add_table(_Packages(container, manager, hotpluggable))
