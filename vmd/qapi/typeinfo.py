"""A small, cached description of schema types, derived from the pydantic declarations.

The input visitor and the introspection writer both walk types; they read them
from here rather than from raw annotations, so both agree on what a member is.
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from vmd.qapi.types import INT64, AnyValue, IntKind, QapiEnum, QapiStruct


@dataclass(frozen=True, slots=True)
class BuiltinType:
    """One of QAPI's builtins: str, int (any IntKind), number, bool, null, any."""

    name: str
    int_kind: IntKind | None = None


@dataclass(frozen=True, slots=True)
class EnumType:
    cls: type[QapiEnum]


@dataclass(frozen=True, slots=True)
class StructType:
    cls: type[QapiStruct]


@dataclass(frozen=True, slots=True)
class ArrayType:
    element: TypeRef


@dataclass(frozen=True, slots=True)
class AlternateType:
    """A value that may be one of several JSON types (at most one choice per JSON type)."""

    choices: tuple[TypeRef, ...]


TypeRef = BuiltinType | EnumType | StructType | ArrayType | AlternateType

STR = BuiltinType("str")
NUMBER = BuiltinType("number")
BOOL = BuiltinType("bool")
NULL = BuiltinType("null")
ANY = BuiltinType("any")


@dataclass(frozen=True, slots=True)
class Member:
    wire_name: str
    attr: str
    type: TypeRef
    optional: bool


def type_of(annotation: Any) -> TypeRef:
    """Translate a member annotation (optional-ness already stripped) into a TypeRef."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        for extra in extras:
            if isinstance(extra, IntKind):
                return BuiltinType("int", extra)
            if isinstance(extra, AnyValue):
                return ANY
        return type_of(base)
    if origin is list:
        (element,) = typing.get_args(annotation)
        return ArrayType(type_of(element))
    if origin in (Union, types.UnionType):
        return AlternateType(tuple(type_of(arg) for arg in typing.get_args(annotation)))
    if annotation is str:
        return STR
    if annotation is bool:
        return BOOL
    if annotation is int:
        return BuiltinType("int", INT64)
    if annotation is float:
        return NUMBER
    if annotation is type(None):
        return NULL
    if annotation is Any:
        return ANY
    if isinstance(annotation, type) and issubclass(annotation, QapiEnum):
        return EnumType(annotation)
    if isinstance(annotation, type) and issubclass(annotation, QapiStruct):
        return StructType(annotation)
    raise TypeError(f"no QAPI type for annotation {annotation!r}")


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = typing.get_args(annotation)
        if type(None) in args:
            rest = tuple(arg for arg in args if arg is not type(None))
            return (rest[0] if len(rest) == 1 else Union[rest]), True  # noqa: UP007
    return annotation, False


@functools.cache
def members_of(cls: type[QapiStruct]) -> tuple[Member, ...]:
    """The struct's members in declaration order (QEMU visits them in that order)."""
    result = []
    for attr, field in cls.model_fields.items():
        annotation, optional = _strip_optional(field.annotation)
        if field.metadata:
            annotation = typing.Annotated[(annotation, *field.metadata)]
        wire_name = field.alias or attr
        optional = optional or not field.is_required()
        result.append(Member(wire_name, attr, type_of(annotation), optional))
    return tuple(result)
