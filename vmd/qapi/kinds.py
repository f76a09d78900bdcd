"""QAPI's integer kinds: name, C spelling (used in range errors) and bounds.  No pydantic here."""

from __future__ import annotations

from vmd.records import dataclass


@dataclass(frozen=True)
class IntKind:
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

ALL = {kind.name: kind for kind in (INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, SIZE)}
