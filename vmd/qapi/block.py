"""Block devices, as QEMU 7.2 reports them: vmd has none yet.

query-block, query-named-block-nodes and query-blockstats answer with empty lists (libvirt asks
the first two when it starts and reconnects to a domain, the third for `virsh domstats`).
The element types carry QEMU's member names, so a client reading query-qmp-schema sees the
shapes it knows; the deeper parts of QEMU's types that only a
real block layer fills (format-specific image data, snapshots, backing chains, dirty bitmaps)
are left out.
"""

from __future__ import annotations

from pydantic import Field

from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import QapiDeclaredEnum, QapiStruct


class BlockdevDetectZeroesOptions(QapiDeclaredEnum):
    OFF = "off"
    ON = "on"
    UNMAP = "unmap"


class BlockDeviceIoStatus(QapiDeclaredEnum):
    OK = "ok"
    FAILED = "failed"
    NOSPACE = "nospace"


class BlockdevCacheInfo(QapiStruct):
    writeback: bool
    direct: bool
    no_flush: bool


class ImageInfo(QapiStruct):
    filename: str
    format: str
    dirty_flag: bool | None = None
    actual_size: int | None = None
    virtual_size: int
    cluster_size: int | None = None
    encrypted: bool | None = None
    compressed: bool | None = None
    backing_filename: str | None = None
    full_backing_filename: str | None = None
    backing_filename_format: str | None = None


class BlockDeviceInfo(QapiStruct):
    file: str
    node_name: str | None = None
    ro: bool
    drv: str
    backing_file: str | None = Field(default=None, alias="backing_file")
    backing_file_depth: int = Field(alias="backing_file_depth")
    encrypted: bool
    detect_zeroes: BlockdevDetectZeroesOptions = Field(alias="detect_zeroes")
    bps: int
    bps_rd: int = Field(alias="bps_rd")
    bps_wr: int = Field(alias="bps_wr")
    iops: int
    iops_rd: int = Field(alias="iops_rd")
    iops_wr: int = Field(alias="iops_wr")
    image: ImageInfo
    cache: BlockdevCacheInfo
    write_threshold: int = Field(alias="write_threshold")


class BlockInfo(QapiStruct):
    device: str
    qdev: str | None = None
    type: str
    removable: bool
    locked: bool
    inserted: BlockDeviceInfo | None = None
    tray_open: bool | None = Field(default=None, alias="tray_open")
    io_status: BlockDeviceIoStatus | None = None


class BlockDeviceTimedStats(QapiStruct):
    interval_length: int = Field(alias="interval_length")
    min_rd_latency_ns: int = Field(alias="min_rd_latency_ns")
    max_rd_latency_ns: int = Field(alias="max_rd_latency_ns")
    avg_rd_latency_ns: int = Field(alias="avg_rd_latency_ns")
    min_wr_latency_ns: int = Field(alias="min_wr_latency_ns")
    max_wr_latency_ns: int = Field(alias="max_wr_latency_ns")
    avg_wr_latency_ns: int = Field(alias="avg_wr_latency_ns")
    min_flush_latency_ns: int = Field(alias="min_flush_latency_ns")
    max_flush_latency_ns: int = Field(alias="max_flush_latency_ns")
    avg_flush_latency_ns: int = Field(alias="avg_flush_latency_ns")
    avg_rd_queue_depth: float = Field(alias="avg_rd_queue_depth")
    avg_wr_queue_depth: float = Field(alias="avg_wr_queue_depth")


class BlockLatencyHistogramInfo(QapiStruct):
    boundaries: list[int]
    bins: list[int]


class BlockDeviceStats(QapiStruct):
    rd_bytes: int = Field(alias="rd_bytes")
    wr_bytes: int = Field(alias="wr_bytes")
    unmap_bytes: int = Field(alias="unmap_bytes")
    rd_operations: int = Field(alias="rd_operations")
    wr_operations: int = Field(alias="wr_operations")
    flush_operations: int = Field(alias="flush_operations")
    unmap_operations: int = Field(alias="unmap_operations")
    rd_total_time_ns: int = Field(alias="rd_total_time_ns")
    wr_total_time_ns: int = Field(alias="wr_total_time_ns")
    flush_total_time_ns: int = Field(alias="flush_total_time_ns")
    unmap_total_time_ns: int = Field(alias="unmap_total_time_ns")
    wr_highest_offset: int = Field(alias="wr_highest_offset")
    rd_merged: int = Field(alias="rd_merged")
    wr_merged: int = Field(alias="wr_merged")
    unmap_merged: int = Field(alias="unmap_merged")
    idle_time_ns: int | None = Field(default=None, alias="idle_time_ns")
    failed_rd_operations: int = Field(alias="failed_rd_operations")
    failed_wr_operations: int = Field(alias="failed_wr_operations")
    failed_flush_operations: int = Field(alias="failed_flush_operations")
    failed_unmap_operations: int = Field(alias="failed_unmap_operations")
    invalid_rd_operations: int = Field(alias="invalid_rd_operations")
    invalid_wr_operations: int = Field(alias="invalid_wr_operations")
    invalid_flush_operations: int = Field(alias="invalid_flush_operations")
    invalid_unmap_operations: int = Field(alias="invalid_unmap_operations")
    account_invalid: bool = Field(alias="account_invalid")
    account_failed: bool = Field(alias="account_failed")
    timed_stats: list[BlockDeviceTimedStats] = Field(alias="timed_stats")
    rd_latency_histogram: BlockLatencyHistogramInfo | None = Field(default=None, alias="rd_latency_histogram")
    wr_latency_histogram: BlockLatencyHistogramInfo | None = Field(default=None, alias="wr_latency_histogram")
    flush_latency_histogram: BlockLatencyHistogramInfo | None = Field(
        default=None, alias="flush_latency_histogram"
    )


class BlockStats(QapiStruct):
    """QEMU's BlockStats without its driver-specific, parent and backing members."""

    device: str | None = None
    qdev: str | None = None
    node_name: str | None = None
    stats: BlockDeviceStats


class QueryBlockstatsArgs(QapiStruct):
    query_nodes: bool | None = None


class QueryNamedBlockNodesArgs(QapiStruct):
    flat: bool | None = None


COMMANDS = (
    CommandSpec("query-block", "The guest's block devices (vmd has none).", returns=list[BlockInfo]),
    CommandSpec(
        "query-named-block-nodes",
        "The block graph's named nodes (vmd has none).",
        args=QueryNamedBlockNodesArgs,
        returns=list[BlockDeviceInfo],
    ),
    CommandSpec(
        "query-blockstats",
        "Statistics of the guest's block devices (vmd has none).",
        args=QueryBlockstatsArgs,
        returns=list[BlockStats],
    ),
)
