"""A CPU as a QOM object: the properties every QEMU CPU device shows that matter for hotplug.

A real CPU object has hundreds of properties (every feature flag); vmd shows the ones a management
tool reads: realized, start-powered-off, the address properties the board's CPUs have (x86:
socket-id, die-id, core-id, thread-id, node-id and apic-id), and the device properties.  Address
properties are fixed once the CPU is realized, as in QEMU.  A board adds its own children (the
x86 lapic) with `add_child`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vmd.errors import GenericError
from vmd.machine.qom import DeviceObject, QomProperty, constant


class CpuObject(DeviceObject):
    """`address`: (name, QOM type, value) of each address property, in the order QEMU lists them."""

    def __init__(
        self,
        type_name: str,
        *,
        address: Sequence[tuple[str, str, int]],
        device_id: str | None,
        hotplugged: bool,
        start_powered_off: bool = False,
    ) -> None:
        super().__init__(type_name, hotplugged=hotplugged, hotpluggable=True)
        self.device_id = device_id
        self.add_property(QomProperty("realized", "bool", get=constant(True), set=self._refuse_unrealize))
        self.add_property(QomProperty("start-powered-off", "bool", get=constant(start_powered_off)))
        for name, kind, value in address:
            self.add_property(QomProperty(name, kind, get=constant(value), set=self._after_realize(name)))

    def _after_realize(self, name: str) -> Callable[[Any], None]:
        def refuse(value: Any) -> None:
            # QEMU's qdev_prop_set_after_realize names the device by its id, if it has one.
            device = "anonymous device" if self.device_id is None else f"device '{self.device_id}'"
            raise GenericError(
                f"Attempt to set property '{name}' on {device} (type '{self.type_name}') "
                "after it was realized"
            )

        return refuse

    def _refuse_unrealize(self, value: Any) -> None:
        raise GenericError("vmd does not unrealize CPUs through qom-set: use device_del")
