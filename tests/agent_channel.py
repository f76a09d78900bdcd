"""A client of the guest agent's chardev, as libvirt is one: what the agent tests and the
migration tests of the agent channel drive."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.peers import TIMEOUT


class Agent:
    """A client of the agent's chardev, as libvirt is one: bytes out, lines in, under timeouts."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT)

    async def line(self, timeout: float = TIMEOUT) -> bytes:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            raise EOFError("the agent's chardev closed the connection")
        return line

    async def reply(self) -> Any:
        """The next line, parsed."""
        return json.loads(await self.line())

    def nothing_arrived(self) -> bool:
        """Nothing has come so far (read at once, without waiting)."""
        # asyncio offers no public view of what a StreamReader holds unread; waiting for a read
        # instead would only say that nothing came within some timeout.
        return not self.reader._buffer  # type: ignore[attr-defined]

    async def call(self, request: dict[str, Any]) -> Any:
        await self.send(json.dumps(request).encode() + b"\n")
        return json.loads(await self.line())

    async def nothing_within(self, seconds: float) -> bool:
        """True if no byte arrives within `seconds` (the agent is not answering)."""
        try:
            data = await asyncio.wait_for(self.reader.read(1), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"the agent answered: {data!r}")


@contextlib.asynccontextmanager
async def agent_client(workdir: Path) -> AsyncIterator[Agent]:
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(workdir / "ga.sock")), TIMEOUT)
    try:
        yield Agent(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), TIMEOUT)
