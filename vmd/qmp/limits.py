"""Per-session limits that keep one misbehaving client from hurting the daemon or other clients."""

from __future__ import annotations

from vmd.records import dataclass


@dataclass(frozen=True, slots=True)
class SessionLimits:
    # Largest request (token text of one JSON value).  QEMU allows 64 MiB; no QMP request
    # vmd understands comes near 1 MiB, so a bigger one is an error, answered as QEMU does.
    max_message: int = 1 << 20
    # JSON nesting, as QEMU: deeper input is rejected with "JSON nesting depth limit exceeded".
    max_nesting: int = 1024
    # In-band requests buffered before vmd stops reading the socket (QEMU stops at 8).
    queue_depth: int = 8
    # Unsent output above which vmd stops executing this client's requests until it reads.
    write_high_water: int = 1 << 20
    # Unsent output (events pile up for a client that never reads) that gets it disconnected.
    max_output: int = 64 << 20
