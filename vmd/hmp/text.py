"""What HMP commands print, in QEMU 7.2's formats (monitor/hmp-cmds.c, hw/core/machine-hmp-cmds.c,
qdev_device_help): from the same values the QMP commands return.

Lines end in "\n" here; `monitor_output` gives them the "\r\n" QEMU's monitor writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from vmd.cli import listings
from vmd.errors import QmpError
from vmd.qapi.compiled import CpuInfoFast, HotpluggableCPU, RunState, StatusInfo

_U64 = (1 << 64) - 1


def monitor_output(text: str) -> str:
    """QEMU's monitor_puts: every "\n" goes out as "\r\n"."""
    return text.replace("\n", "\r\n")


def error(failure: QmpError) -> str:
    """hmp_handle_error: a command's QMP error as HMP reports it, with QEMU's hint if it has one."""
    return f"Error: {failure.desc}\n{failure.hint}"


def cpus(present: Iterable[CpuInfoFast], current: int) -> str:
    """info cpus: query-cpus-fast, the monitor's current CPU marked with `*`."""
    return "".join(
        f"{'*' if cpu.cpu_index == current else ' '} CPU #{cpu.cpu_index}: thread_id={cpu.thread_id}\n"
        for cpu in present
    )


def status(info: StatusInfo) -> str:
    """info status: query-status; a VM that is not running says why unless it is just paused."""
    text = "VM status: " + ("running" if info.running else "paused")
    if info.singlestep:
        text += " (single step mode)"
    if not info.running and info.status is not RunState.PAUSED:
        text += f" ({info.status.value})"
    return text + "\n"


# CpuInstanceProperties in the order QEMU prints them, with their names.
_PROPS = (
    ("node_id", "node-id"),
    ("socket_id", "socket-id"),
    ("die_id", "die-id"),
    ("cluster_id", "cluster-id"),
    ("core_id", "core-id"),
    ("thread_id", "thread-id"),
)


def hotpluggable_cpus(slots: Iterable[HotpluggableCPU]) -> str:
    """info hotpluggable-cpus: query-hotpluggable-cpus, slot by slot (values as C's PRIu64)."""
    lines = ["Hotpluggable CPUs:"]
    for slot in slots:
        lines += [f'  type: "{slot.type}"', f'  vcpus_count: "{slot.vcpus_count & _U64}"']
        if slot.qom_path is not None:
            lines.append(f'  qom_path: "{slot.qom_path}"')
        lines.append("  CPUInstance Properties:")
        for attr, name in _PROPS:
            value = getattr(slot.props, attr, None)
            if value is not None:
                lines.append(f'    {name}: "{value & _U64}"')
    return "\n".join(lines) + "\n"


class DeviceModel(Protocol):
    """A device type as `-device help` lists it (vmd.boards.qom_types.DeviceModel)."""

    @property
    def category(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def bus(self) -> str | None: ...

    @property
    def alias(self) -> str | None: ...

    @property
    def description(self) -> str | None: ...


class DeviceProperty(Protocol):
    """A property as device-list-properties gives it (vmd.boards.qom_types.ClassProperty)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def description(self) -> str | None: ...

    @property
    def default(self) -> object: ...


def device_list(models: Iterable[DeviceModel]) -> str:
    """device_add help: what -device help prints."""
    return listings.devices(
        listings.DeviceEntry(m.category, m.name, bus=m.bus, alias=m.alias, description=m.description)
        for m in models
    )


def device_options(driver: str, properties: Iterable[DeviceProperty]) -> str:
    """device_add DRIVER,help: what -device DRIVER,help prints."""
    entries = (
        listings.PropertyEntry(p.name, p.type, p.description, p.default, p.default is not None)
        for p in properties
    )
    return listings.options(driver, entries)
