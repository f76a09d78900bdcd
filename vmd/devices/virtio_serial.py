"""-device virtio-serial-pci, virtserialport and the PCI bridges in front of the controller
(pcie-root-port, i82801b11-bridge, pci-bridge): the guest agent's channel as libvirt gives it,
checked with QEMU 7.2's rules and words.

libvirt's `<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>`
becomes a virtio-serial controller (on q35 behind a pcie-root-port, plus a spare root port for
hotplug, or, where libvirt puts virtio devices on conventional PCI, behind a DMI-to-PCI bridge and a
PCI bridge), a socket chardev in server mode and a virtserialport naming it.  vmd models what a host
can observe of them: their QOM objects and properties, the port's `frontend-open` (the guest has
the port open) and the bytes on the chardev.  PCI itself (config space, BARs, MSI-X) is not
modelled: the guest model speaks to the port directly.

Resolution is pure: `resolve_virtio_serial` takes the -device configs and the chardevs and gives
the devices in command-line order, or a VirtioSerialError with QEMU's message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from vmd.config import ChardevConfig, DeviceConfig, JsonValue
from vmd.records import dataclass

ROOT_PORT = "pcie-root-port"
DMI_TO_PCI_BRIDGE = "i82801b11-bridge"
PCI_BRIDGE = "pci-bridge"
BRIDGES = (ROOT_PORT, DMI_TO_PCI_BRIDGE, PCI_BRIDGE)
CONTROLLER = "virtio-serial-pci"
PORT = "virtserialport"
DRIVERS = frozenset({*BRIDGES, CONTROLLER, PORT})
AGENT_PORT_NAME = "org.qemu.guest_agent.0"
MAX_PORTS = 31  # virtio-serial-pci's max_ports default
AUTO_NR = 0xFFFFFFFF  # virtserialport's nr default: the first free port number

# The properties vmd accepts on each (values are checked where they mean something to vmd; the
# others only describe PCI placement, which vmd does not model).
_PCI_PROPS = frozenset({"bus", "addr", "multifunction"})
_BRIDGE_PROPS = {
    ROOT_PORT: _PCI_PROPS | {"port", "chassis", "slot", "hotplug"},
    DMI_TO_PCI_BRIDGE: _PCI_PROPS,
    PCI_BRIDGE: _PCI_PROPS | {"chassis_nr", "shpc", "msi"},
}
_CONTROLLER_PROPS = frozenset({"bus", "addr", "multifunction", "max_ports", "vectors", "ioeventfd"})
_PORT_PROPS = frozenset({"bus", "nr", "name", "chardev"})


class VirtioSerialError(Exception):
    def __init__(self, message: str, device: DeviceConfig | None = None) -> None:
        super().__init__(message)
        self.device = device


@dataclass(frozen=True, slots=True)
class Bridge:
    """A PCI bridge or PCIe root port: it sits on `bus` and provides the bus named by its id."""

    driver: str
    device_id: str | None
    bus: str
    port: int = 0  # a root port's port number
    chassis: int = 0  # a root port's chassis, a PCI bridge's chassis_nr


@dataclass(frozen=True, slots=True)
class SerialController:
    device_id: str | None
    bus: str  # the PCI bus it sits on ("pci.1", "pcie.0")
    max_ports: int

    @property
    def bus_name(self) -> str:
        """The name of the virtio-serial bus it provides (QEMU: "<id>.0", or an anonymous one's)."""
        return f"{self.device_id or 'virtio-serial-bus'}.0"


@dataclass(frozen=True, slots=True)
class SerialPort:
    device_id: str | None
    bus: str  # the virtio-serial bus ("virtio-serial0.0")
    nr: int
    name: str | None
    chardev_id: str | None

    @property
    def is_agent(self) -> bool:
        return self.name == AGENT_PORT_NAME


@dataclass(frozen=True, slots=True)
class VirtioSerialDevices:
    bridges: tuple[Bridge, ...] = ()
    controllers: tuple[SerialController, ...] = ()
    ports: tuple[SerialPort, ...] = ()

    def controller_of(self, port: SerialPort) -> SerialController:
        return next(c for c in self.controllers if c.bus_name == port.bus)


def resolve_virtio_serial(
    devices: Iterable[DeviceConfig], chardevs: Mapping[str, ChardevConfig], pci_root: str
) -> VirtioSerialDevices:
    """The devices of `devices` vmd models here, in command-line order (`pci_root`: the board's
    root bus, "pcie.0" on q35, "pci.0" on pc)."""
    bridges: list[Bridge] = []
    controllers: list[SerialController] = []
    ports: list[SerialPort] = []
    for device in devices:
        buses = {pci_root} | {b.device_id for b in bridges if b.device_id is not None}
        try:
            if device.driver in BRIDGES:
                bridges.append(_bridge(device, buses, pci_root))
            elif device.driver == CONTROLLER:
                controllers.append(_controller(device, buses, pci_root))
            elif device.driver == PORT:
                ports.append(_port(device, controllers, ports, chardevs))
        except VirtioSerialError as error:
            raise VirtioSerialError(str(error), device) from None
    return VirtioSerialDevices(tuple(bridges), tuple(controllers), tuple(ports))


def _check_props(device: DeviceConfig, known: frozenset[str]) -> None:
    for key in device.props:
        if key not in known:
            raise VirtioSerialError(f"Property '{device.driver}.{key}' not found")


def _string(device: DeviceConfig, key: str) -> str | None:
    value = device.props.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise VirtioSerialError(f"Invalid parameter type for '{key}', expected: string")
    return value


def _uint(device: DeviceConfig, key: str, bits: int, default: int) -> int:
    """An unsigned property, as a JSON number or (key=value, and QEMU 7.2's lenient JSON) text."""
    value: JsonValue = device.props.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise VirtioSerialError(f"Invalid parameter type for '{key}', expected: integer")
    if isinstance(value, str):
        text = value.strip()
        base = 16 if text.lower().startswith("0x") else 10
        try:
            value = int(text, base)
        except ValueError:
            raise VirtioSerialError(f"Parameter '{key}' expects uint{bits}_t") from None
    if not 0 <= value < 1 << bits:
        raise VirtioSerialError(f"Parameter '{key}' expects uint{bits}_t")
    return value


def _bridge(device: DeviceConfig, buses: set[str], pci_root: str) -> Bridge:
    _check_props(device, _BRIDGE_PROPS[device.driver])
    bus = _string(device, "bus") or pci_root
    if bus not in buses:
        raise VirtioSerialError(f"Bus '{bus}' not found")
    if device.driver == ROOT_PORT:
        return Bridge(
            device.driver, device.id, bus, _uint(device, "port", 8, 0), _uint(device, "chassis", 8, 0)
        )
    return Bridge(device.driver, device.id, bus, chassis=_uint(device, "chassis_nr", 8, 0))


def _controller(device: DeviceConfig, buses: set[str], pci_root: str) -> SerialController:
    _check_props(device, _CONTROLLER_PROPS)
    bus = _string(device, "bus") or pci_root
    if bus not in buses:
        raise VirtioSerialError(f"Bus '{bus}' not found")
    max_ports = _uint(device, "max_ports", 32, MAX_PORTS)
    return SerialController(device.id, bus, max_ports)


def _port(
    device: DeviceConfig,
    controllers: list[SerialController],
    ports: list[SerialPort],
    chardevs: Mapping[str, ChardevConfig],
) -> SerialPort:
    _check_props(device, _PORT_PROPS)
    chardev_id = _string(device, "chardev")
    if chardev_id is not None and chardev_id not in chardevs:
        raise VirtioSerialError(f"Property '{PORT}.chardev' can't find value '{chardev_id}'")
    bus = _string(device, "bus")
    if bus is None:
        if not controllers:
            raise VirtioSerialError(f"No 'virtio-serial-bus' bus found for device '{PORT}'")
        controller = controllers[0]
    else:
        found = [c for c in controllers if c.bus_name == bus]
        if not found:
            raise VirtioSerialError(f"Bus '{bus}' not found")
        controller = found[0]
    siblings = [p for p in ports if p.bus == controller.bus_name]
    name = _string(device, "name")
    nr = _uint(device, "nr", 32, AUTO_NR)
    # QEMU's order: the bus's checks (virtser_port_device_realize), then the port type's own.
    if nr != AUTO_NR and any(p.nr == nr for p in siblings):
        raise VirtioSerialError(f"virtio-serial-bus: A port already exists at id {nr}")
    if name is not None and any(p.name == name for p in ports):
        raise VirtioSerialError(f"virtio-serial-bus: A port already exists by name {name}")
    if nr == AUTO_NR:
        taken = {0} | {p.nr for p in siblings}  # 0 is kept for a virtconsole
        nr = next((n for n in range(controller.max_ports) if n not in taken), AUTO_NR)
        if nr == AUTO_NR:
            raise VirtioSerialError("virtio-serial-bus: Maximum port limit for this device reached")
    if nr >= controller.max_ports:
        raise VirtioSerialError(
            f"virtio-serial-bus: Out-of-range port id specified, max. allowed: {controller.max_ports - 1}"
        )
    if nr == 0:
        raise VirtioSerialError(
            "Port number 0 on virtio-serial devices reserved for virtconsole devices for backward "
            "compatibility."
        )
    return SerialPort(device.id, controller.bus_name, nr, name, chardev_id)


class PortState:
    """A virtserialport as the host sees it at run time: whether the guest has it open
    (`frontend-open`) and whether the guest reads it (an open port's reader may be hung).
    Listeners hear every change, with whether `guest_open` changed (VSERPORT_CHANGE)."""

    def __init__(self, port: SerialPort) -> None:
        self.port = port
        self.guest_open = False
        self.guest_reading = False
        self._listeners: list[Callable[[bool], None]] = []

    def listen(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)

    def set_guest_state(self, is_open: bool, reading: bool) -> None:
        reading = reading and is_open
        open_changed = is_open != self.guest_open
        if not open_changed and reading == self.guest_reading:
            return
        self.guest_open, self.guest_reading = is_open, reading
        for listener in self._listeners:
            listener(open_changed)
