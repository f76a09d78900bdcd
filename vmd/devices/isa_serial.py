"""-device isa-serial: a serial port given as a device (libvirt's <serial>/<console>), with
QEMU 7.2's rules.

A port without `index` takes the next number QEMU would give it: it counts the ports it numbered
itself (-serial ones first, then -device ones without an index); there are four.  Where QEMU 7.2
would then put two ports on one I/O base without a word, vmd refuses the second.  `chardev` names the
backend (none: the port's output goes nowhere).  vmd places each port at its standard I/O base
and IRQ, so `iobase`, `irq`, `baudbase` and `wakeup` are refused rather than ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vmd.config import DeviceConfig, JsonValue
from vmd.records import dataclass

DRIVER = "isa-serial"
MAX_PORTS = 4
_QEMU_ONLY = frozenset({"iobase", "irq", "baudbase", "wakeup"})


class IsaSerialError(Exception):
    def __init__(self, message: str, device: DeviceConfig | None = None) -> None:
        super().__init__(message)
        self.device = device


@dataclass(frozen=True, slots=True)
class IsaSerial:
    index: int
    chardev_id: str | None
    device_id: str | None


def resolve_isa_serials(
    devices: Iterable[DeviceConfig], taken: Iterable[int], chardevs: Mapping[str, object]
) -> list[IsaSerial]:
    used = set(taken)
    next_index = len(used)
    ports = []
    for device in devices:
        try:
            port = _port(device, used, next_index, chardevs)
        except IsaSerialError as error:
            raise IsaSerialError(str(error), device) from None
        if "index" not in device.props:
            next_index += 1  # QEMU counts the ports it numbered itself, not those given an index
        ports.append(port)
    return ports


def _port(device: DeviceConfig, used: set[int], next_index: int, chardevs: Mapping[str, object]) -> IsaSerial:
    index_value: JsonValue = None
    chardev_id: str | None = None
    for key, value in device.props.items():
        if key == "index":
            index_value = value
        elif key == "chardev":
            if not isinstance(value, str):
                raise IsaSerialError("Invalid parameter type for 'chardev', expected: string")
            if value not in chardevs:
                raise IsaSerialError(f"Property 'serial.chardev' can't find value '{value}'")
            chardev_id = value
        elif key in _QEMU_ONLY:
            raise IsaSerialError(f"{DRIVER} property '{key}' is not supported by vmd")
        else:
            raise IsaSerialError(f"Property '{DRIVER}.{key}' not found")
    index = next_index if index_value is None else _index(index_value)
    if index >= MAX_PORTS:
        raise IsaSerialError(f"Max. supported number of ISA serial ports is {MAX_PORTS}.")
    if index in used:
        raise IsaSerialError(f"serial port {index} (COM{index + 1}) is already in use")
    used.add(index)
    return IsaSerial(index, chardev_id, device.id)


def _index(value: JsonValue) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise IsaSerialError("Invalid parameter type for 'index', expected: integer")
    if isinstance(value, str):
        if not value.isdigit():
            raise IsaSerialError("Parameter 'index' expects integer")
        return int(value)
    if value < 0:
        raise IsaSerialError("Parameter 'index' expects integer")
    return value
