"""query-stats and query-stats-schemas: the vCPU engine's counters, under vmd's own provider.

Filtering follows QEMU 7.2 (monitor/qmp-cmds.c): no `providers` means every
provider; each request in `providers` is answered on its own (so a provider
asked twice answers twice); `names: []` or a `vcpus: []` filter selects
nothing; a result whose stats were all filtered out is left out; vCPU paths
match exactly.  The `kvm` provider has nothing to report: vmd never uses KVM.
"""

from __future__ import annotations

from collections.abc import Callable

from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.machine.cpu_manager import PlugTimes
from vmd.machine.vm import VirtualMachine
from vmd.qapi.compiled import (
    QueryStatsSchemasArgs,
    Stats,
    StatsFilter,
    StatsProvider,
    StatsResult,
    StatsSchema,
    StatsSchemaValue,
    StatsTarget,
    StatsType,
    StatsUnit,
    StatsVCPUFilter,
)
from vmd.records import dataclass
from vmd.vcpu import ExitReason, VcpuState, VcpuStats

OWN = StatsProvider.VMD_ENGINE


@dataclass(frozen=True, slots=True)
class _Stat:
    name: str
    type: StatsType
    unit: StatsUnit | None = None
    exponent: int = 0


@dataclass(frozen=True, slots=True)
class _VcpuStat(_Stat):
    read: Callable[[VcpuStats], int | bool] = lambda _: 0


@dataclass(frozen=True, slots=True)
class _PlugStat(_Stat):
    """A phase of the vCPU's latest hot-add, in ns from device_add (0 for boot CPUs, or not yet)."""

    read: Callable[[PlugTimes], int] = lambda _: 0


@dataclass(frozen=True, slots=True)
class _VmStat(_Stat):
    read: Callable[[VirtualMachine], int | bool] = lambda _: 0


_C, _I = StatsType.CUMULATIVE, StatsType.INSTANT

# Names are unique across targets (libvirt keys its schema cache by name alone).
VCPU_STATS: tuple[_VcpuStat, ...] = (
    _VcpuStat("instructions", _C, read=lambda s: s.instructions),
    _VcpuStat("exits", _C, read=lambda s: sum(s.exits.values())),
    _VcpuStat("io_exits", _C, read=lambda s: s.exits[ExitReason.IO]),
    _VcpuStat("kick_exits", _C, read=lambda s: s.exits[ExitReason.KICK]),
    _VcpuStat("fault_exits", _C, read=lambda s: s.exits[ExitReason.FAULT]),
    _VcpuStat("halts", _C, read=lambda s: s.halts),
    _VcpuStat("halt_wait_ns", _C, StatsUnit.SECONDS, -9, read=lambda s: s.halted_ns),
    _VcpuStat("pauses", _C, read=lambda s: s.pauses),
    _VcpuStat("plugs", _C, read=lambda s: s.plugs),
    _VcpuStat("blocking", _I, StatsUnit.BOOLEAN, read=lambda s: s.state is VcpuState.HALTED),
)
_NS = StatsUnit.SECONDS
PLUG_STATS: tuple[_PlugStat, ...] = (
    _PlugStat("hotplug_thread_ns", _I, _NS, -9, read=lambda t: t.since_request(t.thread_running)),
    _PlugStat("hotplug_guest_ns", _I, _NS, -9, read=lambda t: t.since_request(t.guest_notified)),
    _PlugStat("hotplug_online_ns", _I, _NS, -9, read=lambda t: t.since_request(t.online)),
)


def _last_unplug(vm: VirtualMachine, phase: str) -> int:
    last = vm.cpu_manager.record.last_unplug
    return 0 if last is None else int(getattr(last, phase)) - last.requested


VM_STATS: tuple[_VmStat, ...] = (
    _VmStat("present_vcpus", _I, read=lambda vm: len(vm.vcpus.present())),
    _VmStat("parked_vcpus", _I, read=lambda vm: len(vm.vcpus.parked())),
    _VmStat("hot_adds", _C, read=lambda vm: vm.cpu_manager.record.hot_adds),
    _VmStat("unplugs", _C, read=lambda vm: vm.cpu_manager.record.unplugs),
    _VmStat("unplug_eject_ns", _I, _NS, -9, read=lambda vm: _last_unplug(vm, "ejected")),
    _VmStat("unplug_deleted_ns", _I, _NS, -9, read=lambda vm: _last_unplug(vm, "deleted")),
    # How busy the guest keeps its online CPUs, in percent (its load policy); what they really
    # did shows in each vCPU's halt_wait_ns over time.
    _VmStat("guest_load_percent", _I, read=lambda vm: vm.guest.load_percent),
)


def _schema_value(stat: _Stat) -> StatsSchemaValue:
    # QEMU gives `base` only with a non-zero exponent.
    return StatsSchemaValue(
        name=stat.name,
        type=stat.type,
        unit=stat.unit,
        base=10 if stat.exponent else None,
        exponent=stat.exponent,
    )


def _selected(stats: tuple[_Stat, ...], names: list[str] | None) -> list[_Stat]:
    return list(stats) if names is None else [stat for stat in stats if stat.name in names]


def _own_results(
    vm: VirtualMachine, target: StatsTarget, names: list[str] | None, vcpus: list[str] | None
) -> list[StatsResult]:
    if target is StatsTarget.VM:
        vm_stats = [s for s in _selected(VM_STATS, names) if isinstance(s, _VmStat)]
        if not vm_stats:
            return []
        return [StatsResult(provider=OWN, stats=[Stats(name=s.name, value=s.read(vm)) for s in vm_stats])]
    vcpu_stats = [s for s in _selected(VCPU_STATS, names) if isinstance(s, _VcpuStat)]
    plug_stats = [s for s in _selected(PLUG_STATS, names) if isinstance(s, _PlugStat)]
    if not vcpu_stats and not plug_stats:
        return []
    results = []
    plugs = vm.cpu_manager.record.plugs
    layout = vm.slots.layout
    for index, path in sorted(vm.slots.present_vcpus()):
        if vcpus is not None and path not in vcpus:
            continue
        counters = vm.vcpus.stats(index)
        values = [Stats(name=s.name, value=s.read(counters)) for s in vcpu_stats]
        times = plugs.get(layout.slot_of(index))  # a vCPU's hot-add is its slot's
        values += [Stats(name=s.name, value=s.read(times) if times else 0) for s in plug_stats]
        results.append(StatsResult(provider=OWN, qom_path=path, stats=values))
    return results


@handles("query-stats")
def query_stats(ctx: CommandContext, args: StatsFilter) -> list[StatsResult]:
    vcpus = args.branch.vcpus if isinstance(args.branch, StatsVCPUFilter) else None
    if args.providers is None:
        return _own_results(ctx.vm, args.target, None, vcpus)
    results: list[StatsResult] = []
    for request in args.providers:
        if request.provider is OWN:
            results += _own_results(ctx.vm, args.target, request.names, vcpus)
    return results


@handles("query-stats-schemas")
def query_stats_schemas(ctx: CommandContext, args: QueryStatsSchemasArgs) -> list[StatsSchema]:
    if args.provider not in (None, OWN):
        return []
    return [
        StatsSchema(
            provider=OWN,
            target=StatsTarget.VCPU,
            stats=[_schema_value(s) for s in (*VCPU_STATS, *PLUG_STATS)],
        ),
        StatsSchema(provider=OWN, target=StatsTarget.VM, stats=[_schema_value(s) for s in VM_STATS]),
    ]
