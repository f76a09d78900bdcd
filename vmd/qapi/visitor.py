"""Checks command arguments the way QEMU's QObject input visitor does, and builds the model.

Order matters because only the first error is reported: members are visited in
declaration order (missing or mistyped member first), and left-over members are
reported only after every declared member was fine.  Names in messages are full
paths (`props.node-id`, `enable[0]`) except where QEMU uses the bare member name
(enum values and integer ranges), which is reproduced too.

Nothing is coerced: `"1"` is not an int, `1` is not a string, `null` is not
"absent".
"""

from __future__ import annotations

from typing import Any, TypeVar

from vmd.errors import GenericError
from vmd.qapi.kinds import IntKind
from vmd.qapi.typeinfo import (
    AlternateType,
    ArrayType,
    BuiltinType,
    EnumType,
    Member,
    StructType,
    TypeRef,
    members_of,
    variants_of,
)

T = TypeVar("T")

# The word QEMU uses for each JSON type in "expected: ..." messages.
_EXPECTED = {"str": "string", "int": "integer", "number": "number", "bool": "boolean", "null": "null"}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def _type_error(path: str, expected: str) -> GenericError:
    return GenericError(f"Invalid parameter type for '{path}', expected: {expected}")


def _visit(tref: TypeRef, value: Any, path: str, leaf: str) -> Any:
    match tref:
        case BuiltinType(name="any"):
            return value
        case BuiltinType(name="int", int_kind=kind):
            assert kind is not None
            return _visit_int(kind, value, path, leaf)
        case BuiltinType(name="number"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _type_error(path, "number")
            return float(value)
        case BuiltinType(name="str"):
            if not isinstance(value, str):
                raise _type_error(path, "string")
            return value
        case BuiltinType(name="bool"):
            if not isinstance(value, bool):
                raise _type_error(path, "boolean")
            return value
        case BuiltinType(name="null"):
            if value is not None:
                raise _type_error(path, "null")
            return None
        case EnumType(cls=cls):
            if not isinstance(value, str):
                raise _type_error(path, "string")
            try:
                return cls(value)
            except ValueError:
                raise GenericError(f"Parameter '{leaf}' does not accept value '{value}'") from None
        case StructType(cls=cls):
            if not isinstance(value, dict):
                raise _type_error(path, "object")
            return visit_struct(cls, value, path)
        case ArrayType(element=element):
            if not isinstance(value, list):
                raise _type_error(path, "array")
            # QEMU names list elements "path[i]" in type errors but "null" where it uses the bare name.
            return [_visit(element, item, f"{path}[{i}]", "null") for i, item in enumerate(value)]
        case AlternateType(choices=choices):
            return _visit_alternate(choices, value, path, leaf)
    raise AssertionError(f"unhandled type {tref!r}")


def _visit_int(kind: IntKind, value: Any, path: str, leaf: str) -> int:
    if kind.low >= 0:
        # Unsigned: QEMU takes any 64-bit number and wraps negative ones (for old clients),
        # then range-checks the narrower types by their C name.  Anything else, of any JSON type,
        # gets its uint64 visitor's "expects uint64".
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**64:
            raise GenericError(f"Parameter '{path}' expects uint64")
        number: int = value % 2**64
    else:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(path, "integer")
        number = value
        if not -(2**63) <= number < 2**63:
            raise _type_error(path, "integer")
    if not kind.low <= number <= kind.high:
        raise GenericError(f"Parameter '{leaf}' expects {kind.c_name}")
    return number


def _visit_alternate(choices: tuple[TypeRef, ...], value: Any, path: str, leaf: str) -> Any:
    kind = _json_kind(value)
    for choice in choices:
        if _accepts_kind(choice, kind):
            return _visit(choice, value, path, leaf)
    # QEMU names the alternate's type in this message; vmd's alternates are anonymous unions.
    raise GenericError(f"Invalid parameter type for '{path}', expected: {_alternate_name(choices)}")


def _accepts_kind(tref: TypeRef, kind: str) -> bool:
    match tref:
        case BuiltinType(name="any"):
            return True
        case BuiltinType(name="number"):
            return kind in ("integer", "number")
        case BuiltinType(name=name):
            return _EXPECTED[name] == kind
        case EnumType():
            return kind == "string"
        case StructType():
            return kind == "object"
        case ArrayType():
            return kind == "array"
    return False


def _alternate_name(choices: tuple[TypeRef, ...]) -> str:
    names = []
    for choice in choices:
        match choice:
            case BuiltinType(name=name):
                names.append(name)
            case EnumType(cls=cls):
                names.append(cls.__name__)
            case StructType(cls=cls):
                names.append(cls.__name__)
            case _:
                names.append("array")
    return "-or-".join(names)


def _visit_members(members: tuple[Member, ...], data: dict[str, Any], prefix: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for member in members:
        path = f"{prefix}.{member.wire_name}" if prefix else member.wire_name
        if member.wire_name not in data:
            if not member.optional:
                raise GenericError(f"Parameter '{path}' is missing")
            continue
        values[member.attr] = _visit(member.type, data[member.wire_name], path, member.wire_name)
    return values


def visit_struct(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Validate `data` against `cls` in QEMU's order and return the constructed object.

    A flat union's branch is visited after its base, on the same members dict, and
    given to the constructor as `branch` (None for a case without members).
    """
    members = members_of(cls)
    values = _visit_members(members, data, prefix)
    known = {member.wire_name for member in members}
    union = variants_of(cls)
    if union is not None:
        tag, variants = union
        case = next(values[m.attr] for m in members if m.wire_name == tag)
        variant = variants.get(case.value)
        if variant is not None:
            variant_members = members_of(variant)
            values["branch"] = variant(**_visit_members(variant_members, data, prefix))
            known.update(member.wire_name for member in variant_members)
    if len(known) < len(data) or any(key not in known for key in data):
        for key in data:
            if key not in known:
                path = f"{prefix}.{key}" if prefix else key
                raise GenericError(f"Parameter '{path}' is unexpected")
    return cls(**values)


def visit_no_arguments(data: dict[str, Any]) -> None:
    """A command without arguments still rejects any it is given (QEMU's empty struct)."""
    for key in data:
        raise GenericError(f"Parameter '{key}' is unexpected")
