"""One QMP connection: greeting, negotiation, requests answered in order, events, back-pressure.

In-band requests run one at a time in arrival order, and parse errors take their
place in that order too, so replies come back exactly as QEMU would send them.
Synchronous handlers run inline; a coroutine handler holds the queue until it
finishes.  With the `oob` capability, `exec-oob` requests run as soon as they
are read and may overtake queued in-band replies.

Output is collected while a burst of input is handled and written in chunks,
which is what makes pipelined clients fast.  Events and replies share that
buffer, so an event raised by a command always precedes the command's reply.

Back-pressure: a client's requests are executed only as fast as it reads the
replies.  Once its unread output passes the transport's high-water mark,
nothing more of its input is executed (and, with the queue full, nothing more
is read) until it drains.  A burst runs in turns of a bounded size, so one
client's pipeline never holds the loop long enough to delay another client.
Events still reach a client that does not read; if more than `max-output` of
them pile up unread, it is disconnected.  Its own unread replies never count
towards that limit: it asked for them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

from vmd.errors import GenericError
from vmd.json.pretty import encode_pretty_line
from vmd.json.stream import JsonParseError, JsonStreamParser
from vmd.json.writer import encode, encode_line
from vmd.qmp.dispatch import Dispatcher, EnvelopeError, NoReply, Reply, error_reply
from vmd.qmp.events import EventBus
from vmd.qmp.limits import SessionLimits

log = logging.getLogger(__name__)

OFFERED_CAPABILITIES = ("oob",)
# Output collected beyond this is written out at once, so that the transport's high-water mark
# takes effect in the middle of a burst rather than after it.
FLUSH_BYTES = 64 * 1024
# Requests of one session executed in one turn of the loop before other work gets its turn.
TURN_REQUESTS = 64
# Input is parsed this much at a time, and only while the request queue has room: a client that
# writes thousands of requests at once costs the loop one slice per turn, not one long parse.
PARSE_BYTES = 8 * 1024


class QmpSession(asyncio.Protocol):
    def __init__(
        self,
        *,
        name: str,
        chardev_id: str,
        dispatcher: Dispatcher,
        context: Callable[[QmpSession], Any],
        accepting: Callable[[], bool] = lambda: True,
        bus: EventBus,
        greeting: dict[str, Any] | None,
        limits: SessionLimits,
        pretty: bool = False,
        on_closed: Callable[[QmpSession], None] | None = None,
    ) -> None:
        self.name = name
        self.chardev_id = chardev_id
        self._dispatcher = dispatcher
        self._bus = bus
        self._greeting = greeting
        self._limits = limits
        self._pretty = pretty
        self._on_closed = on_closed
        # What handlers receive (opaque here: the transport knows no VM), and whether requests
        # are still executed (not once the daemon is on its way out).
        self._ctx = context(self)
        self._accepting = accepting
        self._parser = JsonStreamParser(max_token_size=limits.max_message, max_nesting=limits.max_nesting)
        self._queue: deque[Any] = deque()  # parsed values and JsonParseErrors, in arrival order
        self._unparsed: deque[bytes] = deque()  # input read but not parsed yet (the queue was full)
        self._unparsed_at = 0  # how much of the first chunk has been parsed
        self._busy: asyncio.Task[None] | None = None  # the coroutine command holding the queue
        self._oob_tasks: set[asyncio.Task[None]] = set()
        self._out: list[bytes] = []
        self._out_size = 0
        self._flush_scheduled = False
        self._pump_scheduled = False
        # Bytes of events queued since the client last drained its output below the high-water
        # mark: what max-output limits.
        self._unread_events = 0
        self._transport: asyncio.Transport | None = None
        self.passed_fds: list[int] = []  # SCM_RIGHTS fds received, oldest first
        self._reading_paused = False
        self._writing_paused = False
        self.negotiating = True
        self.oob_enabled = False
        self.closed = asyncio.get_running_loop().create_future()
        self._trace = log.isEnabledFor(logging.DEBUG)

    # -- SessionHandle (what handlers may ask of their session) -------------------------------

    def fds_received(self, fds: list[int]) -> None:
        """The peer passed fds (SCM_RIGHTS) with its next bytes; getfd and add-fd take them."""
        self.passed_fds.extend(fds)

    def take_passed_fd(self) -> int | None:
        """The oldest fd the peer passed with SCM_RIGHTS and nobody took yet (getfd, add-fd)."""
        return self.passed_fds.pop(0) if self.passed_fds else None

    def enable_capabilities(self, capabilities: frozenset[str]) -> None:
        for capability in capabilities:
            if capability not in OFFERED_CAPABILITIES:
                raise GenericError(f"Capability {capability} not available")
        self.negotiating = False
        self.oob_enabled = "oob" in capabilities
        self._bus.subscribe(self)

    def enable_events(self, names: frozenset[str]) -> None:
        """Receive these opt-in events too (ValueError naming the first that is not one)."""
        self._bus.enable(self, names)

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        transport.set_write_buffer_limits(high=self._limits.write_high_water)
        log.debug("%s: connected", self.name)
        if self._greeting is not None:
            self._send(self._greeting)
            self._flush()

    def data_received(self, data: bytes) -> None:
        self._unparsed.append(data)
        self._pump()

    def eof_received(self) -> bool | None:
        log.debug("%s: client closed its end", self.name)
        return False  # close our side too once pending output is written

    def connection_lost(self, exc: Exception | None) -> None:
        log.debug("%s: disconnected (%s)", self.name, exc or "clean")
        self._bus.unsubscribe(self)
        self._transport = None
        self._queue.clear()
        self._unparsed.clear()
        for fd in self.passed_fds:  # passed and never claimed
            os.close(fd)
        self.passed_fds.clear()
        self._out.clear()
        # A command already running (e.g. waiting for vCPUs to pause) is left to finish: cancelling
        # it could leave the VM half-way through a transition.  Its reply is dropped.
        if not self.closed.done():
            self.closed.set_result(None)
        if self._on_closed is not None:
            self._on_closed(self)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._unread_events = 0
        self._pump()

    # -- EventSubscriber --------------------------------------------------------------------

    def send_event(self, line: bytes) -> None:
        if self._transport is None:
            return
        if self._writing_paused:
            self._unread_events += len(line)
            if self._unread_events > self._limits.max_output:
                log.warning(
                    "%s: client is not reading; %d bytes of events unsent: disconnecting it",
                    self.name,
                    self._unread_events,
                )
                self._transport.abort()
                return
        self._append(line)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    # -- request processing -----------------------------------------------------------------

    def _pump(self) -> None:
        """Parse input while the queue has room, and run queued in-band requests until one must be
        awaited, output backs up, the turn is over or none are left."""
        if self._pump_scheduled:  # this session's next turn is already queued on the loop
            self._apply_read_backpressure()
            return
        queue = self._queue
        depth = self._limits.queue_depth
        budget = TURN_REQUESTS
        while self._transport is not None:
            if self._unparsed and len(queue) < depth:
                if budget <= 0:
                    self._schedule_turn()
                    break
                budget -= TURN_REQUESTS // 4  # a slice of input costs about as much as 16 requests
                self._parse_slice()
                continue
            if not queue or self._busy is not None or self._writing_paused:
                break
            if not self._accepting():  # nothing runs after `quit`; the daemon is closing every session
                queue.clear()
                self._unparsed.clear()
                break
            if budget <= 0:
                # Let other sessions and the guest model run; this session continues next turn.
                self._schedule_turn()
                break
            budget -= 1
            outcome = self._execute(queue.popleft())
            if isinstance(outcome, dict):
                self._send(outcome)
                if self._out_size >= FLUSH_BYTES:
                    self._flush()  # may pause writing, which ends this loop
            else:
                self._busy = asyncio.get_running_loop().create_task(self._complete(outcome))
                self._busy.add_done_callback(self._release)
        self._apply_read_backpressure()
        self._flush()

    def _parse_slice(self) -> None:
        """Parse up to PARSE_BYTES of the input waiting, cut after a `}` where there is one (so that
        whole requests take the parser's fast path); out-of-band requests run at once."""
        chunk = self._unparsed[0]
        start = self._unparsed_at
        end = start + PARSE_BYTES
        if end >= len(chunk):
            end = len(chunk)
            self._unparsed.popleft()
            self._unparsed_at = 0
        else:
            cut = chunk.rfind(b"}", start, end)
            if cut >= 0:
                end = cut + 1
            self._unparsed_at = end
        data = chunk if start == 0 and end == len(chunk) else chunk[start:end]
        for item in self._parser.feed(data):
            if self.oob_enabled and isinstance(item, dict) and "exec-oob" in item and "execute" not in item:
                self._run_oob(item)
            else:
                self._queue.append(item)

    def _schedule_turn(self) -> None:
        self._pump_scheduled = True
        asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._pump_scheduled = False
        self._pump()

    def _execute(self, item: Any) -> Reply | Awaitable[Reply]:
        if isinstance(item, JsonParseError):
            return error_reply(GenericError(item.desc))
        if self._trace:
            log.debug("%s: --> %s", self.name, encode(item))
        try:
            request = self._dispatcher.parse(item, negotiating=self.negotiating, oob_enabled=self.oob_enabled)
        except EnvelopeError as rejected:
            return rejected.reply
        return self._dispatcher.call(request, self._ctx)

    async def _complete(self, pending: Awaitable[Reply]) -> None:
        reply = await pending
        if self._transport is not None:
            self._send(reply)
            # Out now, not at the next request's turn: the work the command set off (a plug's
            # guest scan) is scheduled behind it and would otherwise hold the reply back.
            self._flush()

    def _release(self, task: asyncio.Task[None]) -> None:
        self._busy = None
        self._pump()

    def _run_oob(self, item: dict[str, Any]) -> None:
        outcome = self._execute(item)
        if isinstance(outcome, dict):
            self._send(outcome)
            self._flush()
            return
        task = asyncio.get_running_loop().create_task(self._complete(outcome))
        self._oob_tasks.add(task)
        task.add_done_callback(self._oob_done)

    def _oob_done(self, task: asyncio.Task[None]) -> None:
        self._oob_tasks.discard(task)
        self._flush()

    def _apply_read_backpressure(self) -> None:
        """Read more only while the queue has room and every byte read has been parsed."""
        if self._transport is None:
            return
        full = len(self._queue) >= self._limits.queue_depth or bool(self._unparsed)
        if full and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()
        elif not full and self._reading_paused:
            self._reading_paused = False
            self._transport.resume_reading()

    # -- output -----------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        if isinstance(message, NoReply):  # a command that answers nothing when it succeeds
            return
        if self._trace:
            log.debug("%s: <-- %s", self.name, encode(message))
        line = encode_pretty_line(message) if self._pretty else encode_line(message)
        self._out.append(line)
        self._out_size += len(line)

    def _append(self, data: bytes) -> None:
        self._out.append(data)
        self._out_size += len(data)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._out or self._transport is None:
            return
        data = self._out[0] if len(self._out) == 1 else b"".join(self._out)
        self._out.clear()
        self._out_size = 0
        self._transport.write(data)

    def close(self) -> None:
        """Flush what is pending and close (daemon shutdown)."""
        if self._transport is not None:
            self._flush()
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection without waiting for the client to read (it stopped reading)."""
        if self._transport is not None:
            self._transport.abort()
