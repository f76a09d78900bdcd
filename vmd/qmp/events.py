"""Delivers events to every session that finished capabilities negotiation."""

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
    def __init__(self) -> None:
        self._subscribers: dict[EventSubscriber, None] = {}  # ordered, for deterministic delivery

    def subscribe(self, subscriber: EventSubscriber) -> None:
        self._subscribers[subscriber] = None

    def unsubscribe(self, subscriber: EventSubscriber) -> None:
        self._subscribers.pop(subscriber, None)

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
        log.debug("event %s", line.rstrip(b"\n").decode())
        for subscriber in list(self._subscribers):
            subscriber.send_event(line)
