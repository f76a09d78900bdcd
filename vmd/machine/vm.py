"""The virtual machine as the monitor sees it: identity, run state, and the requests that change it.

This is the model, not the protocol: it raises `QmpError`s for requests QEMU
refuses, and reports what happened through an `EventSink`, but never sees JSON.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from vmd.errors import GenericError, StartupError
from vmd.machine.board import Board
from vmd.machine.cpu_manager import CpuManager, GuestLink
from vmd.machine.cpu_packages import create_packages
from vmd.machine.dump.job import IN_PROGRESS, DumpJob
from vmd.machine.jobs import JobTable
from vmd.machine.migration.manager import MigrationManager
from vmd.machine.migration.sections import Section, described
from vmd.machine.migration.state import MigratableDevice
from vmd.machine.migration.stream import Header
from vmd.machine.qom import QomTree
from vmd.machine.resize import VcpuResizer
from vmd.machine.runstate import RunStateMachine
from vmd.machine.slots import SlotTable
from vmd.machine.topology import Topology
from vmd.qapi import compiled as rs
from vmd.qapi.compiled import RunState, ShutdownCause
from vmd.qapi.registry import EventSink
from vmd.records import dataclass

if TYPE_CHECKING:
    from vmd.machine.vcpus import VcpuHost
    from vmd.vcpu import FaultInfo

log = logging.getLogger(__name__)

NIL_UUID = "00000000-0000-0000-0000-000000000000"
# The causes QEMU counts as the guest's own doing (the `guest` member of SHUTDOWN/RESET).
_GUEST_CAUSES = frozenset(
    {ShutdownCause.GUEST_SHUTDOWN, ShutdownCause.GUEST_RESET, ShutdownCause.GUEST_PANIC}
)


class GuestModel(GuestLink, Protocol):
    """What the VM tells the guest model (vmd.guest.os_model.GuestOs)."""

    @property
    def load_percent(self) -> int:
        """How busy the guest keeps its online CPUs (its load policy), for the statistics."""

    def set_running(self, running: bool) -> None: ...

    def migration_state(self) -> dict[str, Any]: ...

    def load_migration_state(self, state: dict[str, Any]) -> None: ...

    def reset(self) -> None: ...

    def power_button(self) -> None: ...

    async def close(self) -> None: ...


class ExitRequest(Protocol):
    """Asks the daemon to exit once the current reply has been written."""

    def __call__(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Identity:
    name: str | None = None
    uuid: str = NIL_UUID


class VirtualMachine:
    def __init__(
        self,
        identity: Identity,
        *,
        emit: EventSink,
        request_exit: ExitRequest,
        board: Board,
        topology: Topology,
        cpu_type: str,
        boot_cpus: int,
        guest: GuestModel,
        slot_nodes: tuple[int, ...] | None = None,
        start_paused: bool = False,
        no_shutdown: bool = False,
        no_reboot: bool = False,
        vcpus: VcpuHost,
        incoming: str | None = None,
    ) -> None:
        self.identity = identity
        self._emit = emit
        self._request_exit = request_exit
        self._start_paused = start_paused
        self._no_shutdown = no_shutdown
        self._no_reboot = no_reboot
        self.vcpus = vcpus
        self.board = board
        self.guest = guest
        self.runstate = RunStateMachine(RunState.PRELAUNCH)
        self.qom = QomTree(f"{board.name}-machine")
        self.slots = SlotTable(board.slot_layout(topology, cpu_type), slot_nodes)
        self.cpu_manager = CpuManager(
            board=board,
            slots=self.slots,
            cpu_type=cpu_type,
            qom=self.qom,
            vcpus=vcpus,
            guest=guest,
            emit=emit,
            boot_cpus=boot_cpus,
        )
        # Layer 2: a package per slot (/machine/cpu-packages), and resize jobs over them.
        create_packages(self.cpu_manager, self.qom.machine, board.hotpluggable_cpus)
        self.jobs = JobTable(emit)
        self.resizer = VcpuResizer(self.cpu_manager, self.jobs)
        self.migration = MigrationManager(self, incoming)
        self.dump = DumpJob(self)
        # Devices whose state migrates, by name (the daemon adds its serial ports).
        self.devices: dict[str, MigratableDevice] = {}
        # State with a versioned stream section of its own (the daemon adds the agent channel).
        self.sections: dict[str, Section] = {"resize-jobs": self.resizer}
        self.exit_status = 0
        # Set while the VM is (being) shut down for good: later requests must not restart it.
        self.exiting = False
        self._background: set[asyncio.Task[None]] = set()

    # -- start-up ---------------------------------------------------------------------------

    def create_boot_cpus(self) -> None:
        """Realize the boot CPUs: their vCPU threads start, stopped until the VM runs."""
        self.cpu_manager.create_boot_cpus()

    def launch(self) -> None:
        """Called once the monitors are bound: run the guest unless -S asked to wait for `cont`
        (or, with -incoming, wait in inmigrate for the stream: `-incoming URI` listens now)."""
        incoming = self.migration.incoming
        if incoming is not None:
            self.runstate.enter(RunState.INMIGRATE)
            if incoming != "defer":
                try:
                    self.migration.start_listening_from_cli()
                except GenericError as error:
                    raise StartupError(f"-incoming {incoming}: {error.desc}") from None
            return
        if not self._start_paused:
            self._start()

    @property
    def emit(self) -> EventSink:
        return self._emit

    # -- migration ----------------------------------------------------------------------------

    def migration_header(self, *, with_uuid: bool) -> Header:
        """What the two sides of a migration must agree on (vmd.machine.migration.stream)."""
        slots = []
        for slot in range(len(self.slots)):
            props = self.slots.props(slot).to_wire()
            slots.append(",".join(f"{key}={value}" for key, value in props.items()))
        present = tuple(
            (slot, self.cpu_manager.objects[slot].device_id) for slot in sorted(self.slots.devices)
        )
        return Header(
            board=self.board.name,
            target=self.board.target.value,
            ram_bytes=self.vcpus.ram.size_bytes,
            cpu_type=self.cpu_manager.cpu_type,
            slots=tuple(slots),
            present=present,
            uuid=self.identity.uuid if with_uuid else None,
            sections=described(self.sections),
        )

    async def stop_for_migration(self) -> None:
        """The switchover: finish-migrate, the vCPUs parked (STOP only if the guest ran)."""
        running = self.runstate.running
        self.runstate.enter(RunState.FINISH_MIGRATE)
        self.guest.set_running(False)
        await self.cpu_manager.releases_done()
        await self.vcpus.pause_all_promptly()
        if running:
            self._emit(rs.STOP, None)

    def resume_after_migration(self, prior: RunState) -> None:
        """The migration failed or was cancelled after the switchover began: back as before."""
        if self.runstate.state is not RunState.FINISH_MIGRATE:
            return
        if prior is RunState.RUNNING:
            self._start()
        else:
            self.runstate.enter(prior if self.runstate.can_enter(prior) else RunState.PAUSED)

    # -- dumps ---------------------------------------------------------------------------------

    async def pause_for_dump(self) -> None:
        """A running VM is paused while its memory is written (save-vm, as QEMU's dumps)."""
        await self._stop_into(RunState.SAVE_VM)

    def resume_after_dump(self) -> None:
        if self.runstate.state is RunState.SAVE_VM:
            self._start()

    def finish_outgoing_migration(self) -> None:
        self.runstate.enter(RunState.POSTMIGRATE)

    def finish_incoming_migration(self, prior: RunState) -> None:
        """The state is loaded: run if the source ran and nothing asked to stay paused (-S,
        `stop`), else pause; a source that never ran leaves this one in prelaunch."""
        if prior is RunState.PRELAUNCH:
            self.runstate.enter(RunState.PRELAUNCH)
        elif prior is RunState.RUNNING and not self._start_paused:
            self._start()
        else:
            self.runstate.enter(RunState.PAUSED)

    def fail_incoming_migration(self, message: str) -> None:
        """QEMU's target exits with status 1 when it cannot load the stream; so does vmd."""
        print(f"vmd: {message}", file=sys.stderr, flush=True)
        self.exit_status = 1
        self.exiting = True
        self._request_exit()

    # -- run state requests -----------------------------------------------------------------

    async def stop(self) -> None:
        if self.dump.active:
            raise GenericError(IN_PROGRESS)
        if self.runstate.state is RunState.INMIGRATE:
            self._start_paused = True  # QEMU: stop during incoming migration only cancels autostart
            return
        await self._stop_into(RunState.PAUSED)

    async def cont(self) -> None:
        if self.dump.active:
            raise GenericError(IN_PROGRESS)
        if self.runstate.needs_reset:
            raise GenericError("Resetting the Virtual Machine is required")
        if self.runstate.state is RunState.SUSPENDED:
            return
        if self.runstate.state is RunState.FINISH_MIGRATE:
            raise GenericError("Migration is not finalized yet")
        if self.runstate.state is RunState.INMIGRATE:
            self._start_paused = False
            return
        self._start()

    def reset(self, cause: ShutdownCause) -> None:
        if self._no_reboot and cause is not ShutdownCause.SUBSYSTEM_RESET:
            self.shutdown(cause)
            return
        self.vcpus.reset(self.cpu_manager.present_cpus())
        self.cpu_manager.reset()
        self.guest.reset()  # the guest reboots: it boots again when the VM next runs
        self._emit(rs.RESET, rs.ResetEventData(guest=cause in _GUEST_CAUSES, reason=cause))
        if self.runstate.state not in (RunState.RUNNING, RunState.INMIGRATE, RunState.FINISH_MIGRATE):
            self.runstate.enter(RunState.PRELAUNCH)
        else:
            self.guest.set_running(self.runstate.running)

    def guest_powered_off(self) -> None:
        """The guest powered itself off (it heard the power button, say)."""
        self.shutdown(ShutdownCause.GUEST_SHUTDOWN)

    def powerdown(self) -> None:
        """The ACPI power button: only a request; the guest decides whether to act on it."""
        self._emit(rs.POWERDOWN, None)
        self.guest.power_button()

    def shutdown(self, cause: ShutdownCause) -> None:
        """A shutdown request.  Host-initiated ones always exit; a guest's obeys -no-shutdown."""
        self._emit(rs.SHUTDOWN, rs.ShutdownEventData(guest=cause in _GUEST_CAUSES, reason=cause))
        host_initiated = cause in (
            ShutdownCause.HOST_QMP_QUIT,
            ShutdownCause.HOST_SIGNAL,
            ShutdownCause.HOST_UI,
        )
        if self._no_shutdown and not host_initiated:
            self._stop_now(RunState.SHUTDOWN)
            return
        self.exiting = True
        self._request_exit()

    def guest_fault(self, index: int, fault: FaultInfo) -> None:
        """A vCPU faulted (called on the loop): the VM stops in internal-error, as QEMU stops on
        an emulation failure; only a reset brings it back.  QMP keeps serving."""
        if not self.runstate.running:
            # Raced with a stop: the faulted vCPU stays stopped; the reset that a later
            # internal-error would need is not asked for, since the VM was not running.
            log.error("vCPU %d: %s (the VM was not running)", index, fault)
            return
        log.error("vCPU %d: %s: the VM stops in internal-error until reset", index, fault)
        self._in_background(self._stop_into(RunState.INTERNAL_ERROR))

    async def settle(self) -> None:
        """Wait for state changes still in flight (a stop after a fault), and end the guest's work."""
        if self._background:
            await asyncio.wait(list(self._background))
        await self.resizer.close()
        await self.guest.close()

    # -- internals --------------------------------------------------------------------------

    def _start(self) -> None:
        if self.runstate.running:
            return
        self._emit(rs.RESUME, None)
        self.runstate.enter(RunState.RUNNING)
        self.vcpus.resume_all()
        self.guest.set_running(True)

    async def _stop_into(self, state: RunState) -> None:
        if not self.runstate.running:
            return
        # Enter the new state before waiting, as QEMU does, so a concurrent query sees it at once.
        self.runstate.enter(state)
        self.guest.set_running(False)
        await self.cpu_manager.releases_done()  # an eject the guest made completes before STOP
        await self.vcpus.pause_all()
        self._emit(rs.STOP, None)

    def _stop_now(self, state: RunState) -> None:
        """A stop for paths that cannot wait (a guest shutdown): the state changes at once and the
        vCPUs are asked to park; STOP goes out once every one of them has parked, as after `stop`
        (a client that sees STOP must see the vCPUs' counters still)."""
        if not self.runstate.running:
            if self.runstate.can_enter(state):
                self.runstate.enter(state)
            return
        self.runstate.enter(state)
        self.guest.set_running(False)
        self.vcpus.request_pause_all()
        self._in_background(self._parked_then_stop())

    async def _parked_then_stop(self) -> None:
        await self.cpu_manager.releases_done()
        await self.vcpus.pause_all()
        self._emit(rs.STOP, None)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
