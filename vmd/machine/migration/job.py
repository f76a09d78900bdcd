"""One migration job and its statistics, as query-migrate reports them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import field
from typing import Any

from vmd.machine.migration import uri as uris
from vmd.machine.migration.channel import Channel
from vmd.qapi import compiled as ev
from vmd.qapi.compiled import MigrationStatus as St
from vmd.qapi.compiled import RunState
from vmd.records import dataclass

PAGE = 4096
RUNNING_STATES = frozenset({St.SETUP, St.ACTIVE, St.PRE_SWITCHOVER, St.DEVICE, St.CANCELLING})


def now_ms() -> float:
    return time.monotonic() * 1000


@dataclass(slots=True)
class Statistics:
    """The numbers of query-migrate's `ram` and times (monotonic ms), for the current job."""

    total: int = 0
    start: float = 0.0
    setup_done: float = 0.0  # the first pass began
    stopped: float = 0.0  # the vCPUs stopped for the final pass
    sent: float = 0.0  # the last byte of the stream was written
    end: float = 0.0
    transferred: int = 0
    precopy_bytes: int = 0
    downtime_bytes: int = 0
    duplicate: int = 0
    normal: int = 0
    remaining_pages: int = 0
    passes: int = 0
    dirty_pages_rate: int = 0
    mbps: float = 0.0
    pages_per_second: int = 0
    expected_downtime: int = 300

    def ram(self) -> ev.MigrationStats:
        return ev.MigrationStats(
            transferred=self.transferred,
            remaining=self.remaining_pages * PAGE,
            total=self.total,
            duplicate=self.duplicate,
            skipped=0,
            normal=self.normal,
            normal_bytes=self.normal * PAGE,
            dirty_pages_rate=self.dirty_pages_rate,
            mbps=self.mbps,
            dirty_sync_count=self.passes,
            postcopy_requests=0,
            page_size=PAGE,
            multifd_bytes=0,
            pages_per_second=self.pages_per_second,
            precopy_bytes=self.precopy_bytes,
            downtime_bytes=self.downtime_bytes,
            postcopy_bytes=0,
            dirty_sync_missed_zero_copy=0,
        )


@dataclass(slots=True)
class Job:
    outgoing: bool
    status: St = St.SETUP
    error: str | None = None
    stats: Statistics = field(default_factory=Statistics)
    task: asyncio.Task[None] | None = None
    channel: Channel | None = None
    socket_address: dict[str, Any] | None = None
    listener: uris.Listener | None = None
    resume: asyncio.Event = field(default_factory=asyncio.Event)  # migrate-continue
    prior: RunState = RunState.RUNNING  # the source's run state when it stopped for the switchover
