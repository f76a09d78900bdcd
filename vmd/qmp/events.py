"""Delivers events to every session that finished capabilities negotiation.

An *opt-in* event (vmd's own, which no QEMU client expects) goes only to the sessions that asked
for it by name (`enable`), so a client written for QEMU sees exactly QEMU's events.

Some events are rate-limited as QEMU's monitor limits them (monitor/monitor.c,
monitor_qapi_event_conf): per key, the first one goes out at once, and within the window that
follows only the last one is kept, sent when the window ends (with its own timestamp).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from vmd.json.writer import encode_line
from vmd.qapi.registry import EventSpec
from vmd.qapi.runtime import WireStruct
from vmd.records import dataclass

log = logging.getLogger(__name__)


class EventSubscriber(Protocol):
    def send_event(self, line: bytes) -> None: ...


# Event name -> (window in seconds, the data member that keys it).
THROTTLED: dict[str, tuple[float, str]] = {"VSERPORT_CHANGE": (1.0, "id")}


@dataclass(slots=True)
class _Window:
    pending: bytes | None = None


class EventBus:
    def __init__(self, opt_in: frozenset[str] = frozenset()) -> None:
        self.opt_in = opt_in
        # Ordered, for deterministic delivery; each with the opt-in events it asked for.
        self._subscribers: dict[EventSubscriber, frozenset[str]] = {}
        self._windows: dict[tuple[str, str], _Window] = {}

    def subscribe(self, subscriber: EventSubscriber) -> None:
        self._subscribers.setdefault(subscriber, frozenset())

    def unsubscribe(self, subscriber: EventSubscriber) -> None:
        self._subscribers.pop(subscriber, None)

    def enable(self, subscriber: EventSubscriber, names: frozenset[str]) -> None:
        """Send these opt-in events to `subscriber` too (it must have subscribed)."""
        unknown = sorted(names - self.opt_in)
        if unknown:
            raise ValueError(unknown[0])
        self._subscribers[subscriber] = self._subscribers.get(subscriber, frozenset()) | names

    def emit(self, spec: EventSpec, data: WireStruct | None = None) -> None:
        """Send now; a session that has not negotiated yet never sees it (QEMU does not queue events)."""
        if (spec.data is None and data is not None) or (
            spec.data is not None and not isinstance(data, spec.data)
        ):
            raise TypeError(f"event {spec.name} takes {spec.data}, not {type(data).__name__}")
        now = time.time()
        seconds = int(now)
        message: dict[str, Any] = {
            "timestamp": {"seconds": seconds, "microseconds": int((now - seconds) * 1_000_000)},
            "event": spec.name,
        }
        if data is not None:
            message["data"] = data.to_wire()
        line = encode_line(message)  # encoded once, whatever the number of sessions
        throttle = THROTTLED.get(spec.name)
        if throttle is not None and data is not None:
            seconds_window, member = throttle
            key = (spec.name, str(getattr(data, member)))
            window = self._windows.get(key)
            if window is not None:
                window.pending = line  # only the last one of the window is delivered
                return
            self._windows[key] = _Window()
            loop = asyncio.get_running_loop()
            loop.call_later(seconds_window, self._window_ends, key, spec.name, seconds_window)
        self._deliver(spec.name, line)

    def _window_ends(self, key: tuple[str, str], name: str, seconds_window: float) -> None:
        window = self._windows[key]
        if window.pending is None:
            del self._windows[key]
            return
        line, window.pending = window.pending, None
        asyncio.get_running_loop().call_later(seconds_window, self._window_ends, key, name, seconds_window)
        self._deliver(name, line)

    def _deliver(self, name: str, line: bytes) -> None:
        optional = name in self.opt_in
        # An opt-in event is logged apart: "event ..." lines are what every session was sent.
        log.debug("opt-in event %s" if optional else "event %s", line.rstrip(b"\n").decode())
        for subscriber, enabled in list(self._subscribers.items()):
            if not optional or name in enabled:
                subscriber.send_event(line)
