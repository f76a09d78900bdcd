"""A CPU as a QOM object: the properties QEMU 7.2's x86 CPUs show that matter for hotplug.

A real x86 CPU object has some 500 properties (every CPUID flag); vmd shows the
ones a management tool reads: the address, apic-id, node-id, realized,
hotplugged, hotpluggable, start-powered-off, parent_bus and the lapic child.
Address properties are fixed once the CPU is realized, as in QEMU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vmd.errors import GenericError
from vmd.machine.qom import DeviceObject, QomProperty, constant
from vmd.machine.topology import CpuIds

ADDRESS_PROPERTIES = ("socket-id", "die-id", "core-id", "thread-id", "node-id", "apic-id")
LAPIC_TYPE = "apic"  # QEMU's TCG local APIC ("kvm-apic" under KVM)


class CpuObject(DeviceObject):
    def __init__(
        self,
        type_name: str,
        *,
        ids: CpuIds,
        apic_id: int,
        node_id: int,
        device_id: str | None,
        hotplugged: bool,
        start_powered_off: bool = False,
    ) -> None:
        super().__init__(type_name, hotplugged=hotplugged, hotpluggable=True)
        self.device_id = device_id
        values: dict[str, Any] = {
            "socket-id": ids.socket,
            "die-id": ids.die,
            "core-id": ids.core,
            "thread-id": ids.thread,
            "node-id": node_id,
            "apic-id": apic_id,
        }
        self.add_property(QomProperty("realized", "bool", get=constant(True), set=self._refuse_unrealize))
        self.add_property(QomProperty("start-powered-off", "bool", get=constant(start_powered_off)))
        for name in ADDRESS_PROPERTIES:
            kind = "uint32" if name == "apic-id" else "int32"
            self.add_property(
                QomProperty(name, kind, get=constant(values[name]), set=self._after_realize(name))
            )
        self.add_child("lapic", DeviceObject(LAPIC_TYPE, hotplugged=hotplugged))

    def _after_realize(self, name: str) -> Callable[[Any], None]:
        def refuse(value: Any) -> None:
            label = self.device_id if self.device_id is not None else self.name
            raise GenericError(
                f"Attempt to set property '{name}' on device '{label}' (type '{self.type_name}') "
                "after it was realized"
            )

        return refuse

    def _refuse_unrealize(self, value: Any) -> None:
        raise GenericError("vmd does not unrealize CPUs through qom-set: use device_del")
