"""Devices: device_add, device_del, the legacy cpu-add, and their events (QEMU 7.2)."""

from __future__ import annotations

from vmd.qapi.registry import CommandSpec, EventSpec
from vmd.qapi.types import QapiStruct


class DeviceAddArgs(QapiStruct):
    """What introspection shows; like QEMU ('gen': false) the handler reads the raw arguments,
    since any other member is a device property."""

    driver: str
    bus: str | None = None
    id: str | None = None


class DeviceDelArgs(QapiStruct):
    id: str


class CpuAddArgs(QapiStruct):
    id: int


class DeviceDeletedData(QapiStruct):
    device: str | None = None
    path: str


class DeviceUnplugGuestErrorData(QapiStruct):
    device: str | None = None
    path: str


COMMANDS = (
    CommandSpec(
        "device_add",
        "Add a device (vmd: a vCPU, as QEMU's pc/q35 take them); other members are its properties.",
        args=DeviceAddArgs,
        raw_args=True,
        features=("json-cli", "json-cli-hotplug"),
    ),
    CommandSpec(
        "device_del",
        "Ask for a device's removal (by id or QOM path); DEVICE_DELETED says when it is gone.",
        args=DeviceDelArgs,
    ),
    CommandSpec(
        "cpu-add",
        "QEMU 1.5-5.1's vCPU hot-add by CPU index, kept for old clients: device_add of that slot.",
        args=CpuAddArgs,
        features=("deprecated",),
        # vmd keeps it for old x86 clients; qemu-system-s390x 7.2 (and vmd's other targets) has none.
        targets=("x86_64",),
    ),
)

DEVICE_DELETED = EventSpec(
    "DEVICE_DELETED",
    "A device is gone (vmd: for a vCPU, its lapic child first, then the CPU itself).",
    data=DeviceDeletedData,
)
DEVICE_UNPLUG_GUEST_ERROR = EventSpec(
    "DEVICE_UNPLUG_GUEST_ERROR",
    "The guest refused to give up a device whose removal was requested.",
    data=DeviceUnplugGuestErrorData,
)
EVENTS = (DEVICE_DELETED, DEVICE_UNPLUG_GUEST_ERROR)
