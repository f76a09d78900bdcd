"""Building blocks of the schema: QAPI semantics expressed as pydantic models.

A QAPI struct is a `QapiStruct` subclass.  Its wire names are kebab-case
(`vcpus_count` travels as `vcpus-count`), optional members are *absent* rather
than null, nothing is coerced, and unknown members are rejected.  Sized integers
are `int` annotated with an `IntKind`, so the input visitor can check QEMU's ranges
and introspection can report them as the builtin `int`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict


def kebab(name: str) -> str:
    return name.replace("_", "-")


class QapiStruct(BaseModel):
    """Base of every QAPI struct (command arguments, return values, event data)."""

    model_config = ConfigDict(
        alias_generator=kebab,
        populate_by_name=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )

    # The name the struct has in vmd's schema files (QEMU masks it on the wire).
    qapi_name: ClassVar[str | None] = None

    def to_wire(self) -> dict[str, Any]:
        """The member dict as it goes on the wire: aliases, and absent optionals left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class QapiEnum(enum.StrEnum):
    """Base of QAPI enums; the value is the wire string."""


@dataclass(frozen=True, slots=True)
class IntKind:
    """A QAPI integer type: its name, C spelling (for range errors) and bounds."""

    name: str
    c_name: str
    low: int
    high: int


INT8 = IntKind("int8", "int8_t", -(2**7), 2**7 - 1)
INT16 = IntKind("int16", "int16_t", -(2**15), 2**15 - 1)
INT32 = IntKind("int32", "int32_t", -(2**31), 2**31 - 1)
INT64 = IntKind("int", "int64_t", -(2**63), 2**63 - 1)
UINT8 = IntKind("uint8", "uint8_t", 0, 2**8 - 1)
UINT16 = IntKind("uint16", "uint16_t", 0, 2**16 - 1)
UINT32 = IntKind("uint32", "uint32_t", 0, 2**32 - 1)
UINT64 = IntKind("uint64", "uint64_t", 0, 2**64 - 1)
SIZE = IntKind("size", "uint64_t", 0, 2**64 - 1)

Int8 = Annotated[int, INT8]
Int16 = Annotated[int, INT16]
Int32 = Annotated[int, INT32]
Int64 = Annotated[int, INT64]
UInt8 = Annotated[int, UINT8]
UInt16 = Annotated[int, UINT16]
UInt32 = Annotated[int, UINT32]
UInt64 = Annotated[int, UINT64]
Size = Annotated[int, SIZE]


class AnyValue:
    """Marker for QAPI's `any`: a member whose value is arbitrary JSON."""


Any_ = Annotated[Any, AnyValue()]
