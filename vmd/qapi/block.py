"""Block devices, as QEMU 7.2 reports them: vmd has none yet.

query-block and query-named-block-nodes answer with empty lists (libvirt asks both when it
starts and reconnects to a domain).  The element types carry QEMU's member names, so a client
reading query-qmp-schema sees the shapes it knows; the deeper parts of QEMU's types that only a
real block layer fills (format-specific image data, snapshots, backing chains, dirty bitmaps)
are left out.
"""

from __future__ import annotations

from pydantic import Field

from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import QapiEnum, QapiStruct


class BlockdevDetectZeroesOptions(QapiEnum):
    OFF = "off"
    ON = "on"
    UNMAP = "unmap"


class BlockDeviceIoStatus(QapiEnum):
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
)
