"""CPUs: the hot-pluggable slots, the present vCPUs, machine types and CPU models (QEMU 7.2 shapes)."""

from __future__ import annotations

from typing import ClassVar

from vmd.qapi.machine import SysEmuTarget
from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import QapiDeclaredEnum, QapiStruct


class CpuInstanceProperties(QapiStruct):
    """A slot's address.  x86 shows socket/core/thread, die only with dies > 1, node with NUMA."""

    node_id: int | None = None
    socket_id: int | None = None
    die_id: int | None = None
    cluster_id: int | None = None
    core_id: int | None = None
    thread_id: int | None = None


class HotpluggableCPU(QapiStruct):
    type: str
    vcpus_count: int
    props: CpuInstanceProperties
    qom_path: str | None = None


class CpuS390State(QapiDeclaredEnum):
    UNINITIALIZED = "uninitialized"
    STOPPED = "stopped"
    CHECK_STOP = "check-stop"
    OPERATING = "operating"
    LOAD = "load"


class CpuInfoS390(QapiStruct):
    cpu_state: CpuS390State


class CpuInfoFast(QapiStruct):
    """A present vCPU; a union on `target` (only s390x adds members)."""

    qapi_tag: ClassVar[str] = "target"
    qapi_variants: ClassVar[dict[str, type[QapiStruct]]] = {"s390x": CpuInfoS390}

    cpu_index: int
    qom_path: str
    thread_id: int
    props: CpuInstanceProperties | None = None
    target: SysEmuTarget


class MachineInfo(QapiStruct):
    name: str
    alias: str | None = None
    is_default: bool | None = None
    cpu_max: int
    hotpluggable_cpus: bool
    numa_mem_supported: bool
    deprecated: bool
    default_cpu_type: str | None = None
    default_ram_id: str | None = None


class CpuDefinitionInfo(QapiStruct):
    name: str
    migration_safe: bool | None = None
    static: bool
    unavailable_features: list[str] | None = None
    typename: str
    alias_of: str | None = None
    deprecated: bool


COMMANDS = (
    CommandSpec(
        "query-hotpluggable-cpus",
        "Every possible CPU slot, highest first: its type, address (props) and, if plugged, qom-path.",
        returns=list[HotpluggableCPU],
        allow_preconfig=True,
    ),
    CommandSpec(
        "query-cpus-fast",
        "The present vCPUs in creation order, each with its real host thread id.",
        returns=list[CpuInfoFast],
    ),
    CommandSpec("query-machines", "The machine types vmd offers.", returns=list[MachineInfo]),
    CommandSpec("query-cpu-definitions", "The x86 CPU models vmd knows.", returns=list[CpuDefinitionInfo]),
)
