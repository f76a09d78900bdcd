"""The board seam: what QEMU's MachineClass says about a machine type, and the hooks through which
the board-neutral model asks the board what only it knows.

A board is one machine type (`pc-q35-7.2`, `pseries-7.2`, `none`, ...): an immutable value with
its facts (what `query-machines` and `-machine help` show, its -smp levels, its default RAM and
CPU type) and its hooks (which slots its topology has, how its CPUs are checked before a plug,
which devices it realizes and how it tells its guest about CPUs).  Families of boards are sibling
packages under `vmd/boards/`; this module is the only thing the machine model knows of them.

The facts are QEMU 7.2's, checked against its binaries; every hook's default is what QEMU's
MachineClass does when a board leaves the callback unset.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from vmd.errors import GenericError
from vmd.qapi.compiled import SysEmuTarget
from vmd.records import dataclass

if TYPE_CHECKING:
    from vmd.config import MemoryConfig
    from vmd.machine.cpu_catalog import CpuCatalog
    from vmd.machine.cpu_qom import CpuObject
    from vmd.machine.hotplug.controller import HotplugController
    from vmd.machine.qdev.target import PlugTarget
    from vmd.machine.qom import QomObject, QomTree
    from vmd.machine.slots import SlotLayout, SlotTable
    from vmd.machine.topology import CpuIds, Topology
    from vmd.qapi.registry import EventSink
    from vmd.qapi.runtime import WireStruct

# vmd's own -machine property: this VM may have up to N vCPUs (see Board.with_max_cpus).
VMD_MAX_CPUS = "x-vmd-max-cpus"

# The -machine properties every QEMU 7.2 machine type has (qom-list-properties of none-machine);
# a dotted key (smp.cpus) belongs to its first part.
COMMON_MACHINE_PROPERTIES = frozenset(
    {
        "append", "boot", "confidential-guest-support", "dt-compatible", "dtb", "dump-guest-core",
        "dumpdtb", "firmware", "graphics", "initrd", "kernel", "mem-merge", "memory", "memory-backend",
        "memory-encryption", "peripheral", "peripheral-anon", "phandle-start", "smp", "suppress-vmdesc",
        "type", "usb",
    }
)  # fmt: skip


# What `-machine TYPE,help` lists for every machine type: (name, QOM type, description), as
# QEMU 7.2 prints them for none-machine (its object_property_help lines, captured from
# qemu-system-x86_64 -machine none,help).  Boards add their own rows.
COMMON_MACHINE_OPTIONS: tuple[tuple[str, str, str | None], ...] = (
    ("append", "string", "Linux kernel command line"),
    ("boot", "BootConfiguration", "Boot configuration"),
    (
        "confidential-guest-support",
        "link<confidential-guest-support>",
        "Set confidential guest scheme to support",
    ),
    ("dt-compatible", "string", 'Overrides the "compatible" property of the dt root node'),
    ("dtb", "string", "Linux kernel device tree file"),
    ("dump-guest-core", "bool", "Include guest memory in a core dump"),
    ("dumpdtb", "string", "Dump current dtb to a file and quit"),
    ("firmware", "string", "Firmware image"),
    ("graphics", "bool", "Set on/off to enable/disable graphics emulation"),
    ("initrd", "string", "Linux initial ramdisk file"),
    ("kernel", "string", "Linux kernel image file"),
    ("mem-merge", "bool", "Enable/disable memory merge support"),
    ("memory-backend", "link<memory-backend>", "Set RAM backendValid value is ID of hostmem based backend"),
    ("memory-encryption", "string", "Set memory encryption object to use"),
    ("memory", "MemorySizeConfiguration", "Memory size configuration"),
    ("phandle-start", "int", "The first phandle ID we may generate dynamically"),
    ("smp", "SMPConfiguration", "CPU topology"),
    ("suppress-vmdesc", "bool", "Set on to disable self-describing migration"),
    ("usb", "bool", "Set on/off to enable/disable usb"),
)


class UnknownMachineError(Exception):
    """A -machine type QEMU 7.2 does not have.

    QEMU prints the message with no option prefix (`qemu-system-x86_64: unsupported machine type`)
    and then `hint` on a line of its own, whether the type came from -M, -machine or type=.
    """

    hint = "Use -machine help to list supported machines"

    def __init__(self, name: str) -> None:
        super().__init__("unsupported machine type")
        self.name = name


@dataclass(frozen=True, slots=True)
class SmpRules:
    """Which -smp levels the board has beyond sockets, cores and threads, and how an omitted one
    is filled in: x86 types before 6.2 put what is left of maxcpus into sockets, later ones (and
    every other board) into cores."""

    dies: bool = False
    clusters: bool = False
    prefers_sockets: bool = False


@dataclass(frozen=True)
class Board(ABC):
    """One machine type.

    `cpu_max` is query-machines' cpu-max (MachineClass max_cpus); `min_cpus` the smallest -smp cpus
    QEMU accepts.  `hotpluggable_cpus` is QEMU's has_hotpluggable_cpus and nothing else.
    `family` groups the types `-machine help` lists together (QEMU's class family, e.g. pc_piix);
    `version` is the machine version, None for unversioned types.
    """

    name: str
    description: str
    target: SysEmuTarget
    cpu_max: int
    hotpluggable_cpus: bool
    default_cpu_type: str | None
    default_ram_id: str
    default_ram_size: int
    numa_mem_supported: bool
    smp: SmpRules = SmpRules()
    alias: str | None = None
    is_default: bool = False
    deprecation_reason: str | None = None
    min_cpus: int = 1
    family: str | None = None
    version: tuple[int, ...] | None = None
    qom_parent: str = "machine"  # the abstract QOM type the machine's type derives from

    @property
    def deprecated(self) -> bool:
        return self.deprecation_reason is not None

    # -- configuration (hooks of MachineClass and of the -machine options) ------------------

    def machine_properties(self) -> frozenset[str]:
        """The -machine keys this type has (QEMU refuses others: Property 'T-machine.key' not found)."""
        return COMMON_MACHINE_PROPERTIES | {VMD_MAX_CPUS}

    def machine_options(self) -> tuple[tuple[str, str, str | None], ...]:
        """What `-machine TYPE,help` lists: (name, QOM type, description) of each option."""
        return COMMON_MACHINE_OPTIONS

    def with_max_cpus(self, max_cpus: int) -> Board:
        """vmd's `-machine ...,x-vmd-max-cpus=N`: this VM may have up to N vCPUs.

        QEMU's limits come from its accelerators and firmware tables, which vmd's interpreter does
        not have; query-machines still describes the type as QEMU does."""
        return dataclasses.replace(self, cpu_max=max_cpus)

    def with_properties(self, props: Mapping[str, str]) -> Board:
        """The board with the -machine properties it reads itself (pseries' vsmt, ic-mode); most
        boards take none of them into account.  StartupError with QEMU's text for a bad value."""
        return self

    def finalize(self, cpu_type: str, topology: Topology) -> Board:
        """The board once its CPU type and topology are known: its own start-up refusals (QEMU's
        machine init, StartupError), and what they decide (ARM virt: whether vCPU hotplug is on)."""
        return self

    @property
    def precreate_vcpus(self) -> bool:
        """Whether every possible vCPU's engine context is created (and parked) at start-up, as
        for a machine whose architecture cannot hot-add a CPU (ARM virt's hotplug mode)."""
        return False

    def check_machine(self, topology: Topology, cpu_type: str, ram_bytes: int) -> None:  # noqa: B027
        """The board's refusals when it builds the machine (its init function), once the CPU
        model and the RAM size are known (StartupError with QEMU's text)."""

    def check_topology(self, topology: Topology) -> None:  # noqa: B027 - most boards check nothing more
        """A board's own refusal of a -smp that machine-smp.c accepted (TopologyError)."""

    def with_cpu_options(self, cpu_type: str, options: str, warn: Callable[[str], None]) -> Board:
        """The board once `-cpu MODEL,options` is known (`options`: the text after the model name,
        "" without any): a target whose CPU objects take them as QEMU's global properties of
        `cpu_type` checks them here, with QEMU's start-up errors (StartupError) and warnings
        (`warn`).  By default they change nothing (x86's CPUID flags mean nothing to vmd's guest)."""
        return self

    @abstractmethod
    def cpu_models(self) -> CpuCatalog:
        """The CPU models -cpu takes on this type (-cpu help, query-cpu-definitions)."""

    def default_cpu_model(self) -> str | None:
        """The model -cpu selects when absent (None: the board creates no CPU unless asked)."""
        if self.default_cpu_type is None:
            return None
        return self.cpu_models().model_of_type(self.default_cpu_type)

    # -- CPU slots: possible_cpu_arch_ids --------------------------------------------------

    @abstractmethod
    def slot_layout(self, topology: Topology, cpu_type: str) -> SlotLayout:
        """The possible CPU slots of this topology: how many, which vCPUs each holds, their props."""

    def boot_cpu_count(self, topology: Topology, cpu_model_given: bool) -> int:
        """How many vCPUs are created at start-up."""
        return topology.boot_cpus

    # -- NUMA -----------------------------------------------------------------------------

    def numa_supported(self) -> bool:
        """Whether -numa is accepted at all (QEMU: "NUMA is not supported by this machine-type")."""
        return False

    def numa_enabled_implicitly(self, memory: MemoryConfig) -> bool:
        """Whether QEMU makes one node by itself without -numa (memory hotplug needs NUMA)."""
        return False

    def default_node(self, ids: CpuIds, nodes: int) -> int:
        """The node of a slot no -numa option placed, when none was placed at all."""
        return 0

    # -- devices ------------------------------------------------------------------------------

    @abstractmethod
    def plug_target(self, cpu_type: str, layout: SlotLayout, slot_nodes: Sequence[int] | None) -> PlugTarget:
        """What device_add and -device may create on this board, and how its CPUs are checked
        (`slot_nodes`: each slot's NUMA node, None without NUMA)."""

    def legacy_cpu_add(self, index: int, layout: SlotLayout, cpu_type: str) -> Mapping[str, object]:
        """cpu-add's index as device_add arguments (QEMU 1.5-5.1), or its refusal."""
        raise GenericError("Not supported")

    @abstractmethod
    def realize(self, parts: MachineParts) -> MachineDevices:
        """Create the board's devices in the QOM tree, as QEMU lays them out, and its CPU hotplug
        controller; say how its CPUs are made."""


@dataclass(frozen=True, slots=True)
class MachineParts:
    """What a board realizes its devices with.  `occupant_id` gives the id of the CPU in a slot;
    `on_taken` tells the CPU manager the guest took a hot-added CPU in; `release` makes it remove
    the CPU of a slot now (a controller that completes an unplug itself: PAPR's); `refused` that
    the guest refused an unplug."""

    qom: QomTree
    slots: SlotTable
    cpu_type: str
    boot_cpus: int
    emit: EventSink
    occupant_id: Callable[[int], str | None]
    on_taken: Callable[[int], None]
    release: Callable[[int], object] = lambda slot: None
    refused: Callable[[int], None] = lambda slot: None


class BoardCpus(ABC):
    """What a board makes of a CPU in a slot: its QOM object and place, and what an unplug removes.
    `boot_powered_off`: the start-powered-off of the CPUs the machine creates at start-up."""

    boot_powered_off = False
    # The board's subtype of the abstract `cpu-package` (vmd.machine.cpu_packages): what one slot is.
    package_type = "thread-cpu-package"
    # The topology ids its packages show, in this order (each package has all of them).
    package_ids: tuple[str, ...] = ("socket-id", "core-id", "thread-id")

    @abstractmethod
    def boot_place(self, slot: int) -> tuple[QomObject, str]:
        """Where the board puts the boot CPU of `slot` (a container and a child name)."""

    @abstractmethod
    def create(
        self,
        slot: int,
        *,
        driver: str,
        node_id: int,
        device_id: str | None,
        hotplugged: bool,
        start_powered_off: bool,
    ) -> CpuObject:
        """The CPU device of `slot` of type `driver`, with its address properties and the board's
        children."""

    def vcpu_paths(self, device_path: str, slot: int) -> tuple[str, ...]:
        """The QOM path of each vCPU the device holds (query-cpus-fast's qom-path)."""
        return (device_path,)

    def deleted_children(self, device_path: str) -> tuple[str, ...]:
        """Children an unplug reports DEVICE_DELETED for, before the device itself."""
        return ()

    def check_unplug(self, slot: int) -> None:  # noqa: B027 - most boards refuse nothing
        """The board's refusal of a device_del of this slot's CPU, if any."""

    def vcpu_running(self, cpu_index: int, running: bool) -> None:  # noqa: B027 - most boards keep no state
        """The vCPU reported that it runs guest code (the guest brought it online) or stopped."""

    def reset(self) -> None:  # noqa: B027 - most boards keep no state
        """The machine reset."""

    def fast_info(self, cpu_index: int) -> WireStruct | None:
        """query-cpus-fast's members of this target's variant for the vCPU (s390x: cpu-state)."""
        return None


@dataclass(frozen=True, slots=True)
class MachineDevices:
    """What `Board.realize` made: how CPUs are created, and the hotplug controller (None on a board
    without CPU hotplug)."""

    cpus: BoardCpus
    controller: HotplugController | None
