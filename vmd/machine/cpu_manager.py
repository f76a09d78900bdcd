"""The CPU manager: plug a slot, request its unplug, eject it, and know when either ended.

Board-neutral.  What a CPU is (its QOM object, where a boot CPU goes, what an unplug removes) is
the board's `BoardCpus`; how the guest hears of it is the board's `HotplugController`; which slot a
device_add names is the board's `PlugTarget`.  The typed API (`plug`, `request_unplug`,
`wait_unplugged`) is what device_add, -device, cpu-add and, above them, resize jobs use; nothing
here builds or reads QMP dictionaries except `device_add`'s arguments, which are qdev's.

Plug: the slot's vCPU threads start (their parked contexts reused), its object enters the QOM
tree and the slot table, and the controller announces a hot-add.  Unplug: device_del only asks
(the controller's request); the guest answers.  When it ejects, the CPU leaves every view in one
step on the loop (slot table, QOM, the guest's lists, query-cpus-fast) while its threads are still
alive, so no answer ever names a thread that has exited; then the threads are stopped and joined,
their contexts parked, and DEVICE_DELETED is sent for the board's children and then for the device
itself (the event QEMU 7.2 under TCG never sends for a CPU).  That release is the machine's own
work: nothing the guest does afterwards (a reset cancelling its tasks) can leave it half done.
Every phase is timed.  Everything runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import field
from enum import Enum
from typing import Protocol

from vmd.errors import DeviceNotFound, GenericError
from vmd.firmware import standard as fw
from vmd.machine.board import Board, BoardCpus, MachineDevices, MachineParts
from vmd.machine.cpu_qom import CpuObject
from vmd.machine.qdev.opts import ArgumentSource, parse_device_request
from vmd.machine.qdev.target import PlugTarget, resolve_slot
from vmd.machine.qom import BusObject, DeviceObject, QomObject, QomTree
from vmd.machine.slots import CpuDevice, SlotTable
from vmd.machine.vcpus import VcpuHost
from vmd.qapi import compiled as ev
from vmd.qapi.compiled import __COM_VMD_GUEST_CPU_STATE as GUEST_CPU_STATE
from vmd.qapi.registry import EventSink
from vmd.records import dataclass

log = logging.getLogger(__name__)


class GuestLink(Protocol):
    """What the manager tells the guest model directly (the rest goes through the controller)."""

    def boot_plan(self, cpu_index: int) -> bool:
        """Whether a vCPU present at boot is brought online (the guest's maxcpus=)."""

    def cpu_gone(self, cpu_index: int) -> None: ...


@dataclass(slots=True)
class PlugTimes:
    """Monotonic nanoseconds of one slot's plug phases (0: not reached yet): the request, its
    vCPU threads started, the guest took it in, every vCPU of it confirmed online."""

    requested: int
    thread_running: int = 0
    guest_notified: int = 0
    online: int = 0
    waiting: set[int] = field(default_factory=set)  # vCPUs not confirmed online yet

    def since_request(self, moment: int) -> int:
        return moment - self.requested if moment else 0


@dataclass(slots=True)
class UnplugTimes:
    """The last completed unplug: device_del, the guest's eject (threads joined), DEVICE_DELETED."""

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


class SlotChange(Enum):
    """What a watcher of the CPU slots hears (see `CpuManager.watch`)."""

    PLUGGED = "plugged"  # a CPU was realized in the slot
    ONLINE = "online"  # one of the slot's vCPUs went online in the guest (confirmed)
    OFFLINE = "offline"  # one went offline
    REFUSED = "refused"  # the guest refused the slot's unplug
    EJECTED = "ejected"  # the guest ejected it: it left every view
    RELEASED = "released"  # its threads are joined and DEVICE_DELETED sent: the slot is free


# Hears every change of the slots: (what happened, the slot).  Called on the loop, synchronously,
# after the change (a watcher must not plug or unplug from inside the call).
SlotWatcher = Callable[[SlotChange, int], None]


class CpuManager:
    def __init__(
        self,
        *,
        board: Board,
        slots: SlotTable,
        cpu_type: str,
        qom: QomTree,
        vcpus: VcpuHost,
        guest: GuestLink,
        emit: EventSink,
        boot_cpus: int,
    ) -> None:
        self.board = board
        self.slots = slots
        self.layout = slots.layout
        self.cpu_type = cpu_type
        self.qom = qom
        self.vcpus = vcpus
        self.guest = guest
        self._emit = emit
        self.boot_cpus = boot_cpus
        self.record = HotplugRecord()
        # Two plugs' worth of started threads: back-to-back plugs of pseries cores of 8 threads
        # would otherwise find the pool half refilled and wait for new threads to run.
        self.vcpus.spares = max(self.vcpus.spares, 2 * slots.layout.vcpus_per_slot)
        self.objects: dict[int, CpuObject] = {}  # by slot
        # Ejected CPUs whose threads are still being joined: their slots are not free yet.
        self._releases: dict[int, asyncio.Task[None]] = {}
        self._unplug_waiters: dict[int, list[asyncio.Future[bool]]] = {}
        self._anon_count = 0
        self._boot_cpus_created = False
        # The vCPUs the guest has confirmed online, as this manager heard it (the reports the guest
        # model forwards): the guest-online events are sent on its transitions.
        self.guest_online: set[int] = set()
        self._watchers: list[SlotWatcher] = []
        # vCPUs whose online bit the guest changed and whose answer it has not had: the state it
        # asked for.  Their wake-up is hastened (VcpuHost.hasten) until the answer arrives.
        self._awaited: dict[int, bool] = {}
        self.target: PlugTarget = board.plug_target(cpu_type, slots.layout, slots.slot_nodes)
        devices: MachineDevices = board.realize(
            MachineParts(
                qom=qom,
                slots=slots,
                cpu_type=cpu_type,
                boot_cpus=boot_cpus,
                emit=emit,
                occupant_id=self._occupant_id,
                on_taken=self._guest_took,
                release=self.eject,
                refused=self.unplug_refused,
            )
        )
        self.cpus: BoardCpus = devices.cpus
        self.controller = devices.controller

    # -- what the guest reaches (vmd.guest's GuestMachine) ---------------------------------------

    def present_cpus(self) -> list[int]:
        """The cpu-indexes of the present vCPUs, in creation order."""
        return [index for device in self.slots.devices.values() for index in device.vcpus]

    def slot_vcpus(self, slot: int) -> range:
        return self.layout.vcpus(slot)

    def slot_of(self, cpu_index: int) -> int:
        return self.layout.slot_of(cpu_index)

    def set_cpu_online_bit(self, index: int, online: bool) -> None:
        if not self.vcpus.custom_image:  # a -bios image of one's own reads no bitmap, answers nothing
            fw.set_online(self.vcpus.ram, index, online)
            self._awaited[index] = online

    def set_work(self, enabled: bool) -> None:
        """Whether the firmware's online CPUs work or rest (the guest's load)."""
        if not self.vcpus.custom_image:
            fw.set_work(self.vcpus.ram, enabled)

    def wake_cpu(self, index: int) -> None:
        if self.layout.slot_of(index) in self.slots.devices:
            if index in self._awaited:  # the guest waits for this wake-up's answer
                self.vcpus.hasten(index)
            self.vcpus.engine.post_interrupt(index, fw.IRQ_WAKE)

    def cpu_online_confirmed(self, index: int) -> None:
        self._answered(index, True)
        self.cpus.vcpu_running(index, True)
        times = self.record.plugs.get(self.layout.slot_of(index))
        if times is not None and not times.online:
            times.waiting.discard(index)
            if not times.waiting:
                times.online = time.monotonic_ns()
        self._guest_cpu_state(index, True)

    def cpu_offline_confirmed(self, index: int) -> None:
        self._answered(index, False)
        self.cpus.vcpu_running(index, False)
        self._guest_cpu_state(index, False)

    def reset(self) -> None:
        """The machine reset (the vCPUs restart; the board's CPU state goes back to its own); an
        unplug the controller completes at a reset (PAPR's pending ones) releases its CPU.  The
        rebooting guest has no CPU online until each comes up again: each says so."""
        self.cpus.reset()
        for index in sorted(self.guest_online):
            self._guest_cpu_state(index, False)
        self.complete_unplugs_at_reset()

    def complete_unplugs_at_reset(self) -> list[asyncio.Task[None]]:
        """Release the CPUs whose pending unplug a reset completes; their releases (to await for
        DEVICE_DELETED before RESET, as QEMU sends them)."""
        if self.controller is None:
            return []
        releases = []
        for slot in self.controller.reset():
            release = self.eject(slot)
            if release is not None:
                releases.append(release)
        return releases

    def unplug_refused(self, slot: int) -> None:
        self.record.unplug_requests.pop(slot, None)
        device = self.slots.devices.get(slot)
        log.info("CPU in slot %d: the guest refused the unplug (DEVICE_UNPLUG_GUEST_ERROR)", slot)
        if device is not None:
            obj = self.objects[slot]
            self._emit(
                ev.DEVICE_UNPLUG_GUEST_ERROR,
                ev.DeviceUnplugGuestErrorData(device=obj.device_id, path=device.qom_path),
            )
        self._settle_waiters(slot, False)
        self._notify(SlotChange.REFUSED, slot)

    def eject(self, slot: int) -> asyncio.Task[None] | None:
        """The guest ejected `slot` (on the loop): the CPU leaves every view now, while its threads
        are still alive; the returned release stops and joins them, parks their contexts and sends
        DEVICE_DELETED.  None when there is nothing to eject (QEMU ignores an eject of the boot CPU
        or of an empty slot)."""
        if slot == 0 or slot not in self.slots.devices:
            return None
        requested = self.record.unplug_requests.pop(slot, time.monotonic_ns())
        device = self.slots.remove(slot)
        log.info("CPU %s ejected by the guest: leaving every view, its threads stop", device.qom_path)
        obj = self.objects.pop(slot)
        parent = obj.parent
        assert parent is not None
        parent.remove_child(obj.name)
        if self.controller is not None:
            self.controller.gone(slot)
        for index in device.vcpus:
            self.guest.cpu_gone(index)
            self.guest_online.discard(index)  # offline before an eject: no event is owed
            self._awaited.pop(index, None)
            self.vcpus.relax(index, leaving=True)
            self.vcpus.request_unplug(index)
        self.record.plugs.pop(slot, None)
        release = asyncio.get_running_loop().create_task(
            self._release(device, obj.device_id, requested), name=f"cpu-release-{slot}"
        )
        self._releases[slot] = release
        release.add_done_callback(lambda _: self._released(slot, release))
        self._notify(SlotChange.EJECTED, slot)
        return release

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
        request = parse_device_request(
            arguments, self.target, existing_ids=peripheral.children, source=source
        )
        anon_name = None
        if request.device_id is None and not legacy_cpu_add:
            # QEMU numbers anonymous devices with a counter that every created object uses up.
            anon_name = f"device[{self._anon_count}]"
            self._anon_count += 1
        resolved = resolve_slot(request, self.target, occupied=self.slots.devices)
        if legacy_cpu_add:
            container, name = self.qom.machine.children["unattached"], None
        elif resolved.device_id is not None:
            container, name = peripheral, resolved.device_id
        else:
            container, name = self.qom.machine.children["peripheral-anon"], anon_name
        return self.plug(
            resolved.slot,
            container,
            name or _free_name(container),
            device_id=resolved.device_id,
            hotplug=hotplug,
            node_id=-1 if resolved.node_id is None else resolved.node_id,
            start_powered_off=resolved.start_powered_off,
            driver=resolved.driver,
        )

    def legacy_cpu_add(self, index: int) -> CpuDevice:
        """cpu-add: the board turns the index into device_add arguments."""
        arguments = self.board.legacy_cpu_add(index, self.layout, self.cpu_type)
        return self.device_add(arguments, hotplug=True, legacy_cpu_add=True)

    def create_boot_cpus(self) -> None:
        if self.board.precreate_vcpus:
            # Every possible vCPU exists from boot, the absent ones parked (ARM virt's hotplug).
            self.vcpus.precreate(self.slots.possible_vcpus)
        for slot in range(self.boot_cpus):
            container, name = self.cpus.boot_place(slot)
            # As for any CPU, QEMU fills node-id in from the slot when NUMA is configured.
            node = self.slots.node(slot)
            self.plug(
                slot,
                container,
                name,
                device_id=None,
                hotplug=False,
                node_id=-1 if node is None else node,
                start_powered_off=self.cpus.boot_powered_off,
            )
        self._boot_cpus_created = True
        self.vcpus.keep_spares()

    def plug(
        self,
        slot: int,
        container: QomObject,
        name: str,
        *,
        device_id: str | None,
        hotplug: bool,
        node_id: int = -1,
        start_powered_off: bool = False,
        driver: str | None = None,
    ) -> CpuDevice:
        """Realize a CPU of type `driver` (the machine's CPU type if None) in free slot `slot`, under
        `container` as `name`: its vCPU threads start, then it enters the QOM tree and the slot
        table, and a hot-add is announced to the guest."""
        requested = time.monotonic_ns()
        obj = self.cpus.create(
            slot,
            driver=self.cpu_type if driver is None else driver,
            node_id=node_id,
            device_id=device_id,
            hotplugged=hotplug,
            start_powered_off=start_powered_off,
        )
        vcpus = self.layout.vcpus(slot)
        # A CPU present at boot is onlined by the boot (up to maxcpus); a hot-added one waits for
        # the guest's decision.  The threads first: if one cannot start, the model is unchanged.
        self.vcpus.plug_many(vcpus, [not hotplug and self.guest.boot_plan(index) for index in vcpus])
        container.add_child(name, obj)
        path = obj.path()
        device = CpuDevice(slot, vcpus, path, self.cpus.vcpu_paths(path, slot))
        # A hot-plug is news; the boot CPUs (thousands, with x-vmd-max-cpus) are only detail.
        log.log(
            logging.INFO if hotplug else logging.DEBUG,
            "CPU %s %s in slot %d (vCPUs %s)",
            path,
            "hot-plugged" if hotplug else "created",
            slot,
            ",".join(map(str, vcpus)),
        )
        self.slots.add(device)
        self.objects[slot] = obj
        if self.controller is not None:
            self.controller.plugged(slot, hotplug=hotplug)
        if self._boot_cpus_created:  # the boot CPUs set the spares once, when all are there
            self.vcpus.keep_spares()
        if hotplug:  # boot and -device CPUs are not hot-added: no phases to time
            self.record.plugs[slot] = PlugTimes(requested, time.monotonic_ns(), waiting=set(vcpus))
            self.record.hot_adds += 1
        self._notify(SlotChange.PLUGGED, slot)
        return device

    def plug_slot(self, slot: int) -> CpuDevice:
        """Hot-plug the machine's CPU type into `slot` as an anonymous device_add of the slot's
        address would: the same checks, QOM path, events and guest notification."""
        arguments: dict[str, object] = {"driver": self.layout.cpu_type}  # the slot type (pseries: a core)
        arguments.update(self.slots.props(slot).to_wire())
        return self.device_add(arguments, hotplug=True)

    def releasing(self, slot: int) -> bool:
        """Whether the slot's ejected CPU is still being released (the slot is not free yet)."""
        return slot in self._releases

    def unplug_pending(self, slot: int) -> bool:
        """Whether an unplug of the slot's CPU was requested and the guest has not answered yet
        (the CPU is still present)."""
        return slot in self.record.unplug_requests and slot in self.slots.devices

    def check_unplug(self, slot: int) -> None:
        """The board's refusal of an unplug of `slot`, without asking the guest anything."""
        self.cpus.check_unplug(slot)
        if self.controller is None:
            raise GenericError("Not supported")

    def watch(self, watcher: SlotWatcher) -> Callable[[], None]:
        """Hear every change of the slots until the returned function is called."""
        self._watchers.append(watcher)
        return lambda: self._watchers.remove(watcher) if watcher in self._watchers else None

    # -- unplug --------------------------------------------------------------------------------

    def device_del(self, name: str) -> asyncio.Task[None] | None:
        """device_del of a CPU: the lookup and checks of QEMU 7.2 (qdev_unplug), then the board's
        request.  Returns the release when the controller released the CPU at once (its
        DEVICE_DELETED belong before the reply)."""
        obj = self._find_device(name)
        if isinstance(obj, DeviceObject) and obj.bus is not None:
            raise GenericError(f"Bus '{obj.bus}' does not support hotplugging")
        if not isinstance(obj, CpuObject):
            # QEMU says so of a device that is not hotpluggable; of one with no hotplug handler
            # (s390-ipl, s390-tod), QEMU 7.2 aborts: vmd says the same here.
            raise GenericError(f"Device '{obj.type_name}' does not support hotplugging")
        slot = next(slot for slot, o in self.objects.items() if o is obj)
        self.request_unplug(slot)
        return self._releases.get(slot)

    def request_unplug(self, slot: int) -> None:
        """Ask the guest to give up the CPU in `slot`; `wait_unplugged` tells how it ended."""
        self.cpus.check_unplug(slot)
        if self.controller is None:
            raise GenericError("Not supported")
        self.controller.request_unplug(slot)
        log.info("CPU in slot %d: unplug requested, the guest is asked to eject it", slot)
        self.record.unplug_requests.setdefault(slot, time.monotonic_ns())

    def wait_unplugged(self, slot: int) -> asyncio.Future[bool]:
        """Resolves once the unplug of `slot` ended: True when the CPU is gone (after its
        DEVICE_DELETED), False when the guest refused.  A guest that ignores the request never
        resolves it: bound the wait."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if slot not in self.slots.devices and slot not in self._releases:
            future.set_result(True)
        else:
            self._unplug_waiters.setdefault(slot, []).append(future)
        return future

    async def releases_done(self) -> None:
        """Wait until every ejected CPU is fully released (a plug into its slot must wait for that,
        and a stop waits so that no unplug completes while the VM is paused)."""
        while self._releases:
            await asyncio.wait(list(self._releases.values()))

    # -- internals -----------------------------------------------------------------------------

    async def _release(self, device: CpuDevice, device_id: str | None, requested: int) -> None:
        for index in device.vcpus:
            await self.vcpus.unplug(index)
        self.vcpus.keep_spares()
        times = UnplugTimes(requested, ejected=time.monotonic_ns())
        for child in self.cpus.deleted_children(device.qom_path):
            self._emit(ev.DEVICE_DELETED, ev.DeviceDeletedData(path=child))
        self._emit(ev.DEVICE_DELETED, ev.DeviceDeletedData(device=device_id, path=device.qom_path))
        log.info("CPU %s deleted (DEVICE_DELETED sent)", device.qom_path)
        times.deleted = time.monotonic_ns()
        self.record.last_unplug = times
        self.record.unplugs += 1
        self._settle_waiters(device.slot, True)

    def _released(self, slot: int, release: asyncio.Task[None]) -> None:
        if self._releases.get(slot) is release:
            del self._releases[slot]
            self._notify(SlotChange.RELEASED, slot)  # the slot is free from now on
        if not release.cancelled() and release.exception() is not None:
            log.error("CPU in slot %d: its release failed", slot, exc_info=release.exception())

    def _answered(self, index: int, online: bool) -> None:
        """A vCPU reported its state: if that is what the guest asked of it, it needs no haste
        any more (a report of the other state is an older one, still on its way)."""
        if self._awaited.get(index) is online:
            del self._awaited[index]
            self.vcpus.relax(index)

    def _notify(self, change: SlotChange, slot: int) -> None:
        for watcher in list(self._watchers):
            watcher(change, slot)

    def _guest_cpu_state(self, index: int, online: bool) -> None:
        """The guest's view of a vCPU changed (or was reported again: then nothing is sent)."""
        if (index in self.guest_online) == online:
            return
        slot = self.layout.slot_of(index)
        device = self.slots.devices.get(slot)
        if online:
            if device is None:  # the last words of a CPU leaving: not the guest's any more
                return
            self.guest_online.add(index)
        else:
            self.guest_online.discard(index)
        path = "" if device is None else device.vcpu_paths[device.vcpus.index(index)]
        self._emit(GUEST_CPU_STATE, ev.GuestCpuStateData(cpu_index=index, qom_path=path, online=online))
        self._notify(SlotChange.ONLINE if online else SlotChange.OFFLINE, slot)

    def _settle_waiters(self, slot: int, gone: bool) -> None:
        for future in self._unplug_waiters.pop(slot, ()):
            if not future.done():
                future.set_result(gone)

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
                obj = obj.get_child(part) if obj is not None else None
        if obj is None:
            raise DeviceNotFound(f"Device '{name}' not found")
        if obj.type_name in ("container", "") or obj is self.qom.machine or isinstance(obj, BusObject):
            raise GenericError(f"{name} is not a hotpluggable device")
        return obj

    def _occupant_id(self, slot: int) -> str | None:
        obj = self.objects.get(slot)
        return None if obj is None else obj.device_id

    def _guest_took(self, slot: int) -> None:
        times = self.record.plugs.get(slot)
        if times is not None and not times.guest_notified:
            times.guest_notified = time.monotonic_ns()


def _free_name(container: QomObject) -> str:
    """QEMU's "device[*]": the lowest free index."""
    n = 0
    while f"device[{n}]" in container.properties:
        n += 1
    return f"device[{n}]"
