"""Narrow what a QMP peer sent to the JSON shape a test expects.

qemu.qmp types every reply (`QMPClient.execute`) and every event member (`Message[...]`) as
`object`, which is honest: the peer can send anything.  A test states the shape it expects here;
a value of another shape fails the test at that point, showing what came instead.
"""

from __future__ import annotations

from typing import Any

from qemu.qmp.message import Message


def as_dict(value: object, what: str = "a JSON object") -> dict[str, Any]:
    """`value` as a JSON object (a dict with str keys, as json.loads makes them)."""
    assert isinstance(value, dict), f"expected {what}, got {value!r}"
    return value


def as_list(value: object, what: str = "a JSON array") -> list[Any]:
    """`value` as a JSON array."""
    assert isinstance(value, list), f"expected {what}, got {value!r}"
    return value


def as_event(message: Message) -> dict[str, Any]:
    """An event (or any message) qemu.qmp received, as the plain dict the peer sent."""
    return dict[str, Any](message)
