"""Reads the pydantic schema declarations into the descriptors of `vmd.qapi.typeinfo`."""

from __future__ import annotations

import functools
import types
import typing
from typing import Any, Union

from vmd.qapi.kinds import INT64, IntKind
from vmd.qapi.typeinfo import (
    ANY,
    BOOL,
    NULL,
    NUMBER,
    STR,
    AlternateType,
    ArrayType,
    BuiltinType,
    EnumType,
    Member,
    StructType,
    TypeRef,
)
from vmd.qapi.types import AnyValue, OnlyOn, OrNull, QapiDeclaredEnum, QapiStruct


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
            if isinstance(extra, OrNull):
                return AlternateType((type_of(base), NULL))
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
    if isinstance(annotation, type) and issubclass(annotation, QapiDeclaredEnum):
        return EnumType(annotation)
    if isinstance(annotation, type) and issubclass(annotation, QapiStruct):
        return StructType(annotation)
    raise TypeError(f"no QAPI type for annotation {annotation!r}")


def annotation_type(annotation: Any) -> TypeRef | None:
    """A command's `returns`/`args` annotation; None stands for the empty struct."""
    return None if annotation is None else type_of(annotation)


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = typing.get_args(annotation)
        if type(None) in args:
            rest = tuple(arg for arg in args if arg is not type(None))
            return (rest[0] if len(rest) == 1 else Union[rest]), True  # noqa: UP007
    return annotation, False


@functools.cache
def declared_members(cls: type) -> tuple[Member, ...]:
    assert issubclass(cls, QapiStruct), cls
    result = []
    for attr, field in cls.model_fields.items():
        annotation, optional = _strip_optional(field.annotation)
        only_on = [extra for extra in field.metadata if isinstance(extra, OnlyOn)]
        metadata = [extra for extra in field.metadata if not isinstance(extra, OnlyOn)]
        if metadata:
            annotation = typing.Annotated[(annotation, *metadata)]
        wire_name = field.alias or attr
        optional = optional or not field.is_required()
        targets = only_on[0].targets if only_on else None
        result.append(Member(wire_name, attr, type_of(annotation), optional, targets))
    return tuple(result)


def members_of(cls: type) -> tuple[Member, ...]:
    """A struct's members, generated (`__qapi_members__`) or read off its declaration."""
    members: tuple[Member, ...] | None = getattr(cls, "__qapi_members__", None)
    return members if members is not None else declared_members(cls)
