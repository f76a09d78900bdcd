"""The pure parts of the guest agent's channel: the sysfs order of CPUs and the checks of the
virtio-serial devices (their words are QEMU 7.2's; tests/integration compares them live)."""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType

import pytest

from vmd.config import ChardevConfig, DeviceConfig, JsonValue
from vmd.devices.virtio_serial import VirtioSerialError, resolve_virtio_serial
from vmd.guest.sysfs import kernfs_name_hash, sysfs_cpu_order

SYSFS_CPU = Path("/sys/devices/system/cpu")


def test_sysfs_order_is_kernfs_name_hash_order() -> None:
    assert sysfs_cpu_order(range(4)) == [3, 1, 2, 0]
    assert sysfs_cpu_order(range(8)) == [7, 5, 3, 1, 6, 4, 2, 0]
    assert 2 <= kernfs_name_hash("cpu0") < 0x7FFFFFFF


@pytest.mark.skipif(not SYSFS_CPU.is_dir(), reason="no sysfs here")
def test_the_hash_orders_this_hosts_sysfs_as_readdir_does() -> None:
    listed = os.listdir(SYSFS_CPU)  # readdir order
    assert listed == sorted(listed, key=kernfs_name_hash)


def _device(driver: str, device_id: str | None = None, **props: JsonValue) -> DeviceConfig:
    return DeviceConfig(driver, device_id, MappingProxyType(dict(props)), from_json=True)


CHARDEVS = {name: ChardevConfig(name, "socket", MappingProxyType({"server": "on"})) for name in ("c0", "c1")}
CONTROLLER = _device("virtio-serial-pci", "vs0", bus="pci.1")
ROOT_PORT = _device("pcie-root-port", "pci.1", bus="pcie.0", port=8, chassis=1)


def test_libvirts_devices_resolve() -> None:
    port = _device(
        "virtserialport", "channel0", bus="vs0.0", nr=1, chardev="c0", name="org.qemu.guest_agent.0"
    )
    devices = resolve_virtio_serial([ROOT_PORT, CONTROLLER, port], CHARDEVS, "pcie.0")
    (resolved,) = devices.ports
    assert (resolved.nr, resolved.bus, resolved.chardev_id, resolved.is_agent) == (1, "vs0.0", "c0", True)
    assert devices.controller_of(resolved).device_id == "vs0"


def test_an_automatic_port_number_is_the_first_free_one_from_1() -> None:
    ports = [_device("virtserialport", chardev="c0", nr=1), _device("virtserialport", chardev="c1")]
    devices = resolve_virtio_serial([ROOT_PORT, CONTROLLER, *ports], CHARDEVS, "pcie.0")
    assert [p.nr for p in devices.ports] == [1, 2]


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ([CONTROLLER], "Bus 'pci.1' not found"),
        ([ROOT_PORT, CONTROLLER, _device("virtserialport", nr=0)],
         "Port number 0 on virtio-serial devices reserved for virtconsole devices for backward "
         "compatibility."),
        ([ROOT_PORT, CONTROLLER, _device("virtserialport", nr=31)],
         "virtio-serial-bus: Out-of-range port id specified, max. allowed: 30"),
        ([ROOT_PORT, CONTROLLER, _device("virtserialport", nr=1), _device("virtserialport", nr=1)],
         "virtio-serial-bus: A port already exists at id 1"),
        ([ROOT_PORT, CONTROLLER, _device("virtserialport", name="a"), _device("virtserialport", name="a")],
         "virtio-serial-bus: A port already exists by name a"),
        ([_device("virtserialport")], "No 'virtio-serial-bus' bus found for device 'virtserialport'"),
        ([ROOT_PORT, CONTROLLER, _device("virtserialport", chardev="nope")],
         "Property 'virtserialport.chardev' can't find value 'nope'"),
        ([ROOT_PORT, CONTROLLER, _device("virtserialport", nr="x")], "Parameter 'nr' expects uint32_t"),
        ([_device("pci-bridge", "b", bus="pcie.0", colour=1)], "Property 'pci-bridge.colour' not found"),
    ],
)  # fmt: skip
def test_refusals(devices: list[DeviceConfig], message: str) -> None:
    with pytest.raises(VirtioSerialError) as refused:
        resolve_virtio_serial(devices, CHARDEVS, "pcie.0")
    assert str(refused.value) == message
