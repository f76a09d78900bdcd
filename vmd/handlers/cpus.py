"""CPU slots, present vCPUs, machine types and CPU models."""

from __future__ import annotations

import weakref

from vmd.boards.catalog import catalog
from vmd.errors import GenericError
from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.json.writer import Encoded, encode
from vmd.machine.slots import SlotTable
from vmd.qapi.compiled import CpuDefinitionInfo, CpuInfoFast, MachineInfo
from vmd.qapi.runtime import WireStruct, wire_value

# What a vCPU's query-cpus-fast entry shows that can change: cpu-index, QOM path, thread id, the
# target's members.
_CpuKey = tuple[int, str, int, WireStruct | None]


class _EncodedListing:
    """query-hotpluggable-cpus of one slot table, kept encoded: clients poll it far more often than
    CPUs come and go, and at thousands of slots encoding is nearly all the cost.  Each slot's entry
    is encoded once; a plug or unplug re-encodes only the slots whose occupant changed."""

    def __init__(self, slots: SlotTable) -> None:
        self._entries = [encode(wire_value(entry)) for entry in slots.hotpluggable()]  # highest first
        self._occupants = {slot: device.qom_path for slot, device in slots.devices.items()}
        self._generation = slots.generation
        self._text = Encoded("[" + ", ".join(self._entries) + "]")

    def current(self, slots: SlotTable) -> Encoded:
        if slots.generation != self._generation:
            occupants = {slot: device.qom_path for slot, device in slots.devices.items()}
            last = len(self._entries) - 1
            for index in occupants.keys() | self._occupants.keys():
                if occupants.get(index) != self._occupants.get(index):
                    self._entries[last - index] = encode(wire_value(slots.entry(index)))
            self._occupants = occupants
            self._generation = slots.generation
            self._text = Encoded("[" + ", ".join(self._entries) + "]")
        return self._text


_listings: weakref.WeakKeyDictionary[SlotTable, _EncodedListing] = weakref.WeakKeyDictionary()


def hotpluggable_slots(ctx: CommandContext) -> SlotTable:
    """The slot table query-hotpluggable-cpus (and HMP's info hotpluggable-cpus) lists, or QEMU's
    refusal on a machine without CPU hotplug."""
    if not ctx.vm.board.hotpluggable_cpus:
        raise GenericError("The feature 'query-hotpluggable-cpus' is not enabled")
    return ctx.vm.slots


@handles("query-hotpluggable-cpus")
def query_hotpluggable_cpus(ctx: CommandContext, args: None) -> Encoded:
    slots = hotpluggable_slots(ctx)
    listing = _listings.get(slots)
    if listing is None:
        listing = _listings[slots] = _EncodedListing(slots)
    return listing.current(slots)


class _EncodedCpus:
    """query-cpus-fast of one slot table, each vCPU's entry kept encoded under what it shows that
    can change (its QOM path, thread id, and the target's members, s390x's cpu-state): with 255
    vCPUs encoding the list afresh took milliseconds of the event loop, most of it the same text
    as the time before."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[_CpuKey, str]] = {}
        self._keys: list[_CpuKey] = []
        self._text = Encoded("[]")

    def current(self, ctx: CommandContext) -> Encoded:
        vcpus, cpus = ctx.vm.vcpus, ctx.vm.cpu_manager.cpus
        keys: list[_CpuKey] = [
            (index, path, vcpus.thread_id(index), cpus.fast_info(index))
            for index, path in ctx.vm.slots.present_vcpus()
        ]
        if keys != self._keys:
            entries = {}
            for key in keys:
                old = self._entries.get(key[0])
                entries[key[0]] = old if old is not None and old[0] == key else (key, _encode_cpu(ctx, key))
            self._entries = entries
            self._keys = keys
            self._text = Encoded("[" + ", ".join(entries[key[0]][1] for key in keys) + "]")
        return self._text


_cpu_listings: weakref.WeakKeyDictionary[SlotTable, _EncodedCpus] = weakref.WeakKeyDictionary()


def _encode_cpu(ctx: CommandContext, key: _CpuKey) -> str:
    index, path, tid, branch = key
    info = CpuInfoFast(
        cpu_index=index,
        qom_path=path,
        thread_id=tid,
        props=ctx.vm.slots.vcpu_props(index),
        target=ctx.vm.board.target,
        branch=branch,
    )
    return str(encode(wire_value(info)))


@handles("query-cpus-fast")
def query_cpus_fast_encoded(ctx: CommandContext, args: None) -> Encoded:
    listing = _cpu_listings.get(ctx.vm.slots)
    if listing is None:
        listing = _cpu_listings[ctx.vm.slots] = _EncodedCpus()
    return listing.current(ctx)


def query_cpus_fast(ctx: CommandContext, args: None) -> list[CpuInfoFast]:
    """The same list as objects (HMP's info cpus formats it)."""
    slots, vcpus, target = ctx.vm.slots, ctx.vm.vcpus, ctx.vm.board.target
    cpus = ctx.vm.cpu_manager.cpus  # the board's: the members of its target's variant
    return [
        CpuInfoFast(
            cpu_index=index,
            qom_path=path,
            thread_id=vcpus.thread_id(index),
            props=slots.vcpu_props(index),
            target=target,
            branch=cpus.fast_info(index),
        )
        for index, path in slots.present_vcpus()
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
        for board in catalog(ctx.vm.board.target).boards.values()
    ]


@handles("query-cpu-definitions")
def query_cpu_definitions(ctx: CommandContext, args: None) -> list[CpuDefinitionInfo]:
    # alias-of names the versioned model the alias stands for on this machine type.
    models = ctx.vm.board.cpu_models()
    features = models.reports_cpu_features
    return [
        CpuDefinitionInfo(
            name=model.name,
            migration_safe=model.migration_safe if features else None,
            static=model.static,
            unavailable_features=None
            if model.unavailable_features is None or not features
            else list(model.unavailable_features),
            typename=model.typename,
            alias_of=model.alias_of if models.show_aliases else None,
            deprecated=model.deprecated,
        )
        for model in models.models.values()
    ]
