"""What a board lets device_add create, and the whole check of one device_add in QEMU's order.

A board describes its side as a `PlugTarget`: the device types `device_add` may name (each with
the `DeviceKind` that knows its properties and its pre-plug checks: QEMU's hotplug handler), the
abstract types (named only to be refused), its bus tree and whether it has a hotplug handler at
all.  `resolve_device_add` runs steps 1-7 of `vmd.machine.qdev.opts`: the generic ones here, the
board's through its kinds.  The result names the slot the device goes into; plugging it is the
CPU manager's job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Container, Mapping
from dataclasses import field
from types import MappingProxyType

from vmd.machine.qdev.bus import EMPTY_BUSES, QdevBus
from vmd.machine.qdev.opts import ArgumentSource, DeviceRequest, parse_device_request
from vmd.machine.qdev.props import PropertySpec, PropertyValue, set_properties
from vmd.machine.topology import CpuIds
from vmd.records import dataclass


@dataclass(frozen=True, slots=True)
class ResolvedCpu:
    """A CPU the board would plug: into `slot`, with these ids after pre-plug filled them in.

    `node_id` is the node-id property afterwards: the slot's node when NUMA is configured and none
    was given (QEMU's fix-up for libvirt), None when it stays unset (qom-get reads -1).
    `properties` holds every other property given, parsed, in the order QEMU set them.
    """

    slot: int
    ids: CpuIds
    node_id: int | None
    device_id: str | None
    driver: str
    properties: Mapping[str, PropertyValue] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def start_powered_off(self) -> bool:
        return self.properties.get("start-powered-off") is True


class DeviceKind(ABC):
    """The devices of one hotplug handler (x86 CPUs, pseries cores, ...): their properties and the
    board's pre-plug checks."""

    @abstractmethod
    def property_spec(self, driver: str, name: str) -> PropertySpec | None:
        """The property `name` of type `driver`, None when the type has none by that name."""

    @abstractmethod
    def pre_plug(
        self, request: DeviceRequest, values: Mapping[str, PropertyValue], occupied: Container[int]
    ) -> ResolvedCpu:
        """Step 7: the board's checks, in QEMU's order, and the slot (`occupied`: slots that hold a
        device, one whose unplug is pending included)."""


@dataclass(frozen=True, slots=True)
class PlugTarget:
    """What the machine says about creating devices with device_add (and -device).
    `fixed_types` are device types the machine has that no one may create (QEMU: "expects a
    pluggable device type")."""

    devices: Mapping[str, DeviceKind]
    abstract_types: frozenset[str]
    buses: QdevBus = EMPTY_BUSES
    hotplug_handler: bool = True
    fixed_types: frozenset[str] = frozenset()


def resolve_device_add(
    arguments: Mapping[str, object],
    target: PlugTarget,
    *,
    existing_ids: Container[str] = frozenset(),
    occupied: Container[int] = frozenset(),
    source: ArgumentSource = ArgumentSource.QMP,
) -> ResolvedCpu:
    """parse_device_request then resolve_slot: the whole check, in QEMU 7.2's order."""
    request = parse_device_request(arguments, target, existing_ids=existing_ids, source=source)
    return resolve_slot(request, target, occupied=occupied)


def resolve_slot(
    request: DeviceRequest, target: PlugTarget, *, occupied: Container[int] = frozenset()
) -> ResolvedCpu:
    """Steps 6-7 for a request that got past steps 1-5."""
    kind = target.devices[request.driver]
    values = set_properties(request, kind.property_spec)
    return kind.pre_plug(request, values, occupied)
