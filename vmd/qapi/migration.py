"""Migration (commands, statistics, capabilities, parameters, its fds) and command-line
introspection, in QEMU 7.2's shapes: every struct has 7.2's members, also those vmd never fills
(disk, xbzrle-cache, ...: absent), so that introspecting clients see the same contract.

vmd describes none of its options through QEMU's QemuOpts introspection: that answer is an
empty list, which clients such as libvirt read as "none"."""

from __future__ import annotations

import builtins
from typing import Annotated, ClassVar

from pydantic import Field

from vmd.qapi.registry import CommandSpec, EventSpec
from vmd.qapi.types import OrNull, QapiDeclaredEnum, QapiStruct, Size, UInt8, UInt16, UInt32, UInt64


class MigrationStatus(QapiDeclaredEnum):
    NONE = "none"
    SETUP = "setup"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    ACTIVE = "active"
    POSTCOPY_ACTIVE = "postcopy-active"
    POSTCOPY_PAUSED = "postcopy-paused"
    POSTCOPY_RECOVER = "postcopy-recover"
    COMPLETED = "completed"
    FAILED = "failed"
    COLO = "colo"
    PRE_SWITCHOVER = "pre-switchover"
    DEVICE = "device"
    WAIT_UNPLUG = "wait-unplug"


class MigrationStats(QapiStruct):
    transferred: int
    remaining: int
    total: int
    duplicate: int
    skipped: int
    normal: int
    normal_bytes: int
    dirty_pages_rate: int
    mbps: float
    dirty_sync_count: int
    postcopy_requests: int
    page_size: int
    multifd_bytes: UInt64
    pages_per_second: UInt64
    precopy_bytes: UInt64
    downtime_bytes: UInt64
    postcopy_bytes: UInt64
    dirty_sync_missed_zero_copy: UInt64


class VfioStats(QapiStruct):
    transferred: int


class XBZRLECacheStats(QapiStruct):
    cache_size: Size
    bytes: int
    pages: int
    cache_miss: int
    cache_miss_rate: float
    encoding_rate: float
    overflow: int


class CompressionStats(QapiStruct):
    pages: int
    busy: int
    busy_rate: float
    compressed_size: int
    compression_rate: float


class SocketAddressType(QapiDeclaredEnum):
    INET = "inet"
    UNIX = "unix"
    VSOCK = "vsock"
    FD = "fd"


class InetSocketAddress(QapiStruct):
    host: str
    port: str
    numeric: bool | None = None
    to: UInt16 | None = None
    ipv4: bool | None = None
    ipv6: bool | None = None
    keep_alive: bool | None = None
    mptcp: bool | None = None


class UnixSocketAddress(QapiStruct):
    path: str
    abstract: bool | None = None
    tight: bool | None = None


class VsockSocketAddress(QapiStruct):
    cid: str
    port: str


class String(QapiStruct):
    str_: builtins.str = Field(alias="str")


class SocketAddress(QapiStruct):
    """A union on `type`; vmd migrates over inet and unix sockets."""

    qapi_tag: ClassVar[str] = "type"
    qapi_variants: ClassVar[dict[str, type[QapiStruct]]] = {
        "inet": InetSocketAddress,
        "unix": UnixSocketAddress,
        "vsock": VsockSocketAddress,
        "fd": String,
    }

    type: SocketAddressType


class MigrationInfo(QapiStruct):
    status: MigrationStatus | None = None
    ram: MigrationStats | None = None
    disk: MigrationStats | None = None
    vfio: VfioStats | None = None
    xbzrle_cache: XBZRLECacheStats | None = None
    total_time: int | None = None
    expected_downtime: int | None = None
    downtime: int | None = None
    setup_time: int | None = None
    cpu_throttle_percentage: int | None = None
    error_desc: str | None = None
    blocked_reasons: list[str] | None = None
    postcopy_blocktime: UInt32 | None = None
    postcopy_vcpu_blocktime: list[UInt32] | None = None
    compression: CompressionStats | None = None
    socket_address: list[SocketAddress] | None = None


class MigrateArgs(QapiStruct):
    uri: str
    blk: bool | None = None
    inc: bool | None = None
    detach: bool | None = None
    resume: bool | None = None


class MigrateIncomingArgs(QapiStruct):
    uri: str


class MigrateContinueArgs(QapiStruct):
    state: MigrationStatus


class MigrationEventData(QapiStruct):
    status: MigrationStatus


class MigrationPassEventData(QapiStruct):
    pass_: int = Field(alias="pass")


class MultiFDCompression(QapiDeclaredEnum):
    NONE = "none"
    ZLIB = "zlib"
    ZSTD = "zstd"


class BitmapMigrationBitmapAliasTransform(QapiStruct):
    persistent: bool | None = None


class BitmapMigrationBitmapAlias(QapiStruct):
    name: str
    alias: str
    transform: BitmapMigrationBitmapAliasTransform | None = None


class BitmapMigrationNodeAlias(QapiStruct):
    node_name: str
    alias: str
    bitmaps: list[BitmapMigrationBitmapAlias]


class MigrationParameters(QapiStruct):
    """query-migrate-parameters (QEMU 7.2 reports every member)."""

    announce_initial: Size | None = None
    announce_max: Size | None = None
    announce_rounds: Size | None = None
    announce_step: Size | None = None
    compress_level: UInt8 | None = None
    compress_threads: UInt8 | None = None
    compress_wait_thread: bool | None = None
    decompress_threads: UInt8 | None = None
    throttle_trigger_threshold: UInt8 | None = None
    cpu_throttle_initial: UInt8 | None = None
    cpu_throttle_increment: UInt8 | None = None
    cpu_throttle_tailslow: bool | None = None
    tls_creds: str | None = None
    tls_hostname: str | None = None
    tls_authz: str | None = None
    max_bandwidth: Size | None = None
    downtime_limit: UInt64 | None = None
    x_checkpoint_delay: UInt32 | None = None
    block_incremental: bool | None = None
    multifd_channels: UInt8 | None = None
    xbzrle_cache_size: Size | None = None
    max_postcopy_bandwidth: Size | None = None
    max_cpu_throttle: UInt8 | None = None
    multifd_compression: MultiFDCompression | None = None
    multifd_zlib_level: UInt8 | None = None
    multifd_zstd_level: UInt8 | None = None
    block_bitmap_mapping: list[BitmapMigrationNodeAlias] | None = None


# QAPI's StrOrNull: a string, or null for "back to the default".
StrOrNull = Annotated[str | None, OrNull()]


class MigrateSetParameters(QapiStruct):
    """migrate-set-parameters: any subset of the parameters (tls-* also take null)."""

    announce_initial: Size | None = None
    announce_max: Size | None = None
    announce_rounds: Size | None = None
    announce_step: Size | None = None
    compress_level: UInt8 | None = None
    compress_threads: UInt8 | None = None
    compress_wait_thread: bool | None = None
    decompress_threads: UInt8 | None = None
    throttle_trigger_threshold: UInt8 | None = None
    cpu_throttle_initial: UInt8 | None = None
    cpu_throttle_increment: UInt8 | None = None
    cpu_throttle_tailslow: bool | None = None
    tls_creds: StrOrNull = None
    tls_hostname: StrOrNull = None
    tls_authz: StrOrNull = None
    max_bandwidth: Size | None = None
    downtime_limit: UInt64 | None = None
    x_checkpoint_delay: UInt32 | None = None
    block_incremental: bool | None = None
    multifd_channels: UInt8 | None = None
    xbzrle_cache_size: Size | None = None
    max_postcopy_bandwidth: Size | None = None
    max_cpu_throttle: UInt8 | None = None
    multifd_compression: MultiFDCompression | None = None
    multifd_zlib_level: UInt8 | None = None
    multifd_zstd_level: UInt8 | None = None
    block_bitmap_mapping: list[BitmapMigrationNodeAlias] | None = None


class GuestRamDigest(QapiStruct):
    """vmd's: what guest RAM holds now (tests compare the two sides of a migration), and the
    standard firmware's shared progress counter (how far the guest got)."""

    size: int
    sha256: str
    guest_counter: int


class GetfdArgs(QapiStruct):
    fdname: str


class AddFdArgs(QapiStruct):
    fdset_id: int | None = None
    opaque: str | None = None


class AddfdInfo(QapiStruct):
    fdset_id: int
    fd: int


class RemoveFdArgs(QapiStruct):
    fdset_id: int
    fd: int | None = None


class FdsetFdInfo(QapiStruct):
    fd: int
    opaque: str | None = None


class FdsetInfo(QapiStruct):
    fdset_id: int
    fds: list[FdsetFdInfo]


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
        "migrate",
        "Migrate the VM to the URI (unix:, tcp:, exec:, fd:NAME); runs in the background.",
        args=MigrateArgs,
    ),
    CommandSpec(
        "migrate-incoming",
        "Start receiving an incoming migration (-incoming defer).",
        args=MigrateIncomingArgs,
    ),
    CommandSpec("migrate_cancel", "Cancel the outgoing migration (no effect when none runs)."),
    CommandSpec(
        "migrate-continue", "Go on from a pause (pause-before-switchover).", args=MigrateContinueArgs
    ),
    CommandSpec("query-migrate", "The migration's status and statistics.", returns=MigrationInfo),
    CommandSpec(
        "query-migrate-capabilities",
        "QEMU 7.2's migration capabilities and their state.",
        returns=list[MigrationCapabilityStatus],
    ),
    CommandSpec(
        "migrate-set-capabilities",
        "Switch migration capabilities on or off (all or none of the changes are applied).",
        args=MigrateSetCapabilitiesArgs,
    ),
    CommandSpec("query-migrate-parameters", "The migration parameters.", returns=MigrationParameters),
    CommandSpec(
        "migrate-set-parameters",
        "Set migration parameters (also while migrating).",
        args=MigrateSetParameters,
    ),
    CommandSpec("getfd", "Keep the fd passed with this command (SCM_RIGHTS) under a name.", args=GetfdArgs),
    CommandSpec("closefd", "Close a fd kept by getfd.", args=GetfdArgs),
    CommandSpec(
        "add-fd", "Put the fd passed with this command into an fd set.", args=AddFdArgs, returns=AddfdInfo
    ),
    CommandSpec("remove-fd", "Remove an fd (or a whole set) from the fd sets.", args=RemoveFdArgs),
    CommandSpec("query-fdsets", "The fd sets.", returns=list[FdsetInfo]),
    CommandSpec(
        "__com.vmd_query-guest-ram",
        "A digest of guest RAM and the firmware's progress counter (compare a migration's two sides).",
        returns=GuestRamDigest,
    ),
    CommandSpec(
        "query-command-line-options",
        "QemuOpts introspection of the command line (vmd describes none of its options this way).",
        args=QueryCommandLineOptionsArgs,
        returns=list[CommandLineOptionInfo],
        allow_preconfig=True,
    ),
)

MIGRATION = EventSpec(
    "MIGRATION", "The migration's status changed (with the events capability).", data=MigrationEventData
)
MIGRATION_PASS = EventSpec(
    "MIGRATION_PASS", "A RAM pass began (with the events capability).", data=MigrationPassEventData
)

EVENTS = (MIGRATION, MIGRATION_PASS)
