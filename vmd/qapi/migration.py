"""Migration capabilities and command-line introspection, in QEMU 7.2's shapes.

vmd does not migrate yet and describes none of its options through QEMU's QemuOpts
introspection: both answer with empty lists, which clients such as libvirt read as "none"."""

from __future__ import annotations

from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import QapiEnum, QapiStruct


class MigrationCapability(QapiEnum):
    XBZRLE = "xbzrle"
    RDMA_PIN_ALL = "rdma-pin-all"
    AUTO_CONVERGE = "auto-converge"
    ZERO_BLOCKS = "zero-blocks"
    COMPRESS = "compress"
    EVENTS = "events"
    POSTCOPY_RAM = "postcopy-ram"
    X_COLO = "x-colo"
    RELEASE_RAM = "release-ram"
    BLOCK = "block"
    RETURN_PATH = "return-path"
    PAUSE_BEFORE_SWITCHOVER = "pause-before-switchover"
    MULTIFD = "multifd"
    DIRTY_BITMAPS = "dirty-bitmaps"
    POSTCOPY_BLOCKTIME = "postcopy-blocktime"
    LATE_BLOCK_ACTIVATE = "late-block-activate"
    X_IGNORE_SHARED = "x-ignore-shared"
    VALIDATE_UUID = "validate-uuid"
    BACKGROUND_SNAPSHOT = "background-snapshot"
    ZERO_COPY_SEND = "zero-copy-send"
    POSTCOPY_PREEMPT = "postcopy-preempt"


class MigrationCapabilityStatus(QapiStruct):
    capability: MigrationCapability
    state: bool


class CommandLineParameterType(QapiEnum):
    STRING = "string"
    BOOLEAN = "boolean"
    NUMBER = "number"
    SIZE = "size"


class CommandLineParameterInfo(QapiStruct):
    name: str
    type: CommandLineParameterType
    help: str | None = None
    default: str | None = None


class CommandLineOptionInfo(QapiStruct):
    option: str
    parameters: list[CommandLineParameterInfo]


class QueryCommandLineOptionsArgs(QapiStruct):
    option: str | None = None


COMMANDS = (
    CommandSpec(
        "query-migrate-capabilities",
        "Migration capabilities and their state (vmd does not migrate: none).",
        returns=list[MigrationCapabilityStatus],
    ),
    CommandSpec(
        "query-command-line-options",
        "QemuOpts introspection of the command line (vmd describes none of its options this way).",
        args=QueryCommandLineOptionsArgs,
        returns=list[CommandLineOptionInfo],
        allow_preconfig=True,
    ),
)
