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

import enum
import logging
from collections.abc import Awaitable
from typing import Any

from vmd.json.stream import JsonStreamParser
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


class _Delimited(dict[str, Any]):
    """A reply that goes out behind the 0xFF sentinel."""


class AgentSession(QmpSession):
    def __init__(self, *, reading: AgentReading, **kwargs: Any) -> None:
        super().__init__(greeting=None, **kwargs)
        self.negotiating = False  # the agent has no capabilities negotiation
        self._reading = reading
        self._generation = 0  # bumped when the agent restarts: replies of the old one are lost

    # -- what the channel tells it ------------------------------------------------------------

    def set_reading(self, reading: AgentReading) -> None:
        if reading is self._reading:
            return
        self._reading = reading
        if reading is AgentReading.SERVING:
            # An agent that (re)starts or wakes up parses from a clean state.
            self._parser = JsonStreamParser(
                max_token_size=self._limits.max_message, max_nesting=self._limits.max_nesting
            )
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
        self._apply_read_backpressure()
        if reading is AgentReading.SERVING:
            self._pump()

    # -- QmpSession's hooks --------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._apply_read_backpressure()

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


def _delimited(reply: Reply) -> Reply:
    # qemu-ga marks the reply inside the command: only a command that ran gets the sentinel.
    return _Delimited(reply) if "return" in reply else reply
