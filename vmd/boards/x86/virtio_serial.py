"""The virtio-serial devices in the x86 machine's QOM tree, as QEMU 7.2 shows them.

`/machine/peripheral/ID` (or `peripheral-anon/device[N]`) for each PCI bridge, virtio-serial-pci
and virtserialport, with the properties a client reads (libvirt lists `/machine/peripheral` at
start and on reconnect): a bridge carries the bus it provides, a controller
its `virtio-backend` (virtio-serial-device) with the virtio-serial bus, and a port its `nr`,
`name`, `chardev` and the path of that bus as `parent_bus`.  PCI placement (`addr`) is not
modelled, so it reads as QEMU's unset -1.
"""

from __future__ import annotations

from vmd.devices.virtio_serial import (
    CONTROLLER,
    PCI_BRIDGE,
    PORT,
    ROOT_PORT,
    Bridge,
    SerialController,
    SerialPort,
    VirtioSerialDevices,
)
from vmd.machine.qom import BusObject, DeviceObject, QomObject, QomProperty, constant

# Where each board's root bus is (QEMU's host bridge objects).
_ROOT_BUS_PATHS = {"pcie.0": "/machine/q35/pcie.0", "pci.0": "/machine/i440fx/pci.0"}


def _place(machine: QomObject, device_id: str | None, obj: QomObject) -> None:
    if device_id is not None:
        machine.children["peripheral"].add_child(device_id, obj)
    else:
        anon = machine.children["peripheral-anon"]
        anon.add_child(f"device[{len(anon.children)}]", obj)


def _set_parent_bus(obj: QomObject, path: str) -> None:
    obj.add_property(QomProperty("parent_bus", "link<bus>", get=constant(path)))  # replaces the default


def add_virtio_serial(machine: QomObject, devices: VirtioSerialDevices) -> None:
    """Put the devices into `machine`'s QOM tree, in command-line order."""
    bus_paths = dict(_ROOT_BUS_PATHS)
    for bridge in devices.bridges:
        obj = _bridge(bridge, bus_paths)
        _place(machine, bridge.device_id, obj)
        if bridge.device_id is not None:
            bus_paths[bridge.device_id] = obj.children[bridge.device_id].path()
    for controller in devices.controllers:
        obj = _controller(controller, bus_paths)
        _place(machine, controller.device_id, obj)
        bus_paths[controller.bus_name] = obj.children["virtio-backend"].children[controller.bus_name].path()
    for port in devices.ports:
        _place(machine, port.device_id, _port(port, bus_paths))


def _bridge(bridge: Bridge, bus_paths: dict[str, str]) -> DeviceObject:
    obj = DeviceObject(bridge.driver, hotpluggable=bridge.driver == ROOT_PORT)
    _set_parent_bus(obj, bus_paths.get(bridge.bus, ""))
    obj.add_property(QomProperty("addr", "int32", get=constant(-1)))
    obj.add_property(QomProperty("multifunction", "bool", get=constant(False)))
    if bridge.driver == ROOT_PORT:
        obj.add_property(QomProperty("port", "uint8", get=constant(bridge.port)))
        obj.add_property(QomProperty("hotplug", "bool", get=constant(True)))
        obj.add_property(QomProperty("slot", "uint16", get=constant(0)))
        obj.add_property(QomProperty("chassis", "uint8", get=constant(bridge.chassis)))
    elif bridge.driver == PCI_BRIDGE:
        obj.add_property(QomProperty("chassis_nr", "uint8", get=constant(bridge.chassis)))
        obj.add_property(QomProperty("shpc", "bool", get=constant(True)))
    if bridge.device_id is not None:
        obj.add_child(bridge.device_id, BusObject("PCIE" if bridge.driver == ROOT_PORT else "PCI"))
    return obj


def _controller(controller: SerialController, bus_paths: dict[str, str]) -> DeviceObject:
    obj = DeviceObject(CONTROLLER, hotpluggable=True)
    _set_parent_bus(obj, bus_paths.get(controller.bus, ""))
    obj.add_property(QomProperty("addr", "int32", get=constant(-1)))
    obj.add_property(QomProperty("multifunction", "bool", get=constant(False)))
    obj.add_property(QomProperty("vectors", "uint32", get=constant(2)))
    obj.add_property(QomProperty("emergency-write", "bool", get=constant(True)))
    obj.add_property(QomProperty("max_ports", "uint32", get=constant(controller.max_ports)))
    backend = obj.add_child("virtio-backend", DeviceObject("virtio-serial-device"))
    backend.add_property(QomProperty("max_ports", "uint32", get=constant(controller.max_ports)))
    backend.add_property(QomProperty("emergency-write", "bool", get=constant(True)))
    backend.add_child(controller.bus_name, BusObject("virtio-serial-bus"))
    return obj


def _port(port: SerialPort, bus_paths: dict[str, str]) -> DeviceObject:
    obj = DeviceObject(PORT, hotpluggable=True)
    _set_parent_bus(obj, bus_paths.get(port.bus, ""))
    obj.add_property(QomProperty("nr", "uint32", get=constant(port.nr)))
    obj.add_property(QomProperty("name", "str", get=constant(port.name or "")))
    obj.add_property(QomProperty("chardev", "str", get=constant(port.chardev_id or "")))
    return obj
