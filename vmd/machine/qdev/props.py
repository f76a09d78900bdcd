"""Device property values as QEMU 7.2's visitors and property setters read them (step 6).

A property has a QOM kind (bool, int64, int32, uint8 ... uint64, string, OnOffAuto, link, or
read-only); the board may add its setter's own check (a range, a mask, a length), which runs after
the kind's parsing, as the setter runs after the visitor.  Keyval sources (device_add, -device
key=value) give text parsed by the kind; -device JSON gives typed values.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Mapping
from typing import TypeAlias

from vmd.errors import DeviceNotFound, GenericError
from vmd.machine.qdev.opts import DeviceRequest
from vmd.records import dataclass
from vmd.syntax import BadValue, OutOfRange, parse_bool, qemu_strtoi64, qemu_strtou64

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


def _c_integer(text: object, *, signed: bool) -> int | None:
    """Keyval text as QEMU's qemu_strtoi64 (signed) or qemu_strtou64 reads it, None if it is none."""
    if not isinstance(text, str):
        return None
    try:
        return qemu_strtoi64(text) if signed else qemu_strtou64(text)
    except (BadValue, OutOfRange):
        return None


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
            if isinstance(value, str):
                with contextlib.suppress(BadValue):
                    return parse_bool(value)
            raise GenericError(f"Parameter '{name}' expects 'on' or 'off'")
        if isinstance(value, bool):
            return value
        raise _invalid_type(name, "boolean")
    if kind in (PropertyKind.INT, PropertyKind.INT32):
        if keyval:
            parsed = _c_integer(value, signed=True)
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
            parsed = _c_integer(value, signed=False)
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
