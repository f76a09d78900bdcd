"""NUMA: what QEMU 7.2 makes of -numa and the memory backends memdev= names.

`resolve_numa` replays hw/core/numa.c and hw/core/machine.c: each -numa option is
applied in command-line order (node, cpu, dist, hmat-lb, hmat-cache), then the configuration is
completed (node ids without holes, node memory adding up to -m, each memdev used once, the distance
table) and every CPU slot gets its node.  The result is a `NumaLayout`, or `None` when the machine
has no NUMA (no -numa and no memory hotplug to enable it implicitly), or `NumaError` with QEMU's
message.

Where a slot's node comes from, in QEMU's precedence:

1. `-numa node,cpus=A-B` (by cpu-index: the slot holding that vCPU) and `-numa cpu,node-id=N,<ids>`
   (every slot whose ids match the ones given; an id the board's slots do not have is refused); a
   slot assigned twice must get the same node both times;
2. if no slot was assigned at all, the board's default mapping (x86: node = socket-id % nodes);
3. otherwise the slots left over go to node 0, with two warnings.

Messages: QEMU prints `qemu-system-x86_64: ` and, for an error or warning about one -numa option,
that option as typed (`-numa node,cpus=4: `), then the message; after the option has been
processed there is no location any more (`numa: Node ID missing: 1`).  The configs do not keep the
option text, so the caller passes it as `option_texts` if it wants the location in the strings;
`NumaError.option` says which option an error is about either way.

Every string here was checked against qemu-system-x86_64 7.2 (tests/integration/
test_numa_vs_qemu.py).  Not emulated: `-machine hmat=on` (vmd has no HMAT: `initiator=`, hmat-lb
and hmat-cache are refused as QEMU refuses them without it), `-machine memory-backend` together
with memdev=, memory backends shared with -device pc-dimm, and a `-numa cpu` node-id outside
0..127, for which QEMU reads outside its node table (it accepts -1 and -10, refuses -2, crashes on
100000): here it is always the "Invalid node-id" refusal QEMU gives for most such values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import field

from vmd.config import (
    JsonValue,
    MemoryConfig,
    NumaConfig,
    NumaCpuConfig,
    NumaDistConfig,
    NumaNodeConfig,
    NumaRawConfig,
    ObjectConfig,
)
from vmd.machine.board import Board
from vmd.machine.slots import SlotLayout
from vmd.machine.topology import Topology
from vmd.qapi.compiled import CpuInstanceProperties
from vmd.records import dataclass

MAX_NODES = 128  # node ids are 0..127
LOCAL_DISTANCE = 10  # the distance of a node to itself, and the smallest distance there is

# The -object types that are memory backends (subclasses of QEMU's memory-backend).
MEMORY_BACKEND_TYPES = frozenset(
    {"memory-backend-ram", "memory-backend-file", "memory-backend-memfd", "memory-backend-epc"}
)

HMAT_DISABLED = (
    "ACPI Heterogeneous Memory Attribute Table (HMAT) is disabled, enable it with -machine hmat=on "
    "before using any of hmat specific options"
)
MEM_DEPRECATED = "Parameter -numa node,mem is deprecated, use -numa node,memdev instead"
PARTIAL_MAPPING = (
    "All CPU(s) up to maxcpus should be described in NUMA config, ability to start up with partial "
    "NUMA mappings is obsoleted and will be removed in future"
)


class NumaError(Exception):
    """A NUMA configuration QEMU 7.2 refuses.

    `str()` is what QEMU prints after `qemu-system-x86_64: `: the message, preceded by
    `-numa <option as typed>: ` when the error is about one option and its text was passed to
    `resolve_numa`.  `detail` is the message alone; `option` the index (into the `numa` sequence)
    of the option QEMU names, None for errors found after all options were read.  `hint` is a line
    QEMU prints on its own after the error, `warnings` the warning lines printed before it (in the
    form of `NumaLayout.warnings`).
    """

    def __init__(
        self,
        detail: str,
        *,
        option: int | None = None,
        location: str | None = None,
        hint: str | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        super().__init__(detail if location is None else f"{location}: {detail}")
        self.detail = detail
        self.option = option
        self.hint = hint
        self.warnings: tuple[str, ...] = tuple(warnings)


@dataclass(frozen=True, slots=True)
class NumaNode:
    """One guest node: its id, its memory and, with memdev=, the id of the backend holding it."""

    node_id: int
    mem_bytes: int
    memdev: str | None = None


@dataclass(frozen=True, slots=True)
class NumaLayout:
    """The NUMA configuration QEMU 7.2 ends up with.

    `nodes` by id (ids are 0..len-1); `slot_nodes` the node of every possible CPU slot, by slot
    index, which is the `node-id` query-hotpluggable-cpus shows in each slot's props (feed it to
    the slot table); `distances[src][dst]` the completed distance table, None without
    -numa dist; `implicit`: QEMU made node 0 by itself because memory hotplug needs NUMA.
    `warnings` are the warning lines in order, each as QEMU prints it after `qemu-system-x86_64: `
    (`warning: ...`, or `-numa node,mem=64M: warning: ...` when tied to an option); they do not
    take part in comparisons.
    """

    nodes: tuple[NumaNode, ...]
    slot_nodes: tuple[int, ...]
    distances: tuple[tuple[int, ...], ...] | None = None
    implicit: bool = False
    warnings: tuple[str, ...] = field(default=(), compare=False)


def resolve_numa(
    numa: Sequence[NumaConfig],
    objects: Sequence[ObjectConfig],
    topology: Topology,
    board: Board,
    memory: MemoryConfig,
    option_texts: Sequence[str] | None = None,
) -> NumaLayout | None:
    """The NUMA layout QEMU 7.2 builds for these -numa options, or None for a machine without NUMA.

    `objects` are the -object options (memdev= looks memory backends up among them; each must have
    a valid size, as QEMU refuses the object before it reads -numa).  `memory` is -m: its size must
    be the nodes' total, and its slots/maxmem make QEMU enable NUMA with one node when there is no
    -numa.  `option_texts`, if given, holds each -numa argument as typed, for the locations in
    messages.  Raises NumaError with QEMU's text.
    """
    if option_texts is not None and len(option_texts) != len(numa):
        raise ValueError("option_texts needs one text per -numa option")
    builder = _Builder(objects, topology, board)
    for index, option in enumerate(numa):
        location = None if option_texts is None else f"-numa {option_texts[index]}"
        builder.location = location
        try:
            builder.apply(option)
        except _Refused as refused:
            raise NumaError(
                refused.detail,
                option=index,
                location=location,
                hint=refused.hint,
                warnings=builder.warnings,
            ) from None
    builder.location = None
    implicit = False
    if not builder.nodes:
        if not board.numa_enabled_implicitly(memory):
            return None
        builder.nodes[0] = _Node(memory.size_bytes)
        implicit = True
    try:
        return builder.complete(memory.size_bytes, implicit)
    except _Refused as refused:
        raise NumaError(refused.detail, hint=refused.hint, warnings=builder.warnings) from None


# --- internals ----------------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, detail: str, hint: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint


@dataclass(slots=True)
class _Node:
    mem_bytes: int = 0
    memdev: str | None = None


# The ids a slot may have, in the order QEMU names them in messages (cpu_slot_to_string).
_LEVELS = ("socket", "die", "cluster", "core", "thread")


def _slot_text(props: CpuInstanceProperties) -> str:
    """How QEMU names a slot in the partial-mapping warning: the ids its props have."""
    parts = []
    for level in _LEVELS:
        value = getattr(props, f"{level}_id")
        if value is not None:
            parts.append(f"{level}-id: {value}")
    return ", ".join(parts)


class _Builder:
    """QEMU's NumaState while the options are read; `complete` turns it into a NumaLayout."""

    def __init__(self, objects: Sequence[ObjectConfig], topology: Topology, board: Board) -> None:
        self.topology = topology
        self.board = board
        self.layout: SlotLayout = board.slot_layout(topology, board.default_cpu_type or "")
        self.props = [self.layout.props(slot, None) for slot in range(self.layout.count)]
        self.has_numa = board.numa_supported()
        self.backends: Mapping[str, ObjectConfig] = {
            obj.id: obj for obj in objects if obj.qom_type in MEMORY_BACKEND_TYPES
        }
        self.nodes: dict[int, _Node] = {}
        self.slot_nodes: list[int | None] = [None] * self.layout.count
        self.distances: dict[tuple[int, int], int] = {}
        self.uses_memdev = False
        self.uses_mem = False
        self.warnings: list[str] = []
        self.location: str | None = None

    def warn(self, message: str) -> None:
        self.warnings.append(
            f"warning: {message}" if self.location is None else f"{self.location}: warning: {message}"
        )

    # --- the options, one at a time ---

    def apply(self, option: NumaConfig) -> None:
        if not self.has_numa:
            raise _Refused("NUMA is not supported by this machine-type")
        if isinstance(option, NumaNodeConfig):
            self._node(option)
        elif isinstance(option, NumaCpuConfig):
            self._cpu(option)
        elif isinstance(option, NumaDistConfig):
            self._dist(option)
        else:
            assert isinstance(option, NumaRawConfig)
            raise _Refused(HMAT_DISABLED)  # hmat-lb, hmat-cache

    def _node(self, option: NumaNodeConfig) -> None:
        node_id = len(self.nodes) if option.nodeid is None else option.nodeid
        if node_id >= MAX_NODES:
            raise _Refused(f"Max number of NUMA nodes reached: {node_id}")
        if node_id in self.nodes:
            raise _Refused(f"Duplicate NUMA nodeid: {node_id}")
        if option.initiator is not None:
            raise _Refused(HMAT_DISABLED)
        max_cpus = self.topology.max_cpus
        for first, last in option.cpus:
            # Stops at the first index past the end, so a wide range costs no more than the slots.
            for index in range(first, last + 1):
                if index >= max_cpus:
                    raise _Refused(f"CPU index ({index}) should be smaller than maxcpus ({max_cpus})")
                self._assign(self.layout.slot_of(index), node_id)
        self.uses_memdev = self.uses_memdev or option.memdev is not None
        self.uses_mem = self.uses_mem or option.mem is not None
        if (option.mem is not None and self.uses_memdev) or (option.memdev is not None and self.uses_mem):
            # Sic: no space after the comma.
            raise _Refused("numa configuration should use either mem= or memdev=,mixing both is not allowed")
        node = _Node()
        if option.mem is not None:
            if not self.board.numa_mem_supported:
                raise _Refused(
                    "Parameter -numa node,mem is not supported by this machine type",
                    hint="Use -numa node,memdev instead",
                )
            node.mem_bytes = option.mem
            self.warn(MEM_DEPRECATED)
        if option.memdev is not None:
            backend = self._backend(option.memdev)
            if backend is None:
                # Sic: QEMU says "ambiguous" for a missing object too.
                raise _Refused(f"memdev={option.memdev} is ambiguous")
            node.mem_bytes = backend_size(backend)
            node.memdev = backend.id
        self.nodes[node_id] = node

    def _backend(self, path: str) -> ObjectConfig | None:
        # memdev= is a QOM path: absolute (/objects/ID) or partial (ID, objects/ID); only memory
        # backends count, and user objects live in /objects.
        parts = path.removeprefix("/").split("/")
        if parts[:-1] not in ([], ["objects"]) or (path.startswith("/") and len(parts) != 2):
            return None
        return self.backends.get(parts[-1])

    def _cpu(self, option: NumaCpuConfig) -> None:
        node_id = option.node_id
        if node_id is None:
            raise _Refused("Missing mandatory node-id property")
        if node_id not in self.nodes:
            raise _Refused(
                f"Invalid node-id={node_id}, NUMA node must be defined with -numa node,nodeid=ID "
                "before it's used with -numa cpu,node-id=ID"
            )
        # QEMU refuses an id the board's slots do not have (checking thread, core, cluster, socket,
        # die in that order), then matches every slot whose ids equal the ones given.
        wanted = {
            "thread": option.thread_id,
            "core": option.core_id,
            "cluster": option.cluster_id,
            "socket": option.socket_id,
            "die": option.die_id,
        }
        first = self.props[0]  # every slot of a board has the same ids
        for level, value in wanted.items():
            if value is not None and getattr(first, f"{level}_id") is None:
                raise _Refused(f"{level}-id is not supported")
        matched = False
        for slot, slot_props in enumerate(self.props):
            if all(
                value is None or value == getattr(slot_props, f"{level}_id")
                for level, value in wanted.items()
            ):
                self._assign(slot, node_id)
                matched = True
        if not matched:
            raise _Refused("no match found")

    def _assign(self, index: int, node_id: int) -> None:
        current = self.slot_nodes[index]
        if current is not None and current != node_id:
            raise _Refused(f"CPU is already assigned to node-id: {current}")
        self.slot_nodes[index] = node_id

    def _dist(self, option: NumaDistConfig) -> None:
        src, dst, val = option.src, option.dst, option.val
        if src >= MAX_NODES or dst >= MAX_NODES:
            name = "src" if src >= MAX_NODES else "dst"
            raise _Refused(f"Parameter '{name}' expects an integer between 0 and {MAX_NODES - 1}")
        if src not in self.nodes or dst not in self.nodes:
            raise _Refused(
                "Source/Destination NUMA node is missing. Please use '-numa node' option to declare it first."
            )
        if val < LOCAL_DISTANCE:
            raise _Refused(f"NUMA distance ({val}) is invalid, it shouldn't be less than {LOCAL_DISTANCE}.")
        if src == dst and val != LOCAL_DISTANCE:
            raise _Refused(f"Local distance of node {src} should be {LOCAL_DISTANCE}.")
        self.distances[src, dst] = val

    # --- after the last option ---

    def complete(self, ram_bytes: int, implicit: bool) -> NumaLayout:
        count = max(self.nodes) + 1
        # No holes in the ids; the highest missing one is reported.
        for node_id in reversed(range(count)):
            if node_id not in self.nodes:
                raise _Refused(f"numa: Node ID missing: {node_id}")
        nodes = [self.nodes[node_id] for node_id in range(count)]
        total = sum(node.mem_bytes for node in nodes)
        if total != ram_bytes:
            raise _Refused(f"total memory for NUMA nodes ({total:#x}) should equal RAM size ({ram_bytes:#x})")
        used: set[str] = set()
        for node in nodes:
            if node.memdev is not None:
                if node.memdev in used:
                    raise _Refused(f"memory backend {node.memdev} can't be used multiple times.")
                used.add(node.memdev)
        distances = self._distance_table(count) if self.distances else None
        return NumaLayout(
            nodes=tuple(NumaNode(node_id, node.mem_bytes, node.memdev) for node_id, node in enumerate(nodes)),
            slot_nodes=self._finish_slots(count),
            distances=distances,
            implicit=implicit,
            warnings=tuple(self.warnings),
        )

    def _distance_table(self, count: int) -> tuple[tuple[int, ...], ...]:
        # One direction of each pair is enough when the table is symmetric; a single asymmetric
        # pair makes every direction of every pair mandatory.
        given = self.distances
        asymmetric = False
        for src in range(count):
            for dst in range(src + 1, count):
                there, back = given.get((src, dst)), given.get((dst, src))
                if there is None and back is None:
                    raise _Refused(
                        f"The distance between node {src} and {dst} is missing, at least one distance "
                        "value between each nodes should be provided."
                    )
                asymmetric = asymmetric or (there is not None and back is not None and there != back)
        if asymmetric and any(
            (src, dst) not in given for src in range(count) for dst in range(count) if src != dst
        ):
            raise _Refused(
                "At least one asymmetrical pair of distances is given, please provide distances for "
                "both directions of all node pairs."
            )
        return tuple(
            tuple(
                LOCAL_DISTANCE if src == dst else given.get((src, dst), given.get((dst, src), 0))
                for dst in range(count)
            )
            for src in range(count)
        )

    def _finish_slots(self, count: int) -> tuple[int, ...]:
        default_mapping = all(node is None for node in self.slot_nodes)
        unmapped: list[str] = []
        slot_nodes: list[int] = []
        for slot, node in enumerate(self.slot_nodes):
            if node is not None:
                slot_nodes.append(node)
            elif default_mapping:
                slot_nodes.append(self.board.default_node(self.layout.ids(slot), count))
            else:
                unmapped.append(f"CPU {slot} [{_slot_text(self.props[slot])}]")
                slot_nodes.append(0)
        if unmapped:
            self.warn(f"CPU(s) not present in any NUMA nodes: {', '.join(unmapped)}")
            self.warn(PARTIAL_MAPPING)
        return tuple(slot_nodes)


# --- memory backend sizes -----------------------------------------------------------------------

_SIZE = re.compile(r"[ \t\n\v\f\r]*(?:0[xX]([0-9a-fA-F]+)|(\d+)(?:\.(\d*))?)([bBkKmMgGtTpPeE]?)\Z")
_UNITS = "bkmgtpe"  # powers of 1024


def backend_size(backend: ObjectConfig) -> int:
    """A memory backend's size= in bytes (a number without suffix is bytes, as QEMU reads it)."""
    value: JsonValue = backend.props.get("size")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"memory backend {backend.id} has no valid size: {value!r}")
    hex_digits, whole, fraction, suffix = match.groups()
    unit = 1 << 10 * _UNITS.index(suffix.lower() or "b")
    if hex_digits is not None:
        return int(hex_digits, 16) * unit
    size = int(whole) * unit
    if fraction and unit == 1:
        raise ValueError(f"memory backend {backend.id} has no valid size: {value!r}")  # no fractional bytes
    if fraction:
        # QEMU rounds the fractional bytes half up.
        scale = 10 ** len(fraction)
        size += (2 * int(fraction) * unit + scale) // (2 * scale)
    return size
