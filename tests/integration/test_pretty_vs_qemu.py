"""-qmp-pretty output against QEMU 7.2: same indentation, CR LF endings, empty containers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from tests.peers import TIMEOUT, Peer, short_tmpdir

pytestmark = pytest.mark.qemu

WRITES = [
    b'{"execute": "qmp_capabilities"}',
    b'{"execute": "query-status", "id": [1, {}, []]}',
    b'{"execute": "query-name"}',
    b'{"execute": "nope", "id": "x"}',
]


async def pretty_objects(path: str, count: int) -> list[bytes]:
    """The first `count` pretty-printed messages, as raw bytes (each ends with a column-0 brace line)."""
    reader, writer = await asyncio.open_unix_connection(path)
    objects: list[bytes] = []
    current = b""
    try:
        for chunk in [b"", *WRITES]:
            writer.write(chunk)
            await writer.drain()
            while len(objects) < min(count, WRITES.index(chunk) + 2 if chunk else 1):
                line = await asyncio.wait_for(reader.readline(), TIMEOUT)
                current += line
                if line == b"}\r\n":
                    objects.append(current)
                    current = b""
    finally:
        writer.close()
    return objects


def shape(message: bytes) -> list[bytes]:
    """Its lines without trailing commas, sorted: member order is not part of the contract."""
    return sorted(line.rstrip(b",\r\n") + line[-2:] for line in message.splitlines(keepends=True))


async def test_pretty_output_like_qemu(peers: Callable[..., Peer]) -> None:
    outputs = []
    for kind in ("qemu", "vmd"):
        workdir = short_tmpdir()  # removed with the peer
        path = workdir / "pretty.sock"
        peers(kind, "-S", "-qmp-pretty", f"unix:{path},server=on,wait=off", monitors=0, workdir=workdir)
        outputs.append(await pretty_objects(str(path), 1 + len(WRITES)))
    qemu, vmd = outputs
    assert len(qemu) == len(vmd) == 1 + len(WRITES)
    for theirs, ours in zip(qemu[1:], vmd[1:], strict=True):  # the greeting's version differs
        assert json.loads(ours) == json.loads(theirs)
        assert shape(ours) == shape(theirs)
