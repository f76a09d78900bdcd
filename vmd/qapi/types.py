"""Building blocks of the schema declarations: QAPI semantics expressed as pydantic models.

These are the source of truth.  The daemon itself runs on `vmd.qapi.compiled`,
generated from them, so that neither start-up nor the command path pays for
pydantic.

A QAPI struct is a `QapiStruct` subclass.  Its wire names are kebab-case
(`vcpus_count` travels as `vcpus-count`), optional members are *absent* rather
than null, nothing is coerced, and unknown members are rejected.  Sized integers
are `int` annotated with an `IntKind`, so the input visitor can check QEMU's ranges
and introspection can report them as the builtin `int`.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from vmd.qapi.kinds import INT8, INT16, INT32, INT64, SIZE, UINT8, UINT16, UINT32, UINT64


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


class QapiDeclaredEnum(enum.StrEnum):
    """Base of declared QAPI enums; the value is the wire string.  (The daemon's runtime form of
    each enum derives from vmd.qapi.runtime.QapiEnum instead.)"""


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


class OrNull:
    """Marker for a member that also takes null (QAPI's StrOrNull):
    `tls_creds: Annotated[str | None, OrNull()] = None`."""


class OnlyOn:
    """Marker for a member that exists on some targets only (QAPI's 'if': 'TARGET_S390X' on a
    member): `configured: Annotated[str | None, OnlyOn("s390x")] = None`."""

    def __init__(self, *targets: str) -> None:
        self.targets = targets


Any_ = Annotated[Any, AnyValue()]
