"""Run one raw-byte conversation against a peer and normalize what legitimately differs.

What is allowed to differ between QEMU 7.2 and vmd, and why:
- event timestamps (time of day);
- the version triple's micro and the `package` string (vmd reports 7.2.0 and "vmd X.Y");
- the order of members in an object (not part of the QMP contract; comparison is structural).
Everything else — which replies, in which order, error classes and texts, ids — must be equal.
"""

from __future__ import annotations

from typing import Any

from tests.peers import RawQmp

SENTINEL = b'{"execute": "query-status", "id": "__end__"}'


def normalize(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    message = dict(message)
    if "timestamp" in message:
        message["timestamp"] = "<time>"
    if "QMP" in message:
        message["QMP"] = {**message["QMP"], "version": "<version>"}
    ret = message.get("return")
    if isinstance(ret, dict) and set(ret) == {"qemu", "package"}:
        message["return"] = "<version>"
    return message


async def converse(path: str, writes: list[bytes], *, negotiate: bool = True) -> list[Any]:
    """Send each write separately, then a sentinel; return everything up to the sentinel's reply."""
    raw = await RawQmp.connect(path, negotiate=negotiate)
    try:
        for chunk in writes:
            await raw.send(chunk)
        await raw.send(SENTINEL)
        received = await raw.until_id("__end__")
        return [normalize(m) for m in received[:-1]]
    finally:
        await raw.close()
