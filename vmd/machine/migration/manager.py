"""The VM's migration: one job at a time (outgoing or incoming), its status and statistics as
query-migrate shows them, its events, and the checks QEMU 7.2 makes of the commands.

Source: `migrate` checks, parses the URI and takes its fd synchronously (errors in QEMU's words;
URI errors emit `setup` and `failed` first and leave `failed` with `error-desc`), then the job
runs on the loop (vmd.machine.migration.outgoing).  Target: `-incoming URI` or `migrate-incoming`
listens or opens the channel; the job (vmd.machine.migration.incoming) loads the stream and
either hands the guest on or fails and makes the process exit with status 1, as QEMU does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from vmd.errors import GenericError
from vmd.machine.migration import uri as uris
from vmd.machine.migration.fds import FdStore
from vmd.machine.migration.incoming import run_incoming
from vmd.machine.migration.job import RUNNING_STATES, Job, now_ms
from vmd.machine.migration.outgoing import run_outgoing
from vmd.machine.migration.settings import MigrationSettings
from vmd.qapi import compiled as ev
from vmd.qapi.compiled import MigrationStatus as St
from vmd.qapi.compiled import RunState

if TYPE_CHECKING:
    from vmd.machine.vm import VirtualMachine

log = logging.getLogger(__name__)

DUMP_BLOCKS = "Live migration disabled: dump-guest-memory in progress"


class MigrationManager:
    def __init__(self, vm: VirtualMachine, incoming: str | None) -> None:
        self.vm = vm
        self.settings = MigrationSettings()
        self.fds = FdStore()
        self.incoming = incoming  # the -incoming option, None without it
        self.job: Job | None = None
        self.loading = False  # the target is reading a stream: hot-plugs are refused now

    # -- compatibility with the capabilities handlers ------------------------------------------

    def items(self) -> list[tuple[str, bool]]:
        return self.settings.items()

    def set(self, changes: Any) -> None:
        if self.active:
            raise GenericError("There's a migration process in progress")
        self.settings.set(changes)

    # -- state ---------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """An outgoing migration runs (setup to its end): what device_add and friends refuse."""
        return self.job is not None and self.job.outgoing and self.job.status in RUNNING_STATES

    def emit_status(self, job: Job, status: St) -> None:
        job.status = status
        log.info("migration (%s): %s", "out" if job.outgoing else "in", status.value)
        if self.settings.enabled("events"):
            self.vm.emit(ev.MIGRATION, ev.MigrationEventData(status=status))

    def emit_pass(self, job: Job) -> None:
        job.stats.passes += 1
        if self.settings.enabled("events"):
            self.vm.emit(ev.MIGRATION_PASS, ev.MigrationPassEventData(pass_=job.stats.passes))

    def query(self) -> ev.MigrationInfo:
        info = self._query()
        if self.vm.dump.active and (self.job is None or self.job.outgoing):
            # QEMU lists its migration blockers on the source side; a dump is one.
            info.blocked_reasons = [DUMP_BLOCKS]
        return info

    def _query(self) -> ev.MigrationInfo:
        job = self.job
        if job is None:
            return ev.MigrationInfo()
        if not job.outgoing:
            return self._query_incoming(job)
        s = job.stats
        status = job.status
        if status is St.SETUP:
            return ev.MigrationInfo(status=status)
        if status in (St.ACTIVE, St.PRE_SWITCHOVER, St.DEVICE, St.CANCELLING):
            return ev.MigrationInfo(
                status=status,
                expected_downtime=s.expected_downtime,
                setup_time=int(s.setup_done - s.start),
                total_time=int(now_ms() - s.start),
                ram=s.ram(),
            )
        if status is St.COMPLETED:
            return ev.MigrationInfo(
                status=status,
                setup_time=int(s.setup_done - s.start),
                # As QEMU counts it: from the stop to the last byte sent.  vmd then also waits for
                # the target's confirmation (the log gives both) before it says completed.
                downtime=int(s.sent - s.stopped),
                total_time=int(s.end - s.start),
                ram=s.ram(),
            )
        if status is St.FAILED:
            return ev.MigrationInfo(status=status, error_desc=job.error)
        return ev.MigrationInfo(status=status)  # cancelled: QEMU drops the statistics

    def _query_incoming(self, job: Job) -> ev.MigrationInfo:
        shown = None
        if job.socket_address is not None:
            shown = [_socket_address(job.socket_address)]
        if job.status is St.SETUP:
            return ev.MigrationInfo(socket_address=shown)  # QEMU shows no status yet
        return ev.MigrationInfo(status=job.status, socket_address=shown)

    # -- the source ------------------------------------------------------------------------------

    def migrate(self, uri: str, *, resume: bool) -> None:
        if resume:
            raise GenericError("Cannot resume if there is no paused migration")
        if self.active:
            raise GenericError("There's a migration process in progress")
        if self.vm.runstate.state is RunState.INMIGRATE:
            raise GenericError("Guest is waiting for an incoming migration")
        if self.vm.runstate.state is RunState.POSTMIGRATE:
            raise GenericError("Can't migrate the vm that was paused due to previous migration")
        if self.vm.dump.active:  # a migration blocker in QEMU, hence its wording
            raise GenericError(DUMP_BLOCKS)
        job = Job(outgoing=True)
        job.stats.start = now_ms()
        job.stats.total = self.vm.vcpus.ram.size_bytes
        job.stats.expected_downtime = self.settings.downtime_limit_ms  # QEMU's until a pass measured
        self.job = job
        self.emit_status(job, St.SETUP)
        try:
            address = uris.parse_outgoing(uri)
            fd = uris.claim_outgoing_fd(address, self.fds)
        except GenericError as error:
            # QEMU keeps the text for query-migrate, except for an unknown protocol.
            if not error.desc.endswith("expects a valid migration protocol"):
                job.error = error.desc
            self.emit_status(job, St.FAILED)
            raise
        job.task = asyncio.get_running_loop().create_task(
            run_outgoing(self, job, address, fd), name="migration-out"
        )

    def cancel(self) -> None:
        job = self.job
        if job is None or not job.outgoing or job.status not in RUNNING_STATES or job.status is St.CANCELLING:
            return  # QEMU: always {} (also on a target, where it does nothing)
        self.emit_status(job, St.CANCELLING)
        if job.task is not None:
            job.task.cancel()

    def continue_(self, state: St) -> None:
        job = self.job
        current = St.NONE if job is None else job.status
        if job is None or current is not St.PRE_SWITCHOVER or state is not current:
            raise GenericError(f"Migration not in expected state: {current.value}")
        job.resume.set()

    # -- the target ------------------------------------------------------------------------------

    def start_listening_from_cli(self) -> None:
        """-incoming URI (not defer): listen or open at start-up (errors end the start-up)."""
        assert self.incoming is not None
        assert self.incoming != "defer"
        self._start_incoming(self.incoming, from_cli=True)

    def migrate_incoming(self, uri: str) -> None:
        if self.incoming is None:
            raise GenericError("'-incoming' was not specified on the command line")
        if self.job is not None and not self.job.outgoing and self.job.status is not St.FAILED:
            raise GenericError("The incoming migration has already been started")
        self._start_incoming(uri, from_cli=False)

    def _start_incoming(self, uri: str, *, from_cli: bool) -> None:
        job = Job(outgoing=False)
        job.stats.start = now_ms()
        self.job = job
        if not from_cli:
            self.emit_status(job, St.SETUP)  # with -incoming URI nobody could see it
        try:
            address = uris.parse_incoming(uri)
            if isinstance(address, uris.Unix | uris.Inet):
                job.listener = uris.listen(address)
                job.socket_address = job.listener.shown
            else:
                job.channel = uris.open_incoming_fd(address, self.fds)
        except GenericError:
            self.job = None  # a new migrate-incoming may try again
            raise
        job.task = asyncio.get_running_loop().create_task(run_incoming(self, job), name="migration-in")

    async def close(self) -> None:
        """The daemon exits: stop a job still running, close what it holds."""
        job = self.job
        if job is not None and job.task is not None and not job.task.done():
            job.task.cancel()
            await asyncio.wait([job.task])
        if job is not None and job.listener is not None:
            job.listener.close()
        self.fds.close_all()


def _socket_address(shown: dict[str, Any]) -> ev.SocketAddress:
    if shown["type"] == "unix":
        return ev.SocketAddress(
            type=ev.SocketAddressType.UNIX, branch=ev.UnixSocketAddress(path=shown["path"])
        )
    inet = ev.InetSocketAddress(
        host=shown["host"], port=shown["port"], ipv4=shown.get("ipv4"), ipv6=shown.get("ipv6")
    )
    return ev.SocketAddress(type=ev.SocketAddressType.INET, branch=inet)
