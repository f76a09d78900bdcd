"""The s390-ccw-virtio machine's devices in the QOM tree, with the SCLP that carries CPU hotplug.

What QEMU 7.2 puts under /machine with -nodefaults (qom-list of qemu-system-s390x), each with
its QOM type and where it sits for device_del: the SCLP (sclp, its event facility with the
sclpquiesce and sclp-cpu-hotplug event sources on the s390-sclp-events-bus), the IPL device, the
TOD clock, the css bridge and its virtual-css bus, the floating interrupt controller, the
storage keys and attributes, and the PCI host bridge with its buses.  device_del of any of them
is refused as QEMU refuses it: a device on a bus that refuses hotplug names the bus, a device that
is not hotpluggable names its type, a bus is not a device.  QEMU 7.2 aborts on device_del of
/machine/s390-ipl and /machine/s390-tod (hotpluggable devices without a hotplug handler): vmd
refuses them like the SCLP.

The SCLP's CPU hotplug event source is vmd.machine.hotplug.sclp_cpu (the guest's driver for it
is vmd.guest.sclp).
"""

from __future__ import annotations

from vmd.machine.board import MachineParts
from vmd.machine.hotplug.sclp_cpu import SclpCpuHotplug
from vmd.machine.qdev.bus import QdevBus, QdevDevice
from vmd.machine.qom import BusObject, DeviceObject, QomObject

SYSTEM_BUS = "main-system-bus"
EVENTS_BUS = "s390-sclp-events-bus.0"

_EVENT_SOURCES = (QdevDevice("sclp-cpu-hotplug"), QdevDevice("sclpquiesce"))
# `info qtree` of qemu-system-s390x 7.2 -M s390-ccw-virtio -nodefaults.
BUSES = QdevBus(
    SYSTEM_BUS,
    "System",
    (
        QdevDevice("s390-pcihost", (QdevBus("s390-pcibus.0", "s390-pcibus"), QdevBus("pci.0", "PCI"))),
        QdevDevice("virtual-css-bridge", (QdevBus("virtual-css", "virtual-css-bus"),)),
        QdevDevice("s390-flic-qemu"),
        QdevDevice(
            "s390-sclp-event-facility",
            (QdevBus(EVENTS_BUS, "s390-sclp-events-bus", _EVENT_SOURCES),),
        ),
    ),
)

# The machine's own device types: device_add refuses them ("expects a pluggable device type").
FIXED_TYPES = frozenset(
    {
        "sclp", "s390-sclp-event-facility", "sclp-cpu-hotplug", "sclpquiesce", "s390-ipl",
        "s390-tod-qemu", "s390-pcihost", "virtual-css-bridge", "s390-flic-qemu", "s390-skeys-qemu",
        "s390-storage_attributes-qemu",
    }
)  # fmt: skip


def _device(parent: QomObject, name: str, type_name: str, bus: str | None = None) -> QomObject:
    return parent.add_child(name, DeviceObject(type_name, bus=bus))


def realize(parts: MachineParts) -> SclpCpuHotplug:
    """Add the machine's devices to /machine, as QEMU lists them; the SCLP CPU hotplug source."""
    machine = parts.qom.machine
    _device(machine, "s390-tod", "s390-tod-qemu")
    _device(machine, "s390-ipl", "s390-ipl")
    pcihost = _device(machine, "s390-pcihost", "s390-pcihost", SYSTEM_BUS)
    pcihost.add_child("pci.0", BusObject("PCI"))
    pcihost.add_child("s390-pcibus.0", BusObject("s390-pcibus"))
    _device(machine, "s390-storage_attributes", "s390-storage_attributes-qemu")
    sclp = _device(machine, "sclp", "sclp")
    facility = _device(sclp, "s390-sclp-event-facility", "s390-sclp-event-facility", SYSTEM_BUS)
    _device(facility, "sclpquiesce", "sclpquiesce", EVENTS_BUS)
    _device(facility, "sclp-cpu-hotplug", "sclp-cpu-hotplug", EVENTS_BUS)
    facility.add_child(EVENTS_BUS, BusObject("s390-sclp-events-bus"))
    bridge = _device(machine, "virtual-css-bridge", "virtual-css-bridge", SYSTEM_BUS)
    bridge.add_child("virtual-css", BusObject("virtual-css-bus"))
    _device(machine, "s390-flic-qemu", "s390-flic-qemu", SYSTEM_BUS)
    _device(machine, "s390-skeys", "s390-skeys-qemu")
    return SclpCpuHotplug(len(parts.slots), on_taken=parts.on_taken)
