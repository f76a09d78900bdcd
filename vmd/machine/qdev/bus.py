"""qdev buses as `bus=` names them: a machine's bus tree and QEMU's qbus_find over it.

A board describes its tree (`vmd.boards.x86.buses` has pc's and q35's); a CPU goes on no bus, so
every `bus=` on a CPU ends in an error, but which one (and its class) depends on the path.  Some
come with QEMU's hint listing what is there instead (HMP shows it; QMP does not).
"""

from __future__ import annotations

from vmd.errors import DeviceNotFound, GenericError
from vmd.records import dataclass


@dataclass(frozen=True, slots=True)
class QdevBus:
    """A qdev bus: its name, its QOM type (what "can't go on <type> bus" names), its devices."""

    name: str
    type: str
    devices: tuple[QdevDevice, ...] = ()


@dataclass(frozen=True, slots=True)
class QdevDevice:
    """A device on a bus, as `bus` paths name it: by id, by type, or by its qdev alias."""

    type: str
    buses: tuple[QdevBus, ...] = ()
    id: str | None = None
    alias: str | None = None


EMPTY_BUSES = QdevBus("main-system-bus", "System")

# qbus_find reads each path element with sscanf("%127[^/]").
_PATH_ELEMENT_MAX = 127


def _split_element(path: str, pos: int) -> tuple[str, int]:
    end = path.find("/", pos)
    end = len(path) if end < 0 else end
    return path[pos : min(end, pos + _PATH_ELEMENT_MAX)], end


def _find_bus_by_name(bus: QdevBus, name: str) -> QdevBus | None:
    # Depth-first, as qbus_find_recursive; no bus here is ever full, so the first match wins.
    if bus.name == name:
        return bus
    for device in bus.devices:
        for child in device.buses:
            found = _find_bus_by_name(child, name)
            if found is not None:
                return found
    return None


def _find_device(bus: QdevBus, element: str) -> QdevDevice | None:
    # qbus_find_dev: an id first, then a type name, then a qdev alias.
    for device in bus.devices:
        if device.id == element:
            return device
    for device in bus.devices:
        if device.type == element:
            return device
    for device in bus.devices:
        if device.alias == element:
            return device
    return None


def find_bus(root: QdevBus, path: str) -> QdevBus:
    """The bus `path` names (QEMU's qbus_find): a bus name searched for anywhere, or a path from
    `/` alternating device (id, type or alias) and bus names; a path may end at a device with
    exactly one child bus.  Raises GenericError or DeviceNotFound with QEMU's messages."""
    if path.startswith("/"):
        bus, pos = root, 0
    else:
        name, pos = _split_element(path, 0)
        found = _find_bus_by_name(root, name)
        if found is None:
            raise GenericError(f"Bus '{name}' not found")
        bus = found
    while True:
        while pos < len(path) and path[pos] == "/":
            pos += 1
        if pos == len(path):
            return bus
        element, pos = _split_element(path, pos)
        device = _find_device(bus, element)
        if device is None:
            raise DeviceNotFound(f"Device '{element}' not found", hint=_devices_hint(bus))
        while pos < len(path) and path[pos] == "/":
            pos += 1
        if pos == len(path):
            if len(device.buses) == 1:
                return device.buses[0]
            if device.buses:
                raise GenericError(f"Device '{element}' has multiple child buses", hint=_buses_hint(device))
            raise GenericError(f"Device '{element}' has no child bus")
        element, pos = _split_element(path, pos)
        child = next((b for b in device.buses if b.name == element), None)
        if child is None:
            raise GenericError(f"Bus '{element}' not found", hint=_buses_hint(device))
        bus = child


def _devices_hint(bus: QdevBus) -> str:
    """qbus_error_append_dev_list_hint: the devices on `bus`, by type (and id)."""
    names = [f'"{device.type}"' + (f'/"{device.id}"' if device.id else "") for device in bus.devices]
    return _hint(f'devices at "{bus.name}":', names)


def _buses_hint(device: QdevDevice) -> str:
    """qbus_error_append_bus_list_hint: the child buses of `device`, named by its id or type."""
    return _hint(f'child buses at "{device.id or device.type}":', [f'"{bus.name}"' for bus in device.buses])


def _hint(title: str, names: list[str]) -> str:
    return title + (" " + ", ".join(names) if names else "") + "\n"
