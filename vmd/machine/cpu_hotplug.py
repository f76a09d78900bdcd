"""CPU hotplug on pc/q35: the slots, their CPU objects, the ACPI hotplug block and the vCPU threads.

Plug: a resolved slot gets its QOM object, its vCPU thread (the parked context
reused), and, for a hot-add, the ACPI insert event; the guest takes it from
there.  Unplug: device_del only *asks* (the ACPI remove event).  When the guest
ejects, the CPU leaves every view in one step on the loop (slot table, QOM,
the guest's lists, query-cpus-fast) while its thread is still alive, so no
answer ever names a thread that has exited; then the thread is stopped and
joined, its context parked, and DEVICE_DELETED sent for the lapic and then for
the CPU itself (the event QEMU 7.2 under TCG never sends).  That release is the
machine's own work: nothing the guest does afterwards (a reset cancelling its
tasks) can leave it half done.  Every phase is timed.

Runs on the event loop; the guest model (vmd.guest.os_model) is its counterpart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vmd.errors import DeviceNotFound, GenericError
from vmd.firmware import standard as fw
from vmd.guest.os_model import GuestOs
from vmd.machine.acpi_cpu_hotplug import OST_DEVICE_CHECK, AcpiCpuHotplug
from vmd.machine.boards import Board
from vmd.machine.cpu_address import ArgumentSource, CpuPlugTarget, parse_cpu_device, resolve_cpu_slot
from vmd.machine.cpu_qom import CpuObject
from vmd.machine.cpus import CpuDevice, CpuSlots, boot_cpu_qom_path
from vmd.machine.qom import DeviceObject, QomObject, QomProperty, QomTree
from vmd.machine.topology import CpuIds, Topology
from vmd.machine.vcpus import VcpuHost
from vmd.qapi import compiled as ev
from vmd.qapi.compiled import ACPIOSTInfo
from vmd.qapi.registry import EventSpec
from vmd.qapi.runtime import WireStruct

log = logging.getLogger(__name__)

EventSink = Callable[[EventSpec, WireStruct | None], None]


@dataclass(slots=True)
class PlugTimes:
    """Monotonic nanoseconds of one CPU's plug phases (0: not reached yet): the request, its
    vCPU thread started, the guest took it in (_OST 1/0), the vCPU confirmed it online."""

    requested: int
    thread_running: int = 0
    guest_notified: int = 0
    online: int = 0

    def since_request(self, moment: int) -> int:
        return moment - self.requested if moment else 0


@dataclass(slots=True)
class UnplugTimes:
    """The last completed unplug: device_del, the guest's eject (thread joined), DEVICE_DELETED."""

    requested: int
    ejected: int = 0
    deleted: int = 0


@dataclass(slots=True)
class HotplugRecord:
    plugs: dict[int, PlugTimes] = field(default_factory=dict)  # by slot, the latest plug
    unplug_requests: dict[int, int] = field(default_factory=dict)  # by slot, pending requests
    last_unplug: UnplugTimes | None = None
    hot_adds: int = 0
    unplugs: int = 0


class CpuHotplug:
    def __init__(
        self,
        *,
        board: Board,
        topology: Topology,
        cpu_type: str,
        qom: QomTree,
        vcpus: VcpuHost,
        guest: GuestOs,
        emit: EventSink,
        boot_cpus: int,
        slot_nodes: tuple[int, ...] | None = None,
        on_guest_shutdown: Callable[[], None] = lambda: None,
    ) -> None:
        self.board = board
        self.topology = topology
        self.cpu_type = cpu_type
        self.slots = CpuSlots(topology, cpu_type, slot_nodes)
        self.slot_nodes = slot_nodes
        self.qom = qom
        self.vcpus = vcpus
        self.guest = guest
        self._emit = emit
        self.boot_cpus = boot_cpus
        self.guest_shutdown = on_guest_shutdown  # the guest powered itself off
        self.record = HotplugRecord()
        self.objects: dict[int, CpuObject] = {}
        # Ejected CPUs whose threads are still being joined: their slots are not free yet.
        self._releases: dict[int, asyncio.Task[None]] = {}
        self._target = CpuPlugTarget.for_board(board, topology, cpu_type=cpu_type, slot_nodes=slot_nodes)
        self._anon_count = 0
        self.acpi = AcpiCpuHotplug(
            len(self.slots),
            cpu_type=cpu_type,
            occupant_id=self._occupant_id,
            on_sci=guest.sci,
            on_ost=self._emit_ost,
            on_eject=lambda index: None,  # the guest awaits eject() itself
        )
        guest.attach(self)
        self._add_acpi_device()

    # -- GuestMachine ------------------------------------------------------------------------

    def present_cpus(self) -> list[int]:
        return list(self.slots.devices)

    def set_cpu_online_bit(self, index: int, online: bool) -> None:
        if not self.vcpus.custom_image:
            fw.set_online(self.vcpus.ram, index, online)

    def wake_cpu(self, index: int) -> None:
        if index in self.slots.devices:
            self.vcpus.engine.post_interrupt(index, fw.IRQ_WAKE)

    def cpu_online_confirmed(self, index: int) -> None:
        times = self.record.plugs.get(index)
        if times is not None and not times.online:
            times.online = time.monotonic_ns()

    def unplug_refused(self, index: int) -> None:
        self.record.unplug_requests.pop(index, None)
        device = self.slots.devices.get(index)
        if device is not None:
            obj = self.objects[index]
            self._emit(
                ev.DEVICE_UNPLUG_GUEST_ERROR,
                ev.DeviceUnplugGuestErrorData(device=obj.device_id, path=device.qom_path),
            )

    def eject(self, index: int) -> asyncio.Task[None] | None:
        """The guest wrote eject (on the loop): the CPU leaves every view now, while its thread is
        still alive; the returned release stops and joins the thread, parks its context and sends
        DEVICE_DELETED.  None when there is nothing to eject (QEMU ignores an eject of the boot CPU
        or of an empty slot)."""
        if index == 0 or index not in self.slots.devices:
            return None
        requested = self.record.unplug_requests.pop(index, time.monotonic_ns())
        device = self.slots.remove(index)
        obj = self.objects.pop(index)
        parent = obj.parent
        assert parent is not None
        parent.remove_child(obj.name)
        self.acpi.cpu_gone(index)
        self.guest.cpu_gone(index)
        self.record.plugs.pop(index, None)
        self.vcpus.request_unplug(index)
        release = asyncio.get_running_loop().create_task(
            self._release(index, device, obj.device_id, requested), name=f"cpu-release-{index}"
        )
        self._releases[index] = release
        release.add_done_callback(lambda _: self._released(index, release))
        return release

    def _released(self, index: int, release: asyncio.Task[None]) -> None:
        if self._releases.get(index) is release:
            del self._releases[index]
        if not release.cancelled() and release.exception() is not None:
            log.error("CPU %d: its release failed", index, exc_info=release.exception())

    async def _release(self, index: int, device: CpuDevice, device_id: str | None, requested: int) -> None:
        await self.vcpus.unplug(index)
        times = UnplugTimes(requested, ejected=time.monotonic_ns())
        self._emit(ev.DEVICE_DELETED, ev.DeviceDeletedData(path=f"{device.qom_path}/lapic"))
        self._emit(ev.DEVICE_DELETED, ev.DeviceDeletedData(device=device_id, path=device.qom_path))
        times.deleted = time.monotonic_ns()
        self.record.last_unplug = times
        self.record.unplugs += 1

    async def releases_done(self) -> None:
        """Wait until every ejected CPU is fully released (a plug into its slot must wait for that,
        and a stop waits so that no unplug completes while the VM is paused)."""
        while self._releases:
            await asyncio.wait(list(self._releases.values()))

    # -- plug ----------------------------------------------------------------------------------

    def device_add(
        self,
        arguments: Mapping[str, object],
        *,
        hotplug: bool,
        source: ArgumentSource = ArgumentSource.QMP,
        legacy_cpu_add: bool = False,
    ) -> CpuDevice:
        """device_add / -device / cpu-add of a CPU: QEMU 7.2's checks in its order, then the plug."""
        peripheral = self.qom.machine.children["peripheral"]
        request = parse_cpu_device(arguments, self._target, existing_ids=peripheral.children, source=source)
        anon_name = None
        if request.device_id is None and not legacy_cpu_add:
            # QEMU numbers anonymous devices with a counter that every created object uses up.
            anon_name = f"device[{self._anon_count}]"
            self._anon_count += 1
        resolved = resolve_cpu_slot(request, self._target, occupied=self.slots.devices)
        if legacy_cpu_add:
            container, name = self.qom.machine.children["unattached"], None
        elif resolved.device_id is not None:
            container, name = peripheral, resolved.device_id
        else:
            container, name = self.qom.machine.children["peripheral-anon"], anon_name
        return self._realize(
            resolved.index,
            container,
            name or _free_name(container),
            resolved.device_id,
            hotplugged=hotplug,
            hotplug=hotplug,
            node_id=-1 if resolved.node_id is None else resolved.node_id,
            start_powered_off=resolved.start_powered_off,
        )

    def create_boot_cpus(self) -> None:
        for index in range(self.boot_cpus):
            path = boot_cpu_qom_path(index)
            unattached = self.qom.machine.children["unattached"]
            # As for any CPU, QEMU fills node-id in from the slot when NUMA is configured.
            node = -1 if self.slot_nodes is None else self.slot_nodes[index]
            self._realize(
                index, unattached, path.rsplit("/", 1)[1], None, hotplugged=False, hotplug=False, node_id=node
            )

    def _realize(
        self,
        index: int,
        container: QomObject,
        name: str,
        device_id: str | None,
        *,
        hotplugged: bool,
        hotplug: bool,
        node_id: int = -1,
        start_powered_off: bool = False,
    ) -> CpuDevice:
        requested = time.monotonic_ns()
        ids: CpuIds = self.topology.ids(index)
        obj = CpuObject(
            self.cpu_type,
            ids=ids,
            apic_id=self.topology.apic_id(index),
            node_id=node_id,
            device_id=device_id,
            hotplugged=hotplugged,
            start_powered_off=start_powered_off,
        )
        # A CPU present at boot is onlined by the boot (up to maxcpus); a hot-added one waits for
        # the guest's decision.  The thread first: if it cannot start, nothing else has changed.
        self.vcpus.plug(index, online=not hotplug and self.guest.boot_plan(index))
        container.add_child(name, obj)
        device = CpuDevice(index, obj.path())
        self.slots.add(device)
        self.objects[index] = obj
        self.acpi.cpu_plugged(index, hotplug=hotplug)
        if hotplug:  # boot and -device CPUs are not hot-added: no phases to time
            self.record.plugs[index] = PlugTimes(requested, thread_running=time.monotonic_ns())
            self.record.hot_adds += 1
        return device

    # -- unplug --------------------------------------------------------------------------------

    def device_del(self, name: str) -> None:
        """device_del of a CPU: the lookup and checks of QEMU 7.2, then the ACPI eject request."""
        obj = self._find_device(name)
        if not isinstance(obj, CpuObject):
            raise GenericError(f"Device '{obj.type_name}' does not support hotplugging")
        index = next(i for i, o in self.objects.items() if o is obj)
        if index == 0:
            raise GenericError("Boot CPU is unpluggable")
        self.acpi.request_unplug(index)
        self.record.unplug_requests.setdefault(index, time.monotonic_ns())

    def _find_device(self, name: str) -> QomObject:
        # QEMU resolves the id under /machine/peripheral, or as an absolute path.
        obj: QomObject | None
        if name.startswith("/"):
            try:
                obj = self.qom.resolve(name)
            except DeviceNotFound:
                obj = None
        else:
            obj = self.qom.machine.children["peripheral"]
            for part in name.split("/"):
                obj = obj.children.get(part) if obj is not None else None
        if obj is None:
            raise DeviceNotFound(f"Device '{name}' not found")
        if obj.type_name in ("container", "") or obj is self.qom.machine:
            raise GenericError(f"{name} is not a hotpluggable device")
        return obj

    # -- internals -----------------------------------------------------------------------------

    def _occupant_id(self, index: int) -> str | None:
        obj = self.objects.get(index)
        return None if obj is None else obj.device_id

    def _emit_ost(self, info: ACPIOSTInfo) -> None:
        if info.source == OST_DEVICE_CHECK:  # the guest has taken the new CPU in
            times = self.record.plugs.get(int(info.slot))
            if times is not None and not times.guest_notified:
                times.guest_notified = time.monotonic_ns()
        self._emit(ev.ACPI_DEVICE_OST, ev.AcpiDeviceOstData(info=info))

    def _add_acpi_device(self) -> None:
        """The ICH9-LPC (q35) or PIIX4_PM (pc) object, where QEMU 7.2 puts it with -nodefaults, and
        its cpu-hotplug-legacy switch."""
        q35 = self.board.name.startswith("pc-q35")
        if not self.board.hotpluggable_cpus:
            return
        index = self.boot_cpus + 1 if q35 else self.boot_cpus + 17
        obj = DeviceObject("ICH9-LPC" if q35 else "PIIX4_PM")
        obj.add_property(
            QomProperty("cpu-hotplug-legacy", "bool", get=lambda: self.acpi.legacy, set=self._set_legacy)
        )
        self.qom.machine.children["unattached"].add_child(f"device[{index}]", obj)

    def _set_legacy(self, value: object) -> None:
        if not isinstance(value, bool):
            raise GenericError("Invalid parameter type for 'value', expected: boolean")
        if value and not self.acpi.legacy:
            # QEMU 7.2 aborts here (assertion); refusing keeps the VM.
            raise GenericError("The CPU hotplug interface cannot go back to legacy mode")
        if not value:
            self.acpi.switch_to_modern()


def _free_name(container: QomObject) -> str:
    """QEMU's "device[*]": the lowest free index."""
    n = 0
    while f"device[{n}]" in container.properties:
        n += 1
    return f"device[{n}]"
