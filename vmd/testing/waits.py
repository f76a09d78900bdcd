"""Waiting in tests, always under a timeout: for a QMP event, for the guest to online a vCPU."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from qemu.qmp import QMPClient
from qemu.qmp.message import Message

__all__ = ["cpu_set", "event_matches", "wait_event", "wait_online"]

DEFAULT_TIMEOUT = 10.0

# Events a wait skipped, per client, for the next wait to look at first (as QEMU's launcher does).
_skipped: weakref.WeakKeyDictionary[QMPClient, list[Message]] = weakref.WeakKeyDictionary()

Match = Mapping[str, Any] | Callable[[Message], bool] | None


def _contains(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, Mapping):
        return isinstance(value, Mapping) and all(
            key in value and _contains(value[key], item) for key, item in wanted.items()
        )
    return bool(value == wanted)


def event_matches(event: Message, name: str, match: Match = None) -> bool:
    """`event` is `name`, and its data contains `match` (a dict, compared recursively: every key
    given must be there with that value) or `match(event)` is true."""
    if event.get("event") != name:
        return False
    if match is None:
        return True
    if callable(match):
        return match(event)
    return _contains(event.get("data", {}), match)


async def wait_event(
    qmp: QMPClient, name: str, *, match: Match = None, timeout: float = DEFAULT_TIMEOUT
) -> Message:
    """The first event `name` (whose data contains `match`) the client has received since it
    connected and that no earlier wait returned.  Events skipped on the way are kept for later
    waits.  TimeoutError after `timeout` seconds.

    It reads the client's default event queue (`qmp.events`), which receives every event."""
    skipped = _skipped.setdefault(qmp, [])
    for index, event in enumerate(skipped):
        if event_matches(event, name, match):
            del skipped[index]
            return event
    try:
        async with asyncio.timeout(timeout):
            while True:
                event = await qmp.events.get()
                if event_matches(event, name, match):
                    return event
                skipped.append(event)
    except TimeoutError:
        seen = ", ".join(str(e.get("event")) for e in skipped) or "none"
        raise TimeoutError(f"no {name} event within {timeout} s (other events: {seen})") from None


def cpu_set(text: str) -> set[int]:
    """The CPUs of a sysfs CPU list ("0-3,5")."""
    cpus: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


async def wait_online(qmp: QMPClient, cpu_index: int, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Until the guest has onlined vCPU `cpu_index` (vmd's `__com.vmd_query-guest-cpus`: online is
    what the vCPU itself confirmed, and no event says so).  Polls, from every 5 ms up to every
    100 ms; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        view = await qmp.execute("__com.vmd_query-guest-cpus")
        assert isinstance(view, dict), view
        if cpu_index in cpu_set(view["online"]):
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"the guest did not online vCPU {cpu_index} within {timeout} s "
                f"(present: {view['present'] or 'none'}, online: {view['online'] or 'none'})"
            )
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, 0.1)
