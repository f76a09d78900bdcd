"""Delivers events to every session that finished capabilities negotiation.

An *opt-in* event (vmd's own, which no QEMU client expects) goes only to the sessions that asked
for it by name (`enable`), so a client written for QEMU sees exactly QEMU's events."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from vmd.json.writer import encode_line
from vmd.qapi.registry import EventSpec
from vmd.qapi.runtime import WireStruct

log = logging.getLogger(__name__)


class EventSubscriber(Protocol):
    def send_event(self, line: bytes) -> None: ...


class EventBus:
    def __init__(self, opt_in: frozenset[str] = frozenset()) -> None:
        self.opt_in = opt_in
        # Ordered, for deterministic delivery; each with the opt-in events it asked for.
        self._subscribers: dict[EventSubscriber, frozenset[str]] = {}

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
        optional = spec.name in self.opt_in
        # An opt-in event is logged apart: "event ..." lines are what every session was sent.
        log.debug("opt-in event %s" if optional else "event %s", line.rstrip(b"\n").decode())
        for subscriber, enabled in list(self._subscribers.items()):
            if not optional or spec.name in enabled:
                subscriber.send_event(line)
