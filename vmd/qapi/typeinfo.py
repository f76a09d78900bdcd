"""Descriptors of schema types, shared by the input visitor, introspection and the code generator.

No pydantic here: the daemon's runtime classes (`vmd.qapi.compiled`) carry their
members as `__qapi_members__`; the pydantic declarations are read by
`vmd.qapi.declared` into the same descriptors.
"""

from __future__ import annotations

import enum

from vmd.qapi.kinds import INT64, IntKind
from vmd.records import dataclass


@dataclass(frozen=True)
class BuiltinType:
    """One of QAPI's builtins: str, int (any IntKind), number, bool, null, any."""

    name: str
    int_kind: IntKind | None = None


@dataclass(frozen=True)
class EnumType:
    cls: type[enum.Enum]


@dataclass(frozen=True)
class StructType:
    cls: type


@dataclass(frozen=True)
class ArrayType:
    element: TypeRef


@dataclass(frozen=True)
class AlternateType:
    """A value that may be one of several JSON types (at most one choice per JSON type)."""

    choices: tuple[TypeRef, ...]


TypeRef = BuiltinType | EnumType | StructType | ArrayType | AlternateType

STR = BuiltinType("str")
INT = BuiltinType("int", INT64)
NUMBER = BuiltinType("number")
BOOL = BuiltinType("bool")
NULL = BuiltinType("null")
ANY = BuiltinType("any")


@dataclass(frozen=True)
class Member:
    """`targets`: the targets whose schema has the member (None: all), QAPI's 'if' on a member;
    only for members of what commands return, which a handler leaves unset elsewhere."""

    wire_name: str
    attr: str
    type: TypeRef
    optional: bool
    targets: tuple[str, ...] | None = None


def members_of(cls: type) -> tuple[Member, ...]:
    """A runtime struct's members in declaration order (QEMU visits, and reports errors, in that
    order): generated classes carry them.  The declarations' are `vmd.qapi.declared.members_of`."""
    members: tuple[Member, ...] | None = getattr(cls, "__qapi_members__", None)
    if members is None:
        raise TypeError(f"{cls.__name__} is not a generated QAPI struct (see vmd.qapi.declared)")
    return members


def variants_of(cls: type) -> tuple[str, dict[str, type]] | None:
    """(tag member, {case: variant struct}) for a flat union, None for a plain struct."""
    variants: dict[str, type] | None = getattr(cls, "qapi_variants", None)
    if not variants:
        return None
    return getattr(cls, "qapi_tag"), variants  # noqa: B009 - declared together with qapi_variants


def struct_name(cls: type) -> str:
    return getattr(cls, "qapi_name", None) or cls.__name__
