"""The guest agent's side of one connection on its channel: QMP's session with qemu-ga's framing.

The agent protocol is QMP without the ceremony (qga/main.c and qapi/qmp-dispatch.c in QEMU 7.2):
input is the same JSON stream (a 0xFF byte is a stray token: it flushes a half-read object and
costs one `JSON parse error` reply, which is how clients resynchronise), the dispatcher's checks
and errors are the same, but nothing greets, nothing is negotiated, no events flow, replies end
in a bare `\\n`, the reply to `guest-sync-delimited` is preceded by the byte 0xFF, and a command
whose success sends no reply (guest-shutdown) sends none.

What reads the connection is the guest: while the guest has the port closed the session reads
nothing (the bytes wait in the socket, as with QEMU), and a hung agent (`silent`) has the port
open but answers nothing: its input is read and dropped, so the client can always write.  Each
time the port opens, a new agent process reads the stream afresh.
"""

from __future__ import annotations

import base64
import enum
import logging
from collections.abc import Awaitable
from typing import Any

from vmd.json.stream import JsonItem, JsonParseError, JsonStreamParser
from vmd.json.writer import encode
from vmd.qmp.dispatch import NoReply, Reply
from vmd.qmp.session import QmpSession

log = logging.getLogger(__name__)

SENTINEL = b"\xff"
_DELIMITED = "guest-sync-delimited"


class AgentReading(enum.Enum):
    CLOSED = "closed"  # the guest has the port closed: nothing is read
    SERVING = "serving"  # the agent reads and answers
    DROPPING = "dropping"  # the port is open but the agent is hung: input is read and dropped


class _ReplayableParser(JsonStreamParser):
    """A parser whose half-read value can be carried elsewhere: it keeps the input fed since it
    was last between two values, and how many values that input gave already.  Fed to a new
    parser, that input rebuilds the same state (skipping those values): the parser is
    deterministic.  Input past `limit` without a rest is not kept (nothing is carried then)."""

    def __init__(self, *, max_token_size: int, max_nesting: int) -> None:
        super().__init__(max_token_size=max_token_size, max_nesting=max_nesting)
        self.limit = max_token_size
        self.tail = bytearray()
        self.given = 0
        self.overflowed = False

    def feed(self, data: bytes) -> list[JsonItem]:
        items = super().feed(data)
        if self.at_rest:
            self.tail.clear()
            self.given = 0
            self.overflowed = False
        elif not self.overflowed:
            self.tail += data
            self.given += len(items)
            if len(self.tail) > self.limit:
                self.overflowed = True
                self.tail.clear()
        return items


class _Delimited(dict[str, Any]):
    """A reply that goes out behind the 0xFF sentinel."""


class AgentSession(QmpSession):
    def __init__(self, *, reading: AgentReading, **kwargs: Any) -> None:
        super().__init__(greeting=None, **kwargs)
        self.negotiating = False  # the agent has no capabilities negotiation
        self._reading = reading
        self._generation = 0  # bumped when the agent restarts: replies of the old one are lost
        self._replay = self._fresh_parser()
        self._in_flight: Any = None  # the request whose command is still running

    # -- what the channel tells it ------------------------------------------------------------

    def set_reading(self, reading: AgentReading) -> None:
        if reading is self._reading:
            return
        self._reading = reading
        if reading is AgentReading.SERVING:
            # An agent that (re)starts or wakes up parses from a clean state.
            self._fresh_parser()
        if reading is not AgentReading.SERVING:
            # The agent went away (or hung): what it had read and not answered is lost with it,
            # the command it was working on included (nothing waits for a dead agent).
            self._generation += 1
            self._queue.clear()
            if reading is AgentReading.DROPPING:
                self._unparsed.clear()
                self._unparsed_at = 0
            if self._busy is not None:
                self._busy.cancel()
            self._in_flight = None
        self._apply_read_backpressure()
        if reading is AgentReading.SERVING:
            self._pump()

    def _fresh_parser(self) -> _ReplayableParser:
        parser = _ReplayableParser(
            max_token_size=self._limits.max_message, max_nesting=self._limits.max_nesting
        )
        self._parser = self._replay = parser
        return parser

    # -- migration: what the guest's agent had taken in goes to the target ----------------------

    def migration_state(self) -> dict[str, Any]:
        """What the guest's agent had read and not answered yet: the request it was working on,
        the ones queued behind it, a half-read one, and input read but not parsed yet.  (What the
        client wrote that the guest had not read stays in this host's socket.)"""
        requests = [] if self._in_flight is None else [self._in_flight]
        requests += list(self._queue)
        unparsed = b"".join(self._unparsed)[self._unparsed_at :]
        parser = self._replay
        tail = b"" if parser.overflowed else bytes(parser.tail)
        return {
            "requests": [_carried(item) for item in requests],
            "partial": base64.b64encode(tail).decode(),
            "partial-values": parser.given if tail else 0,
            "unparsed": base64.b64encode(unparsed).decode(),
        }

    def adopt(self, state: dict[str, Any]) -> None:
        """Go on with the source's agent input (the port is open here and served)."""
        parser = self._fresh_parser()
        partial = base64.b64decode(state["partial"])
        if partial:
            # The same state as the source's parser; the values it gives again were the source's
            # (answered, or among the requests carried).
            given = parser.feed(partial)
            if len(given) != int(state["partial-values"]):
                log.warning("%s: a half-read request did not parse again as it did", self.name)
        self._queue.extendleft(reversed([_uncarried(item) for item in state["requests"]]))
        unparsed = base64.b64decode(state["unparsed"])
        if unparsed:
            self._unparsed.appendleft(unparsed)
            self._unparsed_at = 0
        if self._transport is not None and self._reading is AgentReading.SERVING:
            self._pump()

    def hand_over(self) -> None:
        """The target's agent answers them now: this one forgets them, and a reply of the
        command it was running is never sent."""
        self._generation += 1
        self._queue.clear()
        self._unparsed.clear()
        self._unparsed_at = 0
        self._fresh_parser()
        if self._busy is not None:
            self._busy.cancel()
        self._in_flight = None

    # -- QmpSession's hooks --------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._apply_read_backpressure()
        if self._reading is AgentReading.SERVING and (self._queue or self._unparsed):
            self._pump()  # requests carried over by a migration, waiting for a client

    def data_received(self, data: bytes) -> None:
        if self._reading is AgentReading.DROPPING:
            return
        if self._reading is AgentReading.CLOSED:
            # Read before the pause took effect: it waits, as it would have in the socket.
            self._unparsed.append(data)
            return
        super().data_received(data)

    def _apply_read_backpressure(self) -> None:
        if self._transport is None:
            return
        if self._reading is AgentReading.CLOSED:
            if not self._reading_paused:
                self._reading_paused = True
                self._transport.pause_reading()
            return
        if self._reading is AgentReading.DROPPING:
            if self._reading_paused:
                self._reading_paused = False
                self._transport.resume_reading()
            return
        super()._apply_read_backpressure()

    def _execute(self, item: Any) -> Reply | Awaitable[Reply]:
        outcome = super()._execute(item)
        if not isinstance(outcome, dict):
            self._in_flight = item
        if not (isinstance(item, dict) and item.get("execute") == _DELIMITED):
            return outcome
        if isinstance(outcome, dict):
            return _delimited(outcome)
        return self._delimited_later(outcome)

    async def _delimited_later(self, pending: Awaitable[Reply]) -> Reply:
        return _delimited(await pending)

    async def _complete(self, pending: Awaitable[Reply]) -> None:
        generation = self._generation
        reply = await pending
        if generation == self._generation:
            self._in_flight = None
        if self._transport is not None and generation == self._generation:
            self._send(reply)

    def _send(self, message: dict[str, Any]) -> None:
        if isinstance(message, NoReply):
            return
        text = encode(message)
        if self._trace:
            log.debug("%s: <-- %s", self.name, text)
        line = text.encode("ascii") + b"\n"
        self._append(SENTINEL + line if isinstance(message, _Delimited) else line)


def _carried(item: Any) -> Any:
    return {"parse-error": item.desc} if isinstance(item, JsonParseError) else {"request": item}


def _uncarried(item: Any) -> Any:
    return JsonParseError(item["parse-error"]) if "parse-error" in item else item["request"]


def _delimited(reply: Reply) -> Reply:
    # qemu-ga marks the reply inside the command: only a command that ran gets the sentinel.
    return _Delimited(reply) if "return" in reply else reply
