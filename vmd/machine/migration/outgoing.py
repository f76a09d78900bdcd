"""The source's job: live RAM passes while the vCPUs run, then the switchover.

Pass 1 sends every page; each later pass sends the pages the vCPUs dirtied meanwhile (the C
engine's bitmap, taken per pass).  After a pass, what is dirty again is weighed against the
bandwidth the pass achieved: once it fits `downtime-limit` the vCPUs stop (`finish-migrate`),
the last dirty pages, the vCPU contexts and the devices' state go, and (over a socket) the job
waits for the target to confirm it loaded everything before it reports `completed` and parks the
VM in `postmigrate`.  Any failure, or `migrate_cancel`, gives the guest back: the source resumes
where it was.  `max-bandwidth` is read before each chunk, so a new value applies at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from vmd.errors import GenericError
from vmd.machine.migration import state as machine_state
from vmd.machine.migration import stream
from vmd.machine.migration import uri as uris
from vmd.machine.migration.channel import Channel, ChannelError
from vmd.machine.migration.job import Job, now_ms
from vmd.machine.migration.stream import Kind, StreamError
from vmd.qapi.compiled import MigrationStatus as St
from vmd.qapi.compiled import RunState
from vmd.vcpu import PageEncoder

if TYPE_CHECKING:
    from vmd.machine.migration.manager import MigrationManager

log = logging.getLogger(__name__)

CHUNK = 1 << 20
INLINE_PAGES = 1024  # 4 MiB at most: a millisecond or so of copying
WINDOW = 0.1  # seconds: QEMU's rate-limit period


class _Failed(Exception):
    pass


class _Pacer:
    """max-bandwidth: bytes sent are a debt paid off at the current limit (read anew every
    100 ms, QEMU's rate-limit period, so a changed max-bandwidth applies at once); one window's
    worth may be owed before sending waits."""

    def __init__(self, manager: MigrationManager) -> None:
        self._manager = manager
        self._debt = 0.0
        self._at = time.monotonic()

    def _pay(self) -> int:
        limit = self._manager.settings.max_bandwidth
        now = time.monotonic()
        self._debt = 0.0 if not limit else max(0.0, self._debt - (now - self._at) * limit)
        self._at = now
        return limit

    def window_bytes(self) -> int | None:
        """What one window may send at the current limit, if that is less than a whole chunk: a
        slow migration then sends (and counts off `remaining`) a little at a time, as QEMU does,
        instead of a chunk at once and then nothing for seconds."""
        limit = self._manager.settings.max_bandwidth
        most = int(limit * WINDOW)
        return most if limit and most < CHUNK else None

    async def spent(self, count: int) -> None:
        self._pay()
        self._debt += count
        while (limit := self._pay()) and self._debt > limit * WINDOW:  # noqa: ASYNC110 - a rate, no event
            await asyncio.sleep(WINDOW)


async def run_outgoing(manager: MigrationManager, job: Job, address: uris.Address, fd: int | None) -> None:
    vm = manager.vm
    stopped = False
    for part in vm.sections.values():
        part.outgoing_began()
    # The vCPU threads run at normal priority meanwhile, as QEMU's always do: the switchover
    # waits for each to acknowledge its pause (vmd.machine.vcpus.VcpuHost.normal_priority).
    normal_until = vm.vcpus.normal_priority()
    try:
        try:
            job.channel = channel = await uris.connect(address, fd)
        except GenericError as error:
            raise _Failed(error.desc) from None
        stopped = await _migrate(manager, job, channel)
    except asyncio.CancelledError:
        _give_back(manager, job.prior, stopped or vm.runstate.state is RunState.FINISH_MIGRATE)
        manager.emit_status(job, St.CANCELLED)
        raise
    except (_Failed, ChannelError, StreamError) as error:
        job.error = str(error) or None
        log.error("migration failed: %s", job.error)
        _give_back(manager, job.prior, stopped or vm.runstate.state is RunState.FINISH_MIGRATE)
        manager.emit_status(job, St.FAILED)
    finally:
        normal_until()
        if job.channel is not None:
            job.channel.close()


def _give_back(manager: MigrationManager, prior: RunState, stopped: bool) -> None:
    """The migration ended without the target taking over: the source goes on as it was."""
    for part in manager.vm.sections.values():
        part.outgoing_ended(completed=False)
    if stopped:
        manager.vm.resume_after_migration(prior)


async def _migrate(manager: MigrationManager, job: Job, channel: Channel) -> bool:
    vm = manager.vm
    s = job.stats
    ram = vm.vcpus.ram
    return_path = channel.is_socket
    header = vm.migration_header(with_uuid=manager.settings.enabled("validate-uuid"))
    await stream.send_preamble(channel)
    header_json = header.to_json() | {"return-path": return_path}
    await _send(channel, job, stream.json_record(Kind.HEADER, header_json))
    if return_path:
        kind, payload = await stream.read_record(channel)
        if kind is Kind.REFUSE:
            raise _Failed(f"the target refused the migration: {payload.decode(errors='replace')}")
        if kind is not Kind.ACCEPT:
            raise StreamError(f"unexpected answer {kind.name} from the target")
    encoder = PageEncoder(ram, CHUNK)
    encoder.mark_all()
    s.remaining_pages = ram.pages
    s.setup_done = now_ms()
    pacer = _Pacer(manager)
    manager.emit_pass(job)
    manager.emit_status(job, St.ACTIVE)
    while True:
        began = time.monotonic()
        sent = await _send_pages(channel, job, encoder, pacer)
        elapsed = max(time.monotonic() - began, 1e-6)
        dirty = ram.dirty_count()
        s.remaining_pages = dirty
        bandwidth = sent / elapsed  # bytes/s this pass achieved
        s.mbps = sent * 8 / 1e6 / elapsed
        s.dirty_pages_rate = int(dirty / elapsed)
        s.expected_downtime = int(dirty * stream_page_bytes() / bandwidth * 1000) if sent else 0
        if s.expected_downtime <= manager.settings.downtime_limit_ms:
            break
        s.remaining_pages = encoder.sync()
        await _send(channel, job, stream.record(Kind.PASS, b"\0\0\0\0") + b"\0\0\0\0")
        manager.emit_pass(job)
    # The switchover: stop the guest, then what it left dirty and its state.
    s.precopy_bytes = s.transferred
    # The run state to hand on is the one at the switchover (a `stop` during the passes counts);
    # the downtime starts with the stop request, as QEMU counts it.
    job.prior = prior = vm.runstate.state
    s.stopped = now_ms()
    await vm.stop_for_migration()
    parked = now_ms()
    if manager.settings.enabled("pause-before-switchover"):
        manager.emit_status(job, St.PRE_SWITCHOVER)
        await job.resume.wait()
        manager.emit_status(job, St.DEVICE)
    s.remaining_pages = encoder.sync()
    manager.emit_pass(job)
    await _send_pages(channel, job, encoder, None)
    s.remaining_pages = 0
    captured = machine_state.capture(vm, prior)
    await _send(channel, job, stream.json_record(Kind.STATE, captured))
    await _send(channel, job, stream.record(Kind.END))
    s.sent = now_ms()
    if return_path:
        kind, payload = await stream.read_record(channel)
        if kind is Kind.FAILED:
            raise _Failed(f"the target could not load the migration: {payload.decode(errors='replace')}")
        if kind is not Kind.DONE:
            raise StreamError(f"unexpected answer {kind.name} from the target")
    s.end = now_ms()
    s.downtime_bytes = s.transferred - s.precopy_bytes
    seconds = max((s.end - s.setup_done) / 1000, 1e-6)
    s.pages_per_second = int((s.normal + s.duplicate) / seconds)
    for part in vm.sections.values():
        part.outgoing_ended(completed=True)  # the target has them now
    vm.finish_outgoing_migration()
    manager.emit_status(job, St.COMPLETED)
    log.info(
        "migration completed: %d bytes in %d passes, %.0f ms; stopped %.1f ms until all was sent "
        "(%.1f ms until the vCPUs parked), then %.1f ms until the target confirmed",
        s.transferred, s.passes, s.end - s.start, s.sent - s.stopped, parked - s.stopped, s.end - s.sent,
    )  # fmt: skip
    return True


def stream_page_bytes() -> int:
    return 4096 + 8


async def _send(channel: Channel, job: Job, data: bytes) -> None:
    await channel.write(data)
    job.stats.transferred += len(data)


async def _send_pages(channel: Channel, job: Job, encoder: PageEncoder, pacer: _Pacer | None) -> int:
    """Every page the encoder's set still holds, in RAM records; the bytes sent."""
    sent = 0
    s = job.stats
    # A few pages (the last pass, with the guest stopped) are encoded right here: a worker
    # thread's hand-off would cost more than the copy, in the downtime.
    inline = s.remaining_pages <= INLINE_PAGES
    while True:
        zero, normal = encoder.counts.zero, encoder.counts.normal
        most = pacer.window_bytes() if pacer is not None else None
        chunk = encoder.next_chunk(most) if inline else await asyncio.to_thread(encoder.next_chunk, most)
        if chunk is None:
            return sent
        s.duplicate += encoder.counts.zero - zero
        s.normal += encoder.counts.normal - normal
        s.remaining_pages = max(
            0, s.remaining_pages - (encoder.counts.zero - zero + encoder.counts.normal - normal)
        )
        head = stream.record(Kind.RAM, chunk)
        await channel.write(head)
        await channel.write(chunk)
        count = len(head) + len(chunk)
        s.transferred += count
        sent += count
        if pacer is not None:
            await pacer.spent(count)
