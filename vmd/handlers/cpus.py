"""CPU slots, present vCPUs, machine types and CPU models."""

from __future__ import annotations

import weakref

from vmd.errors import GenericError
from vmd.handlers.context import CommandContext
from vmd.handlers.registry import handles
from vmd.machine.boards import BOARDS
from vmd.machine.cpu_models import CPU_MODELS
from vmd.machine.cpus import CpuSlots
from vmd.qapi.compiled import CpuDefinitionInfo, CpuInfoFast, MachineInfo, SysEmuTarget
from vmd.qapi.runtime import wire_value
from vmd.qmp.jsonwire import Encoded, encode

# The encoded slot listing per slot table, with the generation it was built at: clients poll it
# far more often than CPUs come and go, and at thousands of slots encoding is most of the cost.
_listings: weakref.WeakKeyDictionary[CpuSlots, tuple[int, Encoded]] = weakref.WeakKeyDictionary()


@handles("query-hotpluggable-cpus")
def query_hotpluggable_cpus(ctx: CommandContext, args: None) -> Encoded:
    if not ctx.vm.board.hotpluggable_cpus:
        raise GenericError("The feature 'query-hotpluggable-cpus' is not enabled")
    slots = ctx.vm.cpus
    cached = _listings.get(slots)
    if cached is None or cached[0] != slots.generation:
        cached = (slots.generation, Encoded(encode(wire_value(slots.hotpluggable()))))
        _listings[slots] = cached
    return cached[1]


@handles("query-cpus-fast")
def query_cpus_fast(ctx: CommandContext, args: None) -> list[CpuInfoFast]:
    cpus, vcpus = ctx.vm.cpus, ctx.vm.vcpus
    return [
        CpuInfoFast(
            cpu_index=index,
            qom_path=device.qom_path,
            thread_id=vcpus.thread_id(index),
            props=cpus.props(index),
            target=SysEmuTarget.X86_64,
        )
        for index, device in cpus.devices.items()
    ]


@handles("query-machines")
def query_machines(ctx: CommandContext, args: None) -> list[MachineInfo]:
    return [
        MachineInfo(
            name=board.name,
            alias=board.alias,
            is_default=True if board.is_default else None,
            cpu_max=board.cpu_max,
            hotpluggable_cpus=board.hotpluggable_cpus,
            numa_mem_supported=board.numa_mem_supported,
            deprecated=board.deprecated,
            default_cpu_type=board.default_cpu_type,
            default_ram_id=board.default_ram_id,
        )
        for board in BOARDS.values()
    ]


@handles("query-cpu-definitions")
def query_cpu_definitions(ctx: CommandContext, args: None) -> list[CpuDefinitionInfo]:
    # alias-of names the versioned model the alias stands for on this machine type.
    versioned = ctx.vm.board.versioned_cpu_models
    return [
        CpuDefinitionInfo(
            name=model.name,
            migration_safe=model.migration_safe,
            static=model.static,
            unavailable_features=list(model.unavailable_features),
            typename=model.typename,
            alias_of=model.alias_of if versioned else None,
            deprecated=model.deprecated,
        )
        for model in CPU_MODELS.values()
    ]
