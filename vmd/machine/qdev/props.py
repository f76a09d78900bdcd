"""Device property values as QEMU 7.2's visitors and property setters read them (step 6).

A property has a QOM kind (bool, int64, int32, uint8 ... uint64, string, OnOffAuto, link, or
read-only); the board may add its setter's own check (a range, a mask, a length), which runs after
the kind's parsing, as the setter runs after the visitor.  Keyval sources (device_add, -device
key=value) give text parsed by the kind; -device JSON gives typed values.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from vmd.errors import DeviceNotFound, GenericError
from vmd.machine.qdev.opts import DeviceRequest

# A property value once parsed: booleans, integers, strings; None is an empty link.
PropertyValue: TypeAlias = bool | int | str | None

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1


class PropertyKind(enum.Enum):
    BOOL = "bool"
    INT = "integer"  # int64 through visit_type_int (a setter checks its range)
    INT32 = "int32_t"
    UINT8 = "uint8_t"
    UINT16 = "uint16_t"
    UINT32 = "uint32_t"
    UINT64 = "uint64"
    STRING = "string"
    ON_OFF_AUTO = "OnOffAuto"
    LINK = "link"
    READ_ONLY = "read-only"


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """A property's kind and its setter's own check (raises GenericError with QEMU's text)."""

    kind: PropertyKind
    check: Callable[[str, PropertyValue], None] | None = None


_UINT_MAX: Mapping[PropertyKind, int] = {
    PropertyKind.UINT8: 0xFF,
    PropertyKind.UINT16: 0xFFFF,
    PropertyKind.UINT32: 0xFFFFFFFF,
    PropertyKind.UINT64: _UINT64_MAX,
}
_ON_OFF_AUTO = ("on", "off", "auto")


_C_SPACE = " \t\n\v\f\r"
_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def parse_c_integer(text: str, *, signed: bool) -> int | None:
    """`text` as QEMU's qemu_strtoi64 (signed) or qemu_strtou64 reads it with base 0, or None.

    Like strtoll/strtoull: leading C whitespace, a sign, 0x for hex and a leading 0 for octal;
    nothing may follow.  Out of range is None; strtoull takes a negative number modulo 2**64.
    """
    pos = 0
    while pos < len(text) and text[pos] in _C_SPACE:
        pos += 1
    negative = pos < len(text) and text[pos] == "-"
    if pos < len(text) and text[pos] in "+-":
        pos += 1
    base = 10
    if text.startswith(("0x", "0X"), pos) and pos + 2 < len(text) and text[pos + 2] in _DIGITS[16]:
        base, pos = 16, pos + 2
    elif text.startswith("0", pos):
        base = 8
    digits = text[pos:]
    if not digits or any(c not in _DIGITS[base] for c in digits):
        return None
    magnitude = int(digits, base)
    if signed:
        value = -magnitude if negative else magnitude
        return value if _INT64_MIN <= value <= _INT64_MAX else None
    if magnitude > _UINT64_MAX:
        return None
    return (-magnitude) & _UINT64_MAX if negative else magnitude


_BOOL_WORDS = {
    "on": True,
    "yes": True,
    "true": True,
    "y": True,
    "off": False,
    "no": False,
    "false": False,
    "n": False,
}


def _invalid_type(name: str, expected: str) -> GenericError:
    return GenericError(f"Invalid parameter type for '{name}', expected: {expected}")


def _json_int(name: str, value: object) -> int:
    # qobject_input_type_int64: an integer that fits int64 (QEMU's JSON doubles never do).
    if isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX:
        return value
    raise _invalid_type(name, "integer")


def _json_uint(name: str, value: object) -> int:
    # qobject_input_type_uint64 takes negative int64 values modulo 2**64.
    if isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _UINT64_MAX:
        return value & _UINT64_MAX
    raise GenericError(f"Parameter '{name}' expects uint64")


def _json_str(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    raise _invalid_type(name, "string")


def _checked(spec: PropertySpec, name: str, value: PropertyValue) -> PropertyValue:
    if spec.check is not None:
        spec.check(name, value)
    return value


def parse_value(driver: str, name: str, spec: PropertySpec, value: object, keyval: bool) -> PropertyValue:
    """One property value as QEMU's visitor and the property's setter take it."""
    kind = spec.kind
    if kind is PropertyKind.READ_ONLY:
        raise GenericError(f"Property '{driver}.{name}' is not writable")
    if kind is PropertyKind.BOOL:
        if keyval:
            flag = _BOOL_WORDS.get(value) if isinstance(value, str) else None
            if flag is None:
                raise GenericError(f"Parameter '{name}' expects 'on' or 'off'")
            return flag
        if isinstance(value, bool):
            return value
        raise _invalid_type(name, "boolean")
    if kind in (PropertyKind.INT, PropertyKind.INT32):
        if keyval:
            parsed = parse_c_integer(value, signed=True) if isinstance(value, str) else None
            if parsed is None:
                raise GenericError(f"Parameter '{name}' expects integer")
            number = parsed
        else:
            number = _json_int(name, value)
        if kind is PropertyKind.INT32 and not -(1 << 31) <= number < 1 << 31:
            raise GenericError(f"Parameter '{name}' expects int32_t")
        return _checked(spec, name, number)
    if kind in _UINT_MAX:
        if keyval:
            parsed = parse_c_integer(value, signed=False) if isinstance(value, str) else None
            if parsed is None:
                raise GenericError(f"Parameter '{name}' expects integer")
            number = parsed
        else:
            number = _json_uint(name, value)
        if number > _UINT_MAX[kind]:
            raise GenericError(f"Parameter '{name}' expects {kind.value}")
        return _checked(spec, name, number)
    text = value if keyval and isinstance(value, str) else _json_str(name, value)
    if kind is PropertyKind.ON_OFF_AUTO:
        if text not in _ON_OFF_AUTO:
            raise GenericError(f"Parameter '{name}' does not accept value '{text}'")
        return text
    if kind is PropertyKind.LINK:
        # An empty path clears the link; vmd has no QOM memory regions to point it at.
        if text:
            raise DeviceNotFound(f"Device '{text}' not found")
        return None
    return _checked(spec, name, text)


def set_properties(
    request: DeviceRequest, spec_of: Callable[[str, str], PropertySpec | None]
) -> dict[str, PropertyValue]:
    """Step 6: every property of the request, parsed in the order QEMU sets them; `spec_of(driver,
    name)` is the device type's property (None: the type has no such property)."""
    values: dict[str, PropertyValue] = {}
    for name, raw in request.properties:
        spec = spec_of(request.driver, name)
        if spec is None:
            raise GenericError(f"Property '{request.driver}.{name}' not found")
        values[name] = parse_value(request.driver, name, spec, raw, request.source.keyval)
    return values
