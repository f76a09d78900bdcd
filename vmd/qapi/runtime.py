"""Base classes of the generated runtime types (`vmd.qapi.compiled`): cheap to import and to use."""

from __future__ import annotations

import enum
from typing import Any, ClassVar

from vmd.qapi.typeinfo import Member


class QapiEnum(enum.StrEnum):
    """A QAPI enum at run time; the value is the wire string."""


class WireStruct:
    """A QAPI struct at run time: slots, keyword construction, and a generated `to_wire()`."""

    __slots__ = ()
    __qapi_members__: ClassVar[tuple[Member, ...]] = ()

    def to_wire(self) -> dict[str, Any]:
        raise NotImplementedError  # every generated class defines it

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, m.attr) == getattr(other, m.attr) for m in self.__qapi_members__)

    def __hash__(self) -> int:
        return hash(tuple(repr(getattr(self, m.attr)) for m in self.__qapi_members__))

    def __repr__(self) -> str:
        fields = ", ".join(f"{m.attr}={getattr(self, m.attr)!r}" for m in self.__qapi_members__)
        return f"{type(self).__name__}({fields})"


class _JsonNull:
    """A handler's `null` (a handler's None is QEMU's `{}`): qom-get of a property whose value is
    JSON null, as QEMU's `fdt` of a DR connector no guest configured."""

    def __repr__(self) -> str:
        return "JSON_NULL"


JSON_NULL = _JsonNull()


def wire_value(value: Any) -> Any:
    """Wire form of a value whose type is only known at run time (alternates, `any`)."""
    if value is JSON_NULL:
        return None
    if isinstance(value, WireStruct):
        return value.to_wire()
    if isinstance(value, list):
        return [wire_value(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value
