"""The target's job: take the connection, check the header against this VM before anything
else, load RAM and the machine's state, and hand the guest on in the run state QEMU 7.2 would.

A mismatch or a broken stream is told to the source (over a socket) and makes this process exit
with status 1 after `MIGRATION failed`, as QEMU's target does; the reason goes to the log and to
stderr with `load of migration failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING

from vmd.machine.migration import state as machine_state
from vmd.machine.migration import stream
from vmd.machine.migration.channel import Channel, ChannelError
from vmd.machine.migration.job import Job
from vmd.machine.migration.stream import Header, Kind, StreamError
from vmd.qapi.compiled import MigrationStatus as St
from vmd.vcpu import PageDecoder

if TYPE_CHECKING:
    from vmd.machine.migration.manager import MigrationManager

log = logging.getLogger(__name__)


async def run_incoming(manager: MigrationManager, job: Job) -> None:
    vm = manager.vm
    channel: Channel | None = job.channel
    return_path = False
    try:
        if channel is None:
            assert job.listener is not None
            channel = job.channel = await job.listener.accept()
            job.listener.close()
            job.listener = None
        manager.emit_status(job, St.ACTIVE)
        await stream.read_preamble(channel)
        kind, payload = await stream.read_record(channel)
        if kind is not Kind.HEADER:
            raise StreamError("the migration stream does not begin with its header")
        raw = json.loads(payload)
        header = Header.from_json(raw)
        return_path = channel.is_socket and bool(raw.get("return-path"))
        local = vm.migration_header(with_uuid=header.uuid is not None)
        found = stream.differences(header, local)
        if found:
            reason = "the source's VM does not match this one: " + "; ".join(found)
            if return_path:
                await _answer(channel, Kind.REFUSE, reason)
                return_path = False
            raise StreamError(reason)
        if return_path:
            await channel.write(stream.record(Kind.ACCEPT))
        manager.loading = True
        # Page records are decoded as they arrive, from the channel's buffer into guest RAM (in
        # C, on the loop: a piece is at most a megabyte of copying), so the source's last pass
        # is loaded by the time its last byte is read.
        decoder = PageDecoder(vm.vcpus.ram)
        captured = None
        while True:
            kind, length = await stream.read_head(channel)
            if kind is Kind.RAM:
                try:
                    await channel.read_into(length, decoder.feed)
                except ValueError as error:
                    raise StreamError(str(error)) from None
                if not decoder.whole:
                    raise StreamError("a page record is cut short or names a page outside guest RAM")
                continue
            payload = await channel.read_exactly(length) if length else b""
            if kind is Kind.PASS:
                job.stats.passes += 1
            elif kind is Kind.STATE:
                captured = json.loads(payload)
            elif kind is Kind.END:
                break
            else:
                raise StreamError(f"unexpected record {kind.name} in the migration stream")
        if captured is None:
            raise StreamError("the migration stream ended without the machine's state")
        prior = machine_state.restore(vm, captured)
        if return_path:
            await channel.write(stream.record(Kind.DONE))
        manager.loading = False
        vm.finish_incoming_migration(prior)  # RESUME comes before "completed", as in QEMU
        manager.emit_status(job, St.COMPLETED)
    except asyncio.CancelledError:
        raise
    except (ChannelError, StreamError, ValueError) as error:
        reason = str(error)
        if return_path and channel is not None:
            with contextlib.suppress(ChannelError):
                await _answer(channel, Kind.FAILED, reason)
        manager.loading = False
        manager.emit_status(job, St.FAILED)
        log.error("load of migration failed: %s", reason)
        vm.fail_incoming_migration(f"load of migration failed: {reason}")
    finally:
        if channel is not None:
            channel.close()
            job.channel = None


async def _answer(channel: Channel, kind: Kind, text: str) -> None:
    data = text.encode()
    await channel.write(stream.record(kind, data) + data)
