"""Migration capabilities and command-line introspection, in QEMU 7.2's shapes.

vmd does not migrate yet: of QEMU's capabilities it keeps `events` alone (see
vmd/machine/migration.py).  It describes none of its options through QEMU's QemuOpts
introspection: that answer is an empty list, which clients such as libvirt read as "none"."""

from __future__ import annotations

from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import QapiDeclaredEnum, QapiStruct


class MigrationCapability(QapiDeclaredEnum):
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


class MigrateSetCapabilitiesArgs(QapiStruct):
    capabilities: list[MigrationCapabilityStatus]


class CommandLineParameterType(QapiDeclaredEnum):
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
        "The migration capabilities vmd has and their state (vmd does not migrate yet: only `events`).",
        returns=list[MigrationCapabilityStatus],
    ),
    CommandSpec(
        "migrate-set-capabilities",
        "Switch migration capabilities on or off (all or none of the changes are applied).",
        args=MigrateSetCapabilitiesArgs,
    ),
    CommandSpec(
        "query-command-line-options",
        "QemuOpts introspection of the command line (vmd describes none of its options this way).",
        args=QueryCommandLineOptionsArgs,
        returns=list[CommandLineOptionInfo],
        allow_preconfig=True,
    ),
)
