"""QEMU's pretty-printed QMP output (`-qmp-pretty`, `-mon ...,pretty=on`).

Four-space indentation, every line ended by CR LF (QEMU's monitor turns each LF
into CR LF), and empty containers opened and closed on separate lines:
`{\\r\\n    }`.  Scalars are written exactly as in compact output.
"""

from __future__ import annotations

import json
from typing import Any

from vmd.json.writer import Encoded, encode

_NEWLINE = "\r\n"
_INDENT = "    "


def _render(value: Any, level: int, out: list[str]) -> None:
    if isinstance(value, Encoded):
        value = json.loads(value)  # pre-encoded compact JSON: lay it out like any other value
    if isinstance(value, dict):
        _container("{", "}", [(encode(key) + ": ", item) for key, item in value.items()], level, out)
    elif isinstance(value, list | tuple):
        _container("[", "]", [("", item) for item in value], level, out)
    else:
        out.append(encode(value))


def _container(opening: str, closing: str, items: list[tuple[str, Any]], level: int, out: list[str]) -> None:
    out.append(opening)
    inner = _NEWLINE + _INDENT * (level + 1)
    for position, (prefix, item) in enumerate(items):
        out.append(("," if position else "") + inner + prefix)
        _render(item, level + 1, out)
    out.append(_NEWLINE + _INDENT * level + closing)


def encode_pretty_line(message: Any) -> bytes:
    out: list[str] = []
    _render(message, 0, out)
    out.append(_NEWLINE)
    return "".join(out).encode("ascii")
