"""CPUs: the hot-pluggable slots, the present vCPUs, machine types and CPU models (QEMU 7.2 shapes)."""

from __future__ import annotations

from typing import ClassVar

from vmd.qapi.machine import SysEmuTarget
from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import Any_, QapiDeclaredEnum, QapiStruct


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


class CpuModelInfo(QapiStruct):
    """A CPU model: its name and, as `props`, the properties (features) set on it."""

    name: str
    props: Any_ | None = None


class CpuModelExpansionType(QapiDeclaredEnum):
    STATIC = "static"
    FULL = "full"


class CpuModelCompareResult(QapiDeclaredEnum):
    INCOMPATIBLE = "incompatible"
    IDENTICAL = "identical"
    SUPERSET = "superset"
    SUBSET = "subset"


class CpuModelExpansionArgs(QapiStruct):
    type: CpuModelExpansionType
    model: CpuModelInfo


class CpuModelExpansionInfo(QapiStruct):
    model: CpuModelInfo


class CpuModelPairArgs(QapiStruct):
    modela: CpuModelInfo
    modelb: CpuModelInfo


class CpuModelCompareInfo(QapiStruct):
    result: CpuModelCompareResult
    responsible_properties: list[str]


class CpuModelBaselineInfo(QapiStruct):
    model: CpuModelInfo


# QEMU has query-cpu-model-expansion on s390x, x86 and ARM, the other two on s390x only; vmd
# answers them where it has the CPU model data (s390x).
_S390X = ("s390x",)

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
    CommandSpec(
        "query-cpu-model-expansion",
        "A CPU model as a static base model with its features as props (static: the differences; "
        "full: every feature).",
        args=CpuModelExpansionArgs,
        returns=CpuModelExpansionInfo,
        targets=_S390X,
    ),
    CommandSpec(
        "query-cpu-model-comparison",
        "How two CPU models compare (identical, superset, subset, incompatible), and why.",
        args=CpuModelPairArgs,
        returns=CpuModelCompareInfo,
        targets=_S390X,
    ),
    CommandSpec(
        "query-cpu-model-baseline",
        "The static CPU model that both given models can run.",
        args=CpuModelPairArgs,
        returns=CpuModelBaselineInfo,
        targets=_S390X,
    ),
)
