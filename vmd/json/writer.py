"""QMP output encoding: JSON text formatted exactly as QEMU 7.2's JSON writer formats it.

QEMU's writer puts a space after every ``:`` and ``,``, writes pure ASCII (everything
outside 0x20..0x7E as ``\\uXXXX`` in upper-case hex, astral characters as surrogate pairs,
short escapes only for ``"`` ``\\`` ``\\b`` ``\\f`` ``\\n`` ``\\r`` ``\\t``), and prints
doubles with ``%.17g`` (``1500.0`` -> ``1500``, ``0.1`` -> ``0.10000000000000001``).

Where QEMU cannot be followed:

* QEMU prints infinities and NaN as ``inf``/``nan``, which is not JSON (``"id": 1e400`` came
  back as ``inf``).  vmd clamps them: +/-inf to +/-1.7976931348623157e+308 (the largest
  double), NaN to 0.
* QEMU never holds an integer outside [-2**63, 2**64-1]; it would have stored the value as a
  double.  vmd writes such an int the same way (``%.17g`` of the nearest double, clamped).
* A Python str can hold what a QEMU string cannot: lone surrogates and Unicode
  noncharacters come out as ``\\uFFFD``, as QEMU's writer shows any invalid sequence.

Object keys must be str.  Tuples are written as arrays.  Member order is the dict's order.

Common replies take a fast path through the C encoder of the ``json`` module, which already
uses QEMU's separators; its output is corrected for escapes when it contains any, and the
exact (pure Python) encoder takes over when the output might contain a float or a
very long integer, which the C encoder formats differently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring_ascii
from typing import Final

from vmd.json.stream import JsonValue, may_hold_huge_int

_DOUBLE_MAX: Final = 1.7976931348623157e308
_INT_MIN: Final = -(1 << 63)
_INT_MAX: Final = (1 << 64) - 1


# C encoder with QEMU's separators, no indentation, no sorting, no circular-reference
# bookkeeping (the exact encoder checks cycles when the C one runs out of stack).
def _unserializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODE: Final[Callable[[object, int], tuple[str, ...] | list[str]] | None] = (
    _c_make_encoder(None, _unserializable, encode_basestring_ascii, None, ": ", ", ", False, False, True)
    if _c_make_encoder is not None
    else None
)

# Output that may hold a Python float ("1.5", "1e+16", "Infinity", "NaN") or an integer that
# might be out of QEMU's range (19+ digits).  Inside strings these are false alarms that only
# cost a trip through the exact encoder.  One character class first: five times faster than an
# alternation of whole patterns on long replies.
_MAYBE_FLOAT_OR_HUGE: Final = re.compile(r"[0-9](?:\.[0-9]|e[+-]|[0-9]{18})")


_FLOAT_REPR: Final = re.compile(r"[0-9](?:\.[0-9]|e[+-])")


def _maybe_float_or_huge(text: str) -> bool:
    if "Infinity" in text or "NaN" in text:
        return True
    if not may_hold_huge_int(text.encode("ascii")):  # ASCII: the C encoder escapes the rest
        # No integer can be huge, and a float's repr shows a '.' or an exponent sign: most
        # small replies have neither, and these tests cost a fraction of the pattern's search.
        if "." not in text and "e+" not in text and "e-" not in text:
            return False
        return _FLOAT_REPR.search(text) is not None
    return _MAYBE_FLOAT_OR_HUGE.search(text) is not None


class Encoded(str):
    """A value already in QEMU's JSON form (`encode`'s output), spliced into a message as is:
    for large replies that change rarely, encoded once and reused."""

    __slots__ = ()


# In encode_basestring_ascii output: an escaped backslash (skipped, so that "\\u0041" stays a
# backslash followed by text), or a \uXXXX escape, with the low half when it is a pair.
_ESCAPE: Final = re.compile(r"\\(?:\\|u([0-9a-f]{4})(?:\\u(d[c-f][0-9a-f]{2}))?)")


def _is_noncharacter(cp: int) -> bool:
    return 0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE


def _qemu_escape(cp: int) -> str:
    """QEMU's escape of one BMP code point that is not a surrogate."""
    return "\\uFFFD" if _is_noncharacter(cp) else f"\\u{cp:04X}"


def _fix_escape(match: re.Match[str]) -> str:
    high_hex, low_hex = match.group(1), match.group(2)
    if high_hex is None:
        return match.group(0)  # an escaped backslash
    high = int(high_hex, 16)
    if low_hex is not None and 0xD800 <= high <= 0xDBFF:
        cp = 0x10000 + ((high - 0xD800) << 10) + (int(low_hex, 16) - 0xDC00)
        return "\\uFFFD" if _is_noncharacter(cp) else f"\\u{high:04X}\\u{int(low_hex, 16):04X}"
    first = "\\uFFFD" if 0xD800 <= high <= 0xDFFF else _qemu_escape(high)  # lone surrogate
    return first if low_hex is None else first + "\\uFFFD"  # a lone low surrogate follows


def _fix_escapes(text: str) -> str:
    """Turn json-module escapes into QEMU's: upper-case hex, U+FFFD for what QEMU can't hold."""
    return _ESCAPE.sub(_fix_escape, text) if "\\u" in text else text


def _quote(text: str) -> str:
    return _fix_escapes(encode_basestring_ascii(text))


def _format_double(value: float) -> str:
    if value != value:
        return "0"
    if value in (float("inf"), float("-inf")):
        value = _DOUBLE_MAX if value > 0 else -_DOUBLE_MAX
    return format(value, ".17g")


def _format_int(value: int) -> str:
    if _INT_MIN <= value <= _INT_MAX:
        return str(int(value))  # int() drops the repr of int subclasses such as IntEnum
    try:
        return _format_double(float(value))
    except OverflowError:
        return _format_double(float("inf") if value > 0 else float("-inf"))


def _format_scalar(value: object) -> str:
    if isinstance(value, str):
        return _quote(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return _format_int(value)
    if isinstance(value, float):
        return _format_double(value)
    _unserializable(value)
    raise AssertionError("unreachable")


def _members(obj: dict[str, JsonValue]) -> Iterator[tuple[str, object]]:
    separator = ""
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"keys must be str, not {type(key).__name__}")
        yield f"{separator}{_quote(key)}: ", value
        separator = ", "


def _elements(array: list[JsonValue] | tuple[JsonValue, ...]) -> Iterator[tuple[str, object]]:
    separator = ""
    for value in array:
        yield separator, value
        separator = ", "


def _encode_exact(root: object) -> str:
    """QEMU's formatting for any value; iterative, so nesting depth is not limited by the stack."""
    out: list[str] = []
    # For every open container: its remaining items, its closing bracket, and its id (cycles).
    open_items: list[tuple[Iterator[tuple[str, object]], str, int]] = []
    open_ids: set[int] = set()
    value = root
    while True:
        if isinstance(value, dict | list | tuple) and value:
            if id(value) in open_ids:
                raise ValueError("Circular reference detected")
            is_object = isinstance(value, dict)
            out.append("{" if is_object else "[")
            items = _members(value) if isinstance(value, dict) else _elements(value)
            open_items.append((items, "}" if is_object else "]", id(value)))
            open_ids.add(id(value))
        elif isinstance(value, dict):
            out.append("{}")
        elif isinstance(value, list | tuple):
            out.append("[]")
        else:
            out.append(_format_scalar(value))
        # Find the next value to write, closing every container that has run out.
        while open_items:
            items, closer, ident = open_items[-1]
            step = next(items, None)
            if step is not None:
                out.append(step[0])
                value = step[1]
                break
            out.append(closer)
            open_items.pop()
            open_ids.discard(ident)
        else:
            return "".join(out)


def encode(obj: JsonValue) -> str:
    """``obj`` as QEMU would write it, without a line terminator."""
    if isinstance(obj, dict):
        for value in obj.values():  # a loop, not any(): no generator per reply
            if isinstance(value, Encoded):
                members = (f"{_quote(key)}: {encode(value)}" for key, value in obj.items())
                return "{" + ", ".join(members) + "}"
    elif isinstance(obj, Encoded):
        return str(obj)
    if _C_ENCODE is not None:
        try:
            text = "".join(_C_ENCODE(obj, 0))
        except RecursionError:
            pass  # deeper than the C encoder's stack allows; QEMU has no such limit
        else:
            if not _maybe_float_or_huge(text):
                return _fix_escapes(text)
    return _encode_exact(obj)


def encode_line(obj: JsonValue) -> bytes:
    """One QMP output message: ``encode(obj)`` plus CR LF, as ASCII bytes."""
    return (encode(obj) + "\r\n").encode("ascii")
