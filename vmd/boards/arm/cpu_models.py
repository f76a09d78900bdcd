"""qemu-system-aarch64 7.2's CPU models: the 42 of query-cpu-definitions, which of them the virt
board takes, and which are 64-bit (AArch64) models.

Captured from the binary (query-cpu-definitions, `-cpu help`, and `-M virt -cpu X` for each
model): every model is `<name>-arm-cpu`, none is static, deprecated or migration-safe-reported
(7.2's ARM query-cpu-definitions has no migration-safe and no unavailable-features members);
`-cpu help` lists the names sorted by type name under "Available CPUs:".  virt accepts ten models
under TCG (its valid_cpus: the 32-bit cortex-a7 and cortex-a15, and the 64-bit rest); `host`
exists only with KVM, so `-cpu host` is an unknown model here as in QEMU under TCG.
"""

from __future__ import annotations

from functools import cache

from vmd.machine.cpu_catalog import CpuCatalog, CpuModel

TYPE_SUFFIX = "-arm-cpu"
ABSTRACT_CPU_TYPES = frozenset({"arm-cpu", "aarch64-cpu"})
DEFAULT_CPU_TYPE = "cortex-a15-arm-cpu"  # virt's default, a 32-bit CPU

# query-cpu-definitions order, as qemu-system-aarch64 7.2 answers it (its hash table's order).
_QUERY_ORDER_NAMES = """
    pxa270-c0 cortex-a15 pxa270-b0 cortex-m4 cortex-a57 pxa270-a0 arm1176 pxa270-b1 cortex-a7
    pxa270-a1 cortex-a76 a64fx cortex-a8 cortex-r5 ti925t cortex-r5f arm1026 cortex-a9 cortex-m7
    pxa270 pxa260 pxa250 pxa270-c5 pxa261 pxa262 sa1110 sa1100 max cortex-a53 cortex-m0 cortex-m33
    cortex-a72 arm946 pxa255 arm11mpcore cortex-m55 neoverse-n1 arm926 arm1136 cortex-a35
    arm1136-r2 cortex-m3
"""
_QUERY_ORDER = tuple(_QUERY_ORDER_NAMES.split())

# The 64-bit models (their type derives from aarch64-cpu; only these can be hot-plugged).
AARCH64_MODELS = frozenset({"a64fx", "cortex-a35", "cortex-a53", "cortex-a57", "cortex-a72", "cortex-a76",
                            "neoverse-n1", "max"})  # fmt: skip
# What virt's machvirt_init accepts under TCG (others: "mach-virt: CPU type X not supported").
VIRT_MODELS = AARCH64_MODELS | {"cortex-a7", "cortex-a15"}


def typename(name: str) -> str:
    return name + TYPE_SUFFIX


def is_aarch64(cpu_type: str) -> bool:
    return cpu_type.removesuffix(TYPE_SUFFIX) in AARCH64_MODELS


@cache
def catalog() -> CpuCatalog:
    models = [
        CpuModel(
            name=name,
            typename=typename(name),
            alias_of=None,
            static=False,
            migration_safe=False,
            deprecated=False,
            description="",
            unavailable_features=(),
            qom_parent="aarch64-cpu" if name in AARCH64_MODELS else "arm-cpu",
        )
        for name in _QUERY_ORDER
    ]
    return CpuCatalog(
        models,
        sorted(models, key=lambda model: model.typename),
        show_aliases=False,
        help_prefix="",
        help_style="arm",
        reports_cpu_features=False,
    )
