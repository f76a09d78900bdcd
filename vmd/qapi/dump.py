"""Guest memory dumps (`dump-guest-memory`, `query-dump`, the formats query and the
DUMP_COMPLETED event) in QEMU 7.2's shapes.  The format enum keeps all of 7.2's values, also
those vmd does not write (it refuses them as QEMU refuses a format it was built without)."""

from __future__ import annotations

from vmd.qapi.registry import CommandSpec, EventSpec
from vmd.qapi.types import QapiDeclaredEnum, QapiStruct


class DumpGuestMemoryFormat(QapiDeclaredEnum):
    ELF = "elf"
    KDUMP_ZLIB = "kdump-zlib"
    KDUMP_LZO = "kdump-lzo"
    KDUMP_SNAPPY = "kdump-snappy"
    WIN_DMP = "win-dmp"


class DumpStatus(QapiDeclaredEnum):
    NONE = "none"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


class DumpGuestMemoryArgs(QapiStruct):
    paging: bool
    protocol: str
    detach: bool | None = None
    begin: int | None = None
    length: int | None = None
    format: DumpGuestMemoryFormat | None = None


class DumpQueryResult(QapiStruct):
    status: DumpStatus
    completed: int
    total: int


class DumpGuestMemoryCapability(QapiStruct):
    formats: list[DumpGuestMemoryFormat]


class DumpCompletedEventData(QapiStruct):
    result: DumpQueryResult
    error: str | None = None


COMMANDS = (
    CommandSpec(
        "dump-guest-memory",
        "Write guest RAM to a file or a getfd fd as an ELF core (the VM pauses while it is written).",
        args=DumpGuestMemoryArgs,
    ),
    CommandSpec("query-dump", "The last dump's status and progress.", returns=DumpQueryResult),
    CommandSpec(
        "query-dump-guest-memory-capability",
        "The dump formats vmd can write.",
        returns=DumpGuestMemoryCapability,
    ),
)

DUMP_COMPLETED = EventSpec("DUMP_COMPLETED", "A dump finished or failed.", data=DumpCompletedEventData)

EVENTS = (DUMP_COMPLETED,)
