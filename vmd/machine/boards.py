"""The machine types vmd offers: QEMU 7.2's versioned pc (i440FX) and q35 boards, and `none`.

A `Board` holds what QEMU's MachineClass says about a type and what `-machine help` and
`query-machines` show of it.  Every value here was checked against qemu-system-x86_64 7.2
(`-machine help`, `query-machines`, and how it treats -smp on each version); microvm, isapc
and x-remote are QEMU types vmd does not offer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

DEFAULT_CPU_TYPE = "qemu64-x86_64-cpu"

# The ceiling QEMU's x86 boards put on the highest APIC ID + 1 unless KVM's in-kernel irqchip
# offers the x2APIC API; vmd has no KVM, so like TCG it always applies.
X86_APIC_ID_LIMIT = 255

_PC_DESCRIPTION = "Standard PC (i440FX + PIIX, 1996)"
_Q35_DESCRIPTION = "Standard PC (Q35 + ICH9, 2009)"
_PC_1_X_DEPRECATION = "old and unattended - use a newer version instead"

# The versions QEMU 7.2 registers: every minor release from 3.0 to 7.2 in both families, older
# ones back to 1.4 (pc) and 2.4 (q35), and a q35-only 4.0.1 (4.0 plus a fix).
_SINCE_3_0 = tuple(
    f"{major}.{minor}"
    for major, last in ((3, 1), (4, 2), (5, 2), (6, 2), (7, 2))
    for minor in range(last + 1)
)
_PC_VERSIONS = ("1.4", "1.5", "1.6", "1.7", *(f"2.{minor}" for minor in range(13)), *_SINCE_3_0)
_Q35_VERSIONS = (*(f"2.{minor}" for minor in range(4, 13)), *_SINCE_3_0, "4.0.1")


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
class Board:
    """One machine type, with QEMU's MachineClass facts vmd needs.

    `cpu_max` is query-machines' cpu-max (MachineClass max_cpus); `min_cpus` is the smallest -smp
    cpus QEMU accepts.  `smp_prefers_sockets`: types before 6.2 fill an omitted level of -smp into
    sockets, later ones into cores.  `apic_id_limit`: the board refuses a topology whose highest
    APIC ID + 1 is above it (None: no x86 CPUs, no check).  `versioned_cpu_models`: from 4.1 on, an
    unversioned CPU model name is an alias of its -v1 and query-cpu-definitions reports alias-of;
    older types keep the legacy (unversioned) models and report no aliases.
    """

    name: str
    description: str
    cpu_max: int
    hotpluggable_cpus: bool
    default_cpu_type: str | None
    default_ram_id: str
    numa_mem_supported: bool
    smp_prefers_sockets: bool
    dies_supported: bool
    versioned_cpu_models: bool
    apic_id_limit: int | None
    alias: str | None = None
    is_default: bool = False
    deprecation_reason: str | None = None
    min_cpus: int = 1
    clusters_supported: bool = False  # no x86 board of 7.2 has clusters

    @property
    def deprecated(self) -> bool:
        return self.deprecation_reason is not None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _x86_board(family: str, version: str) -> Board:
    number = _version(version)
    q35 = family == "q35"
    name = f"pc-q35-{version}" if q35 else f"pc-i440fx-{version}"
    latest = version == "7.2"
    return Board(
        name=name,
        description=_Q35_DESCRIPTION if q35 else _PC_DESCRIPTION,
        # q35 2.8 raised the limit for guests with x2APIC; i440FX never did.
        cpu_max=288 if q35 and number >= (2, 8) else 255,
        hotpluggable_cpus=True,
        default_cpu_type=DEFAULT_CPU_TYPE,
        default_ram_id="pc.ram",
        numa_mem_supported=number <= (5, 0),
        smp_prefers_sockets=number < (6, 2),
        dies_supported=True,
        versioned_cpu_models=number >= (4, 1),
        apic_id_limit=X86_APIC_ID_LIMIT,
        alias=("q35" if q35 else "pc") if latest else None,
        is_default=latest and not q35,
        deprecation_reason=_PC_1_X_DEPRECATION if number < (2, 0) else None,
    )


NONE_BOARD = Board(
    name="none",
    description="empty machine",
    cpu_max=1,
    hotpluggable_cpus=False,
    default_cpu_type=None,
    default_ram_id="ram",
    numa_mem_supported=False,
    smp_prefers_sockets=False,
    dies_supported=False,
    versioned_cpu_models=True,
    apic_id_limit=None,
)


def _help_order() -> Iterator[Board]:
    # `-machine help` order: families alphabetically (pc_piix before pc_q35), each family's
    # types by name in *descending* strcmp order (so 2.2 before 2.12), then the family-less `none`.
    for family, versions in (("pc", _PC_VERSIONS), ("q35", _Q35_VERSIONS)):
        yield from sorted((_x86_board(family, v) for v in versions), key=lambda b: b.name, reverse=True)
    yield NONE_BOARD


# Every board by its name, in `-machine help` order.
BOARDS: Mapping[str, Board] = MappingProxyType({board.name: board for board in _help_order()})

_BY_NAME_OR_ALIAS: Mapping[str, Board] = MappingProxyType(
    {**BOARDS, **{board.alias: board for board in BOARDS.values() if board.alias is not None}}
)

DEFAULT_BOARD = next(board for board in BOARDS.values() if board.is_default)


def find_board(name: str | None) -> Board:
    """The board a -machine type names (a name or an alias, case-sensitive); None: the default.

    Raises UnknownMachineError for anything else, the empty string included, as QEMU does.
    """
    if name is None:
        return DEFAULT_BOARD
    board = _BY_NAME_OR_ALIAS.get(name)
    if board is None:
        raise UnknownMachineError(name)
    return board


# The -machine properties of QEMU 7.2's pc/q35 and `none` types (qom-list-properties of
# pc-q35-7.2-machine, pc-i440fx-7.2-machine and none-machine); a dotted key (smp.cpus) belongs to
# its first part.  vmd adds one of its own, x-vmd-max-cpus (see with_vmd_max_cpus).
_COMMON_PROPERTIES = frozenset(
    [
        "append",
        "boot",
        "confidential-guest-support",
        "dt-compatible",
        "dtb",
        "dump-guest-core",
        "dumpdtb",
        "firmware",
        "graphics",
        "initrd",
        "kernel",
        "mem-merge",
        "memory",
        "memory-backend",
        "memory-encryption",
        "peripheral",
        "peripheral-anon",
        "phandle-start",
        "smp",
        "suppress-vmdesc",
        "type",
        "usb",
    ]
)
_X86_PROPERTIES = _COMMON_PROPERTIES | frozenset(
    [
        "acpi",
        "bus-lock-ratelimit",
        "cxl",
        "cxl-fmw",
        "default-bus-bypass-iommu",
        "device-memory-region-size",
        "hmat",
        "hpet",
        "i8042",
        "max-fw-size",
        "max-ram-below-4g",
        "nvdimm",
        "nvdimm-persistence",
        "pcspk-audiodev",
        "pflash0",
        "pflash1",
        "pic",
        "pit",
        "sata",
        "sgx-epc",
        "smbios-entry-point-type",
        "smbus",
        "smm",
        "system.flash0",
        "system.flash1",
        "vmport",
        "x-oem-id",
        "x-oem-table-id",
    ]
)
VMD_MAX_CPUS = "x-vmd-max-cpus"


def machine_properties(board: Board) -> frozenset[str]:
    """The -machine keys `board` has (QEMU refuses others: Property 'T-machine.key' not found)."""
    return (_X86_PROPERTIES if board.hotpluggable_cpus else _COMMON_PROPERTIES) | {VMD_MAX_CPUS}


def with_vmd_max_cpus(board: Board, max_cpus: int) -> Board:
    """vmd's `-machine ...,x-vmd-max-cpus=N`: this VM may have up to N vCPUs (4096 at most).

    QEMU 7.2's limits (cpu-max 288 on q35, 255 on pc; no APIC ID above 254 under TCG, which has
    no x2APIC) come from its accelerators and firmware tables; vmd's interpreter has neither, so
    it can honour more vCPUs when asked to.  query-machines still describes the 7.2 types."""
    return dataclasses.replace(board, cpu_max=max_cpus, apic_id_limit=None)
