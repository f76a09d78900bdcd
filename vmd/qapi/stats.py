"""Statistics: query-stats and query-stats-schemas, in QEMU 7.2's shapes (qapi/stats.json).

QEMU 7.2 knows one provider, `kvm`; under TCG it registers none and answers
every query with `[]`.  vmd keeps `kvm` (clients such as libvirt ask for it by
name, and get `[]` because vmd has no KVM) and adds its own engine's counters as
the downstream provider `__com.vmd_engine`, named as the QMP spec asks
extensions to be named.
"""

from __future__ import annotations

from typing import ClassVar

from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import Int8, Int16, QapiDeclaredEnum, QapiStruct, UInt32, UInt64


class StatsType(QapiDeclaredEnum):
    CUMULATIVE = "cumulative"
    INSTANT = "instant"
    PEAK = "peak"
    LINEAR_HISTOGRAM = "linear-histogram"
    LOG2_HISTOGRAM = "log2-histogram"


class StatsUnit(QapiDeclaredEnum):
    BYTES = "bytes"
    SECONDS = "seconds"
    CYCLES = "cycles"
    BOOLEAN = "boolean"


class StatsProvider(QapiDeclaredEnum):
    KVM = "kvm"
    VMD_ENGINE = "__com.vmd_engine"


class StatsTarget(QapiDeclaredEnum):
    VM = "vm"
    VCPU = "vcpu"


class StatsRequest(QapiStruct):
    provider: StatsProvider
    names: list[str] | None = None


class StatsVCPUFilter(QapiStruct):
    vcpus: list[str] | None = None


class StatsFilter(QapiStruct):
    """What to report: a flat union on `target`; only `vcpu` has members of its own."""

    qapi_tag: ClassVar[str] = "target"
    qapi_variants: ClassVar[dict[str, type[QapiStruct]]] = {"vcpu": StatsVCPUFilter}

    target: StatsTarget
    providers: list[StatsRequest] | None = None


class Stats(QapiStruct):
    name: str
    value: UInt64 | bool | list[UInt64]


class StatsResult(QapiStruct):
    provider: StatsProvider
    qom_path: str | None = None
    stats: list[Stats]


class StatsSchemaValue(QapiStruct):
    name: str
    type: StatsType
    unit: StatsUnit | None = None
    base: Int8 | None = None
    exponent: Int16
    bucket_size: UInt32 | None = None


class StatsSchema(QapiStruct):
    provider: StatsProvider
    target: StatsTarget
    stats: list[StatsSchemaValue]


class QueryStatsSchemasArgs(QapiStruct):
    provider: StatsProvider | None = None


COMMANDS = (
    CommandSpec(
        "query-stats",
        "Counters of the VM or of its vCPUs, per provider (vmd: its engine's, never KVM's).",
        args=StatsFilter,
        returns=list[StatsResult],
    ),
    CommandSpec(
        "query-stats-schemas",
        "What query-stats reports: each statistic's name, type and unit, per provider and target.",
        args=QueryStatsSchemasArgs,
        returns=list[StatsSchema],
    ),
)
