"""A negotiated QMP connection on a plain blocking socket, for synchronous comparison tests."""

from __future__ import annotations

import json
import socket
from typing import Any

from tests.peers import TIMEOUT


class BlockingQmp:
    """Every read has a timeout; events are kept aside (`take_events`); replies are matched by id."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.stream = self.sock.makefile("rwb")
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        assert "QMP" in self._read()
        assert self.command("qmp_capabilities") == {"return": {}}

    def _read(self) -> Any:
        line = self.stream.readline()
        if not line:
            raise EOFError("the peer closed the monitor")
        return json.loads(line)

    def command(self, name: str, arguments: str | None = None) -> Any:
        """The reply (without its id) to `name` with `arguments`, JSON text sent as is."""
        self.next_id += 1
        text = f'{{"execute": {json.dumps(name)}, "id": {self.next_id}'
        text += f', "arguments": {arguments}}}' if arguments is not None else "}"
        self.stream.write(text.encode())
        self.stream.flush()
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
            elif reply.get("id") == self.next_id:
                del reply["id"]
                return reply

    def take_events(self) -> list[dict[str, Any]]:
        """The events received before the replies read so far, in order (and forgotten)."""
        events, self.events = self.events, []
        return events

    def execute(self, name: str, **arguments: Any) -> Any:
        return self.command(name, json.dumps(arguments) if arguments else None)

    def result(self, name: str, **arguments: Any) -> Any:
        reply = self.execute(name, **arguments)
        assert "return" in reply, (name, arguments, reply)
        return reply["return"]

    def close(self) -> None:
        self.stream.close()
        self.sock.close()
