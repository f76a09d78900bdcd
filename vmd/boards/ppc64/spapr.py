"""QEMU 7.2's pseries boards: pseries-2.1 ... -7.2 (and 2.12-sxxm), the alias pseries.

Every value here was checked against qemu-system-ppc64 7.2 (`-machine help`, `query-machines`,
its start-up errors, `qom-list` of its QOM tree): 4096 vCPUs at most, one slot per core, CPU
hotplug from 2.7 on through DR connectors, 512 MiB of RAM by default in multiples of 256 MiB.
What depends on the version: the default CPU (POWER7 up to 2.7, POWER8 up to 3.1, then POWER9),
CPU hotplug, numa-mem-supported (up to 5.0), the default vsmt (8 up to 4.1, then the threads per
core), the interrupt controller (XICS up to 4.0, XICS+XIVE from 4.1), the -smp level an omitted
one fills (sockets before 6.2).

Threads per core follow QEMU >= 8.1's TCG (up to 8, POWER8 or newer, a power of 2): QEMU 7.2's
TCG allows only 1, which would make a core and a thread the same thing.  The machine checks run
in spapr_machine_init's order: the RMA, the SMT mode, the XIVE CPU, the RAM alignment, the boot
cores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from vmd.boards.ppc64 import cpu_models, drc_qom
from vmd.boards.ppc64.cores import SpaprFamily
from vmd.errors import StartupError
from vmd.machine.board import (
    COMMON_MACHINE_OPTIONS,
    COMMON_MACHINE_PROPERTIES,
    VMD_MAX_CPUS,
    Board,
    MachineDevices,
    MachineParts,
    SmpRules,
)
from vmd.machine.cpu_catalog import CpuCatalog
from vmd.machine.hotplug.spapr_drc import SpaprCpuDrcs
from vmd.machine.qdev.target import PlugTarget
from vmd.machine.qom import DeviceObject, QomProperty, constant
from vmd.machine.slots import SlotLayout
from vmd.machine.topology import CpuIds, Topology
from vmd.qapi.compiled import SysEmuTarget

MiB = 1 << 20
MEMORY_BLOCK = 256 * MiB  # SPAPR_MEMORY_BLOCK_SIZE
MIN_RMA_SLOF = 80 * MiB

VERSIONS = (
    *(f"2.{minor}" for minor in range(1, 13)), "2.12-sxxm",
    "3.0", "3.1", "4.0", "4.1", "4.2", "5.0", "5.1", "5.2", "6.0", "6.1", "6.2", "7.0", "7.1", "7.2",
)  # fmt: skip
LATEST = "7.2"
IC_MODES = ("xics", "xive", "dual")

# The -machine options of pseries-7.2-machine (its `-machine TYPE,help` rows).
_SPAPR_OPTIONS: tuple[tuple[str, str, str | None], ...] = (
    ("cap-ccf-assist", "bool", "Count Cache Flush Assist via HW Instruction"),
    ("cap-cfpc", "string", "Cache Flush on Privilege Change (broken, workaround, fixed)"),
    ("cap-dfp", "bool", "Allow Decimal Floating Point (DFP)"),
    ("cap-fwnmi", "bool", "Implements PAPR FWNMI option"),
    ("cap-hpt-max-page-size", "int", "Maximum page size for Hash Page Table guests"),
    ("cap-htm", "bool", "Allow Hardware Transactional Memory (HTM)"),
    ("cap-ibs", "string", "Indirect Branch Speculation (broken, workaround, fixed-ibs,fixed-ccd, fixed-na)"),
    ("cap-large-decr", "bool", "Allow Large Decrementer"),
    ("cap-nested-hv", "bool", "Allow Nested KVM-HV"),
    ("cap-rpt-invalidate", "bool", "Allow H_RPT_INVALIDATE"),
    ("cap-sbbc", "string", "Speculation Barrier Bounds Checking (broken, workaround, fixed)"),
    ("cap-vsx", "bool", "Allow Vector Scalar Extensions (VSX)"),
)
# Instance properties (qom-list /machine) that -machine sets too.
_SPAPR_INSTANCE = (
    "resize-hpt", "host-serial", "vfio-no-msix-emulation", "x-vof", "modern-hotplug-events", "nvdimm",
    "max-cpu-compat", "kernel-addr", "hmat", "ic-mode", "vsmt", "nvdimm-persistence", "kvm-type",
    "host-model",
)  # fmt: skip
_SPAPR_PROPERTIES = (
    COMMON_MACHINE_PROPERTIES | {n for n, _, _ in _SPAPR_OPTIONS} | set(_SPAPR_INSTANCE) | {VMD_MAX_CPUS}
)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.removesuffix("-sxxm").split("."))


def _uint32(name: str, text: str) -> int:
    """A -machine integer property as QEMU's string input visitor reads it."""
    try:
        value = int(text, 0)
    except ValueError:
        raise StartupError(f"Parameter '{name}' expects integer") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise StartupError(f"Parameter '{name}' expects uint32_t")
    return value


@dataclass(frozen=True)
class SpaprBoard(Board):
    """A pseries-X.Y type.  `vsmt`: the user's vsmt (0: the type's default); `ic_mode`: the
    interrupt controller mode (None: the type's default)."""

    vsmt: int = 0
    ic_mode: str | None = None
    cpu_family: SpaprFamily = field(default_factory=SpaprFamily)

    @property
    def _number(self) -> tuple[int, ...]:
        assert self.version is not None
        return self.version

    def machine_properties(self) -> frozenset[str]:
        return frozenset(_SPAPR_PROPERTIES)

    def machine_options(self) -> tuple[tuple[str, str, str | None], ...]:
        return COMMON_MACHINE_OPTIONS + _SPAPR_OPTIONS

    def with_properties(self, props: Mapping[str, str]) -> Board:
        board = self
        if "vsmt" in props:
            board = dataclasses.replace(board, vsmt=_uint32("vsmt", props["vsmt"]))
        mode = props.get("ic-mode")
        if mode is not None:
            if mode not in IC_MODES:
                raise StartupError('Bad value for "ic-mode" property')
            board = dataclasses.replace(board, ic_mode=mode)
        return board

    @property
    def interrupt_mode(self) -> str:
        if self.ic_mode is not None:
            return self.ic_mode
        return "dual" if self._number >= (4, 1) else "xics"

    def vsmt_for(self, threads: int) -> int:
        if self.vsmt:
            return self.vsmt
        return threads if self._number >= (4, 2) else max(8, threads)

    def check_machine(self, topology: Topology, cpu_type: str, ram_bytes: int) -> None:
        """spapr_machine_init's refusals, in its order (StartupError with QEMU's text)."""
        if min(ram_bytes, 1 << 40) < MIN_RMA_SLOF:
            raise StartupError("pSeries SLOF firmware requires >= 80ldMiB guest RMA (Real Mode Area memory)")
        threads = topology.threads
        model = cpu_models.model_name(cpu_type)
        if threads > 1 and model not in cpu_models.SMT_MODELS:
            raise StartupError("TCG only supports SMT on POWER8 or newer CPUs")
        if threads > 8:
            raise StartupError("TCG cannot support more than 8 threads/core on a pseries machine")
        if threads & (threads - 1):
            raise StartupError(
                f"Cannot support {threads} threads/core on a pseries machine because it must be a power of 2"
            )
        if self.vsmt and self.vsmt < threads:
            raise StartupError(
                f"Cannot support VSMT mode {self.vsmt} because it must be >= threads/core ({threads})"
            )
        if self.interrupt_mode == "xive" and model not in cpu_models.XIVE_MODELS:
            raise StartupError("XIVE-only machines require a POWER9 CPU")
        if ram_bytes % MEMORY_BLOCK:
            raise StartupError(f"Memory size {ram_bytes:#x} is not aligned to 256 MiB")
        if self.hotpluggable_cpus:
            if topology.boot_cpus % threads:
                raise StartupError(f"smp_cpus ({topology.boot_cpus}) must be multiple of threads ({threads})")
        elif topology.max_cpus != topology.boot_cpus:
            raise StartupError("This machine version does not support CPU hotplug")
        if model not in cpu_models.CORE_MODELS:
            raise StartupError("Unable to find sPAPR CPU Core definition")

    def cpu_models(self) -> CpuCatalog:
        return cpu_models.catalog()

    def slot_layout(self, topology: Topology, cpu_type: str) -> SlotLayout:
        return self._family.layout(topology, cpu_type)

    def boot_cpu_count(self, topology: Topology, cpu_model_given: bool) -> int:
        # Slots, not vCPUs: the boot creates whole cores.
        return topology.boot_cpus // topology.threads

    def numa_supported(self) -> bool:
        return True

    def default_node(self, ids: CpuIds, nodes: int) -> int:
        # spapr_get_default_cpu_node_id: core index / cores % nodes, i.e. the socket.
        return ids.socket % nodes

    @property
    def _family(self) -> SpaprFamily:
        return dataclasses.replace(
            self.cpu_family, xive_capable=self.interrupt_mode != "xics", hotpluggable=self.hotpluggable_cpus
        )

    def plug_target(self, cpu_type: str, layout: SlotLayout, slot_nodes: Sequence[int] | None) -> PlugTarget:
        return self._family.plug_target(cpu_type, layout, slot_nodes)

    def realize(self, parts: MachineParts) -> MachineDevices:
        """What QEMU 7.2 puts in the tree with -nodefaults: spapr-xive before the boot cores when
        the CPU is XIVE-capable, the VIO bridge, NVRAM and the PHB after them, the RTC,
        watchdogs and ICS under /machine; the CPU DR connectors (from 2.7 on)."""
        cpus = self._family.cpus(parts.qom, parts.slots.layout, parts.cpu_type)
        machine, unattached = parts.qom.machine, parts.qom.machine.children["unattached"]
        xive = getattr(cpus, "xive", False)
        if xive:
            unattached.add_child("device[0]", DeviceObject("spapr-xive"))
        after = parts.boot_cpus + (1 if xive else 0)
        for offset, type_name in enumerate(("spapr-vio-bridge", "spapr-nvram", "spapr-pci-host-bridge")):
            unattached.add_child(f"device[{after + offset}]", DeviceObject(type_name))
        machine.add_child("rtc", DeviceObject("spapr-rtc"))
        for n in range(1, 5):
            machine.add_child(f"wdt{n}", DeviceObject("spapr-wdt"))
        machine.add_child("ics", DeviceObject("ics-spapr"))
        threads = parts.slots.layout.vcpus_per_slot
        vsmt = self.vsmt_for(threads)
        machine.add_property(QomProperty("vsmt", "uint32", get=constant(vsmt)))
        machine.add_property(QomProperty("ic-mode", "string", get=constant(self.interrupt_mode)))
        if not self.hotpluggable_cpus:
            return MachineDevices(cpus, None)
        drcs = SpaprCpuDrcs(
            len(parts.slots),
            vsmt=vsmt,
            release=parts.release,
            on_taken=parts.on_taken,
            refused=parts.refused,
        )

        def device_path(slot: int) -> str | None:
            device = parts.slots.devices.get(slot)
            return None if device is None else device.qom_path

        drc_qom.realize(machine, parts.qom.root, drcs, parts.slots.layout.cpu_type, device_path)
        return MachineDevices(cpus, drcs)


def spapr_board(version: str) -> SpaprBoard:
    number = _version(version)
    latest = version == LATEST
    if number < (2, 8):
        cpu = "power7_v2.3"
    elif number < (4, 0):
        cpu = "power8_v2.0"
    else:
        cpu = "power9_v2.0"
    return SpaprBoard(
        name=f"pseries-{version}",
        description="pSeries Logical Partition (PAPR compliant)",
        target=SysEmuTarget.PPC64,
        cpu_max=4096,
        hotpluggable_cpus=number >= (2, 7),
        default_cpu_type=cpu + cpu_models.THREAD_SUFFIX,
        default_ram_id="ppc_spapr.ram",
        default_ram_size=512 * MiB,
        numa_mem_supported=number <= (5, 0),
        smp=SmpRules(prefers_sockets=number < (6, 2)),
        alias="pseries" if latest else None,
        is_default=latest,
        version=number,
        qom_parent="spapr-machine",
    )


def spapr_boards() -> Iterator[SpaprBoard]:
    """Every pseries type, in `-machine help` order (by name, strcmp: 2.10 before 2.2)."""
    yield from sorted((spapr_board(v) for v in VERSIONS), key=lambda board: board.name)
