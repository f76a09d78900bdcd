"""Where a `device_add` (or `-device`) of an x86 CPU goes, or the error QEMU 7.2 gives, in its order.

QEMU 7.2 builds a device in steps, and the first step that fails is what the client sees:

1. the arguments become QemuOpts strings (QMP and -device key=value; not -device JSON): a string
   `id` must be an identifier, a non-string `id` is ignored, non-scalar values are dropped,
   numbers and booleans turn into text (`1.0` -> "1", `true` -> "on");
2. `driver` is looked up (missing, unknown, abstract);
3. `bus`, when given, is looked up in the machine's bus tree (a CPU goes on no bus);
4. the machine must have a CPU hotplug handler (`none` has none);
5. the id is registered (`Duplicate device ID`); from here on QEMU has created the object, so an
   anonymous attempt uses up a `/machine/peripheral-anon/device[N]` number even if it fails later;
6. every property is set, in the order QEMU's QDict hash table iterates the keys (not the order
   given), each parsed per its type;
7. the board's pre-plug handlers (x86_cpu_pre_plug, numa_cpu_pre_plug) check the CPU type and
   resolve the slot.

`parse_cpu_device` does steps 1-5 and `resolve_cpu_slot` steps 6-7; `resolve_cpu_device_add`
does both.  Errors are raised as `GenericError` (or `DeviceNotFound` where QEMU uses that class)
with QEMU's text.  Every string and every ordering rule here was checked against
qemu-system-x86_64 7.2 (tests/integration/test_cpu_address_vs_qemu.py).

Not emulated: `realized=on` among the properties (QEMU realizes the CPU in the middle of setting
properties, then crashes or leaves a phantom occupant in the slot; here it is an ordinary bool
and the CPU is realized at the end as usual); errors of the CPU's realize, which come after
every check here (`enforce` with features TCG lacks, a bad `phys-bits` ...); `memory` links to
QOM paths (only the empty link is accepted); -device on `none`, which QEMU takes without a slot.
"""

from __future__ import annotations

import enum
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from vmd.errors import DeviceNotFound, GenericError
from vmd.machine.boards import Board
from vmd.machine.cpu_models import CPU_MODELS
from vmd.machine.topology import CpuIds, Topology

# A property value once parsed: booleans, integers, strings; None is an empty link.
PropertyValue: TypeAlias = bool | int | str | None

# x86_cpu_pre_plug: an apic-id of 0xffffffff means "not given", like -1 for the other ids.
UNASSIGNED_APIC_ID = 0xFFFFFFFF
UNSET_ID = -1

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1
_U32 = 0xFFFFFFFF


class ArgumentSource(enum.Enum):
    """Where the argument dict came from; QEMU 7.2 treats the three differently.

    QMP: `device_add` (QemuOpts round trip, lenient typing).  CLI: `-device driver,key=value`
    (all values strings; QEMU checks the id syntax when it parses the option, before any
    device is created).  CLI_JSON: `-device {...}` (strict JSON typing, no id syntax check).
    """

    QMP = "device_add"
    CLI = "-device key=value"
    CLI_JSON = "-device JSON"

    @property
    def keyval(self) -> bool:
        """True when values are text parsed per property type (QemuOpts), False for typed JSON."""
        return self is not ArgumentSource.CLI_JSON


# --- the properties an x86 CPU accepts -------------------------------------------------------
#
# Captured from qemu-system-x86_64 7.2 (Debian 1:7.2+dfsg-7+deb12u18+b3, TCG, -M q35) with
# `qom-list-properties {"typename": "qemu64-x86_64-cpu"}` (439 properties; `device-list-
# properties` lists 432, leaving out type, parent_bus, realized, hotplugged, hotpluggable,
# legacy-memory and legacy-cache), then classified by sending device_add with each property set
# to "zzz", "1", "on", "-1", "0x10" and "" and reading the errors.  Every x86 CPU type has the
# same set; host-x86_64-cpu and max-x86_64-cpu add host-cache-info and migratable (bool).


class _Kind(enum.Enum):
    BOOL = "bool"
    INT = "integer"  # int64 through visit_type_int, with a setter that checks a range
    INT32 = "int32_t"
    UINT8 = "uint8_t"
    UINT16 = "uint16_t"
    UINT32 = "uint32_t"
    UINT64 = "uint64"
    STRING = "string"
    ON_OFF_AUTO = "OnOffAuto"
    LINK = "link"
    READ_ONLY = "read-only"


# The CPUID feature flags (with their legacy underscore spellings) and the other bool properties.
_BOOL_PROPERTIES = """
    3dnow 3dnowext 3dnowprefetch abm ace2 ace2-en acpi adx aes amd-no-ssb amd-ssbd amd-stibp amx-bf16
    amx-int8 amx-tile apic arat arch-capabilities arch-lbr avic avx avx-vnni avx2 avx512-4fmaps
    avx512-4vnniw avx512-bf16 avx512-fp16 avx512-vp2intersect avx512-vpopcntdq avx512bitalg avx512bw
    avx512cd avx512dq avx512er avx512f avx512ifma avx512pf avx512vbmi avx512vbmi2 avx512vl avx512vnni bmi1
    bmi2 bus-lock-detect check cid cldemote clflush clflushopt clwb clzero cmov cmp-legacy cmp_legacy
    core-capability cpuid-0xb cr8legacy cx16 cx8 dca de decodeassists ds ds-cpl ds_cpl dtes64 enforce erms
    est extapic f16c ffxsr fill-mtrr-mask flushbyasid fma fma4 fpu fsgsbase fsrm full-cpuid-auto-level
    full-width-write fxsr fxsr-opt fxsr_opt gfni hle host-phys-bits ht hv-apicv hv-avic hv-crash
    hv-emsr-bitmap hv-enforce-cpuid hv-evmcs hv-frequencies hv-ipi hv-passthrough hv-reenlightenment
    hv-relaxed hv-reset hv-runtime hv-stimer hv-stimer-direct hv-syndbg hv-synic hv-time hv-tlbflush
    hv-tlbflush-direct hv-tlbflush-ext hv-vapic hv-vpindex hv-xmm-input hypervisor i64 ia64 ibpb ibrs
    ibrs-all ibs intel-pt intel-pt-lip invpcid invtsc kvm kvm-asyncpf kvm-asyncpf-int kvm-hint-dedicated
    kvm-mmu kvm-msi-ext-dest-id kvm-no-smi-migration kvm-nopiodelay kvm-poll-control kvm-pv-enforce-cpuid
    kvm-pv-eoi kvm-pv-ipi kvm-pv-sched-yield kvm-pv-tlb-flush kvm-pv-unhalt kvm-steal-time kvm_asyncpf
    kvm_asyncpf_int kvm_mmu kvm_nopiodelay kvm_poll_control kvm_pv_eoi kvm_pv_unhalt kvm_steal_time kvmclock
    kvmclock-stable-bit l3-cache la57 lahf-lm lahf_lm lbrv legacy-cache lm lmce lwp mca mce md-clear mds-no
    misalignsse mmx mmxext monitor movbe movdir64b movdiri mpx msr mtrr nodeid-msr nodeid_msr npt nrip-save
    nrip_save nx osvw pae pat pause-filter pause_filter pbe pcid pclmuldq pclmulqdq pcommit pdcm pdpe1gb
    perfctr-core perfctr-nb perfctr_core perfctr_nb pfthreshold pge phe phe-en pks pku pmm pmm-en pmu pn pni
    popcnt pschange-mc-no pse pse36 rdctl-no rdpid rdrand rdseed rdtscp realized rsba rtm sep serialize sgx
    sgx-debug sgx-exinfo sgx-kss sgx-mode64 sgx-provisionkey sgx-tokenkey sgx1 sgx2 sgxlc sha-ni skinit
    skip-l1dfl-vmentry smap smep smx spec-ctrl split-lock-detect ss ssb-no ssbd sse sse2 sse3 sse4-1 sse4-2
    sse4.1 sse4.2 sse4_1 sse4_2 sse4a ssse3 start-powered-off stibp svm svm-lock svm_lock svme-addr-chk
    syscall taa-no tbm tce tcg-cpuid tm tm2 topoext tsc tsc-adjust tsc-deadline tsc-scale tsc_adjust
    tsc_scale tsx-ctrl tsx-ldtrk umip v-vmsave-vmload vaes vgif virt-ssbd vmcb-clean vmcb_clean vme
    vmware-cpuid-freq vmx vmx-activity-hlt vmx-activity-shutdown vmx-activity-wait-sipi vmx-apicv-register
    vmx-apicv-vid vmx-apicv-x2apic vmx-apicv-xapic vmx-cr3-load-noexit vmx-cr3-store-noexit
    vmx-cr8-load-exit vmx-cr8-store-exit vmx-desc-exit vmx-encls-exit vmx-entry-ia32e-mode
    vmx-entry-load-bndcfgs vmx-entry-load-efer vmx-entry-load-pat vmx-entry-load-perf-global-ctrl
    vmx-entry-load-pkrs vmx-entry-load-rtit-ctl vmx-entry-noload-debugctl vmx-ept vmx-ept-1gb vmx-ept-2mb
    vmx-ept-advanced-exitinfo vmx-ept-execonly vmx-eptad vmx-eptp-switching vmx-exit-ack-intr
    vmx-exit-clear-bndcfgs vmx-exit-clear-rtit-ctl vmx-exit-load-efer vmx-exit-load-pat
    vmx-exit-load-perf-global-ctrl vmx-exit-load-pkrs vmx-exit-nosave-debugctl vmx-exit-save-efer
    vmx-exit-save-pat vmx-exit-save-preemption-timer vmx-flexpriority vmx-hlt-exit vmx-ins-outs
    vmx-intr-exit vmx-invept vmx-invept-all-context vmx-invept-single-context
    vmx-invept-single-context-noglobals vmx-invlpg-exit vmx-invpcid-exit vmx-invvpid vmx-invvpid-all-context
    vmx-invvpid-single-addr vmx-io-bitmap vmx-io-exit vmx-monitor-exit vmx-movdr-exit vmx-msr-bitmap vmx-mtf
    vmx-mwait-exit vmx-nmi-exit vmx-page-walk-4 vmx-page-walk-5 vmx-pause-exit vmx-ple vmx-pml
    vmx-posted-intr vmx-preemption-timer vmx-rdpmc-exit vmx-rdrand-exit vmx-rdseed-exit vmx-rdtsc-exit
    vmx-rdtscp-exit vmx-secondary-ctls vmx-shadow-vmcs vmx-store-lma vmx-true-ctls vmx-tsc-offset
    vmx-tsc-scaling vmx-unrestricted-guest vmx-vintr-pending vmx-vmfunc vmx-vmwrite-vmexit-fields vmx-vnmi
    vmx-vnmi-pending vmx-vpid vmx-wbinvd-exit vmx-xsaves vmx-zero-len-inject vpclmulqdq waitpkg wbnoinvd wdt
    x-force-features x-hv-synic-kvm-only x-intel-pt-auto-level x-migrate-smi-count x-vendor-cpuid-only
    x2apic xcrypt xcrypt-en xd xfd xgetbv1 xop xsave xsavec xsaveerptr xsaveopt xsaves xstore xstore-en xtpr
"""

_OTHER_PROPERTIES: Mapping[str, _Kind] = {
    "socket-id": _Kind.INT32,
    "die-id": _Kind.INT32,
    "core-id": _Kind.INT32,
    "thread-id": _Kind.INT32,
    "node-id": _Kind.INT32,
    "x-hv-max-vps": _Kind.INT32,
    "apic-id": _Kind.UINT32,
    "level": _Kind.UINT32,
    "min-level": _Kind.UINT32,
    "xlevel": _Kind.UINT32,
    "min-xlevel": _Kind.UINT32,
    "xlevel2": _Kind.UINT32,
    "min-xlevel2": _Kind.UINT32,
    "level-func7": _Kind.UINT32,
    "phys-bits": _Kind.UINT32,
    "hv-spinlocks": _Kind.UINT32,
    "hv-version-id-build": _Kind.UINT32,
    "hv-version-id-spack": _Kind.UINT32,
    "hv-version-id-snumber": _Kind.UINT32,
    "hv-version-id-major": _Kind.UINT16,
    "hv-version-id-minor": _Kind.UINT16,
    "hv-version-id-sbranch": _Kind.UINT8,
    "host-phys-bits-limit": _Kind.UINT8,
    "ucode-rev": _Kind.UINT64,
    "lbr-fmt": _Kind.UINT64,
    "lbr_fmt": _Kind.UINT64,
    "family": _Kind.INT,
    "model": _Kind.INT,
    "stepping": _Kind.INT,
    "tsc-frequency": _Kind.INT,
    "model-id": _Kind.STRING,
    "hv-vendor-id": _Kind.STRING,
    "vendor": _Kind.STRING,
    "hv-no-nonarch-coresharing": _Kind.ON_OFF_AUTO,
    "memory": _Kind.LINK,
    # Listed by qom-list-properties but without a setter: "Property 'T.p' is not writable".
    "type": _Kind.READ_ONLY,
    "parent_bus": _Kind.READ_ONLY,
    "hotplugged": _Kind.READ_ONLY,
    "hotpluggable": _Kind.READ_ONLY,
    "legacy-memory": _Kind.READ_ONLY,
    "crash-information": _Kind.READ_ONLY,
    "unavailable-features": _Kind.READ_ONLY,
    "feature-words": _Kind.READ_ONLY,
    "filtered-features": _Kind.READ_ONLY,
}

CPU_PROPERTIES: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(_BOOL_PROPERTIES.split(), _Kind.BOOL.value),
        **{name: kind.value for name, kind in _OTHER_PROPERTIES.items()},
    }
)
"""Every property of every x86 CPU type, name -> kind (the QOM type, or "read-only")."""

# Only the host and max models (x86_cpu_initfn of those classes) have these.
_HOST_MAX_PROPERTIES = frozenset({"host-cache-info", "migratable"})
_HOST_MAX_TYPES = frozenset({"host-x86_64-cpu", "max-x86_64-cpu"})

# The setters of these int properties check a range: "Property .family doesn't take value 271
# (minimum: 0, maximum: 270)".  family allows 0xff + 0xf for the extended family field.
_INT_RANGES: Mapping[str, tuple[int, int]] = {
    "family": (0, 0xFF + 0xF),
    "model": (0, 0xFF),
    "stepping": (0, 0xF),
    "tsc-frequency": (0, _INT64_MAX),
}
_LBR_FMT_MASK = 0x3F
_VENDOR_LENGTH = 12  # the CPUID vendor string, in bytes
_ON_OFF_AUTO = ("on", "off", "auto")

_UINT_MAX: Mapping[_Kind, int] = {
    _Kind.UINT8: 0xFF,
    _Kind.UINT16: 0xFFFF,
    _Kind.UINT32: _U32,
    _Kind.UINT64: _UINT64_MAX,
}

_ADDRESS_PROPERTIES = frozenset({"socket-id", "die-id", "core-id", "thread-id", "apic-id", "node-id"})


def _cpu_property_kind(driver: str, name: str) -> _Kind | None:
    if name in _HOST_MAX_PROPERTIES:
        return _Kind.BOOL if driver in _HOST_MAX_TYPES else None
    kind = CPU_PROPERTIES.get(name)
    return None if kind is None else _Kind(kind)


# --- device types ------------------------------------------------------------------------------

X86_CPU_TYPES = frozenset(model.typename for model in CPU_MODELS.values())

# `qom-list-types {"implements": "device", "abstract": true}` on qemu-system-x86_64 7.2, keeping
# the abstract ones: as a driver they give "Parameter 'driver' expects a non-abstract device type".
_ABSTRACT_DEVICE_TYPE_NAMES = """
    apic-common base-pci-bridge ccid-card cpu cpu-core device e1000-base fw_cfg hda-audio hda-codec
    i2c-slave ide-device intel-hda-generic ioapic-common ipack-device ipmi-bmc isa-device ivshmem-common
    megasas-base pci-device pci-ehci-usb pci-host-bridge pci-ide pci-piix3 pci-qxl pci-uhci-usb pci-vga
    pci-xhci pcie-host-bridge pcie-port pcie-root-port-base pcie-slot pic-common pit-common ps2-device
    scsi-device scsi-disk-base smbus-device sys-bus-device u2f-key usb-device usb-hid usb-serial-dev
    usb-storage-dev vhost-scsi-common vhost-scsi-pci-base vhost-user-blk-pci-base vhost-user-fs-pci-base
    vhost-user-gpio-pci-base vhost-user-gpu-pci-base-type vhost-user-i2c-pci-base
    vhost-user-input-pci-base-type vhost-user-rng-pci-base vhost-user-scsi-pci-base
    vhost-user-vga-base-type vhost-user-vsock-pci-base vhost-vsock-common vhost-vsock-pci-base
    virtio-9p-pci-base virtio-balloon-pci-base virtio-blk-pci-base virtio-crypto-pci-base-type
    virtio-device virtio-gpu-base virtio-gpu-gl-pci-base-type virtio-gpu-pci-base virtio-gpu-pci-base-type
    virtio-input-device virtio-input-hid-device virtio-input-hid-pci virtio-input-host-pci-base-type
    virtio-input-pci virtio-iommu-pci-base-type virtio-keyboard-pci-base-type virtio-mem-pci-base
    virtio-mouse-pci-base-type virtio-net-pci-base virtio-pci virtio-pmem-pci-base virtio-rng-pci-base
    virtio-scsi-common virtio-scsi-pci-base virtio-serial-pci-base virtio-serial-port
    virtio-tablet-pci-base-type virtio-vga-base virtio-vga-base-type virtio-vga-gl-base-type vmbus-dev
    x86-iommu x86_64-cpu
"""
ABSTRACT_DEVICE_TYPES = frozenset(_ABSTRACT_DEVICE_TYPE_NAMES.split())


# --- the bus tree, for `bus` --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QdevBus:
    """A qdev bus: its name, its QOM type (what "can't go on <type> bus" names), its devices."""

    name: str
    type: str
    devices: tuple[QdevDevice, ...] = ()


@dataclass(frozen=True, slots=True)
class QdevDevice:
    """A device on a bus, as `bus` paths name it: by id, by type, or by its qdev alias."""

    type: str
    buses: tuple[QdevBus, ...] = ()
    id: str | None = None
    alias: str | None = None


def _leaves(*types: str) -> tuple[QdevDevice, ...]:
    return tuple(QdevDevice(t) for t in types)


_EEPROMS = _leaves(*["smbus-eeprom"] * 8)
_ISA_DEVICES = ("port92", "vmmouse", "vmport", "i8042")
_ISA_TIMERS = _leaves("isa-pcspk", "isa-pit", "mc146818rtc", "isa-i8259", "isa-i8259", "i8257", "i8257")
_SYSTEM_FIRST = _leaves("ps2-mouse", "ps2-kbd", "hpet", "ioapic")
_SYSTEM_LAST = _leaves("fw_cfg_io", "kvmvapic")

# `info qtree` of qemu-system-x86_64 7.2 with -nodefaults, the same for every version of each
# family; devices in bus order, child buses in QEMU's (reverse creation) order.
Q35_BUSES = QdevBus(
    "main-system-bus",
    "System",
    (
        *_SYSTEM_FIRST,
        QdevDevice(
            "q35-pcihost",
            (
                QdevBus(
                    "pcie.0",
                    "PCIE",
                    (
                        QdevDevice("ICH9-SMB", (QdevBus("i2c", "i2c-bus", _EEPROMS),)),
                        QdevDevice(
                            "ich9-ahci",
                            tuple(QdevBus(f"ide.{n}", "IDE") for n in range(5, -1, -1)),
                            alias="ahci",
                        ),
                        QdevDevice(
                            "ICH9-LPC", (QdevBus("isa.0", "ISA", (*_leaves(*_ISA_DEVICES), *_ISA_TIMERS)),)
                        ),
                        QdevDevice("mch"),
                    ),
                ),
            ),
        ),
        *_SYSTEM_LAST,
    ),
)
I440FX_BUSES = QdevBus(
    "main-system-bus",
    "System",
    (
        *_SYSTEM_FIRST,
        QdevDevice(
            "i440FX-pcihost",
            (
                QdevBus(
                    "pci.0",
                    "PCI",
                    (
                        QdevDevice("PIIX4_PM", (QdevBus("i2c", "i2c-bus", _EEPROMS),)),
                        QdevDevice("piix3-ide", (QdevBus("ide.1", "IDE"), QdevBus("ide.0", "IDE"))),
                        QdevDevice(
                            "PIIX3",
                            (
                                QdevBus(
                                    "isa.0",
                                    "ISA",
                                    (
                                        *_leaves(*_ISA_DEVICES),
                                        QdevDevice("isa-fdc", (QdevBus("floppy-bus.0", "floppy-bus"),)),
                                        *_ISA_TIMERS,
                                    ),
                                ),
                            ),
                        ),
                        QdevDevice("i440FX"),
                    ),
                ),
            ),
        ),
        *_SYSTEM_LAST,
    ),
)
EMPTY_BUSES = QdevBus("main-system-bus", "System")

# qbus_find reads each path element with sscanf("%127[^/]").
_PATH_ELEMENT_MAX = 127


def _split_element(path: str, pos: int) -> tuple[str, int]:
    end = path.find("/", pos)
    end = len(path) if end < 0 else end
    return path[pos : min(end, pos + _PATH_ELEMENT_MAX)], end


def _find_bus_by_name(bus: QdevBus, name: str) -> QdevBus | None:
    # Depth-first, as qbus_find_recursive; no bus here is ever full, so the first match wins.
    if bus.name == name:
        return bus
    for device in bus.devices:
        for child in device.buses:
            found = _find_bus_by_name(child, name)
            if found is not None:
                return found
    return None


def _find_device(bus: QdevBus, element: str) -> QdevDevice | None:
    # qbus_find_dev: an id first, then a type name, then a qdev alias.
    for device in bus.devices:
        if device.id == element:
            return device
    for device in bus.devices:
        if device.type == element:
            return device
    for device in bus.devices:
        if device.alias == element:
            return device
    return None


def find_bus(root: QdevBus, path: str) -> QdevBus:
    """The bus `path` names (QEMU's qbus_find): a bus name searched for anywhere, or a path from
    `/` alternating device (id, type or alias) and bus names; a path may end at a device with
    exactly one child bus.  Raises GenericError or DeviceNotFound with QEMU's messages."""
    if path.startswith("/"):
        bus, pos = root, 0
    else:
        name, pos = _split_element(path, 0)
        found = _find_bus_by_name(root, name)
        if found is None:
            raise GenericError(f"Bus '{name}' not found")
        bus = found
    while True:
        while pos < len(path) and path[pos] == "/":
            pos += 1
        if pos == len(path):
            return bus
        element, pos = _split_element(path, pos)
        device = _find_device(bus, element)
        if device is None:
            raise DeviceNotFound(f"Device '{element}' not found")
        while pos < len(path) and path[pos] == "/":
            pos += 1
        if pos == len(path):
            if len(device.buses) == 1:
                return device.buses[0]
            if device.buses:
                raise GenericError(f"Device '{element}' has multiple child buses")
            raise GenericError(f"Device '{element}' has no child bus")
        element, pos = _split_element(path, pos)
        child = next((b for b in device.buses if b.name == element), None)
        if child is None:
            raise GenericError(f"Bus '{element}' not found")
        bus = child


# --- what the machine offers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CpuPlugTarget:
    """What the machine says about plugging CPUs.

    `cpu_type`: the machine's CPU type (what query-hotpluggable-cpus reports as `type`).
    `topology`: the slots; None for a machine with no CPU hotplug handler (`none`).
    `buses`: the machine's bus tree.  `slot_nodes`: the NUMA node of each slot by index, None
    without NUMA (QEMU then treats every slot as node 0 but does not fill in node-id).
    """

    cpu_type: str
    topology: Topology | None
    buses: QdevBus = EMPTY_BUSES
    slot_nodes: Sequence[int] | None = None

    def __post_init__(self) -> None:
        if self.slot_nodes is not None and (
            self.topology is None or len(self.slot_nodes) != self.topology.max_cpus
        ):
            raise ValueError("slot_nodes needs one node per slot of the topology")

    @classmethod
    def for_board(
        cls,
        board: Board,
        topology: Topology | None,
        *,
        cpu_type: str | None = None,
        slot_nodes: Sequence[int] | None = None,
    ) -> CpuPlugTarget:
        """The target for one of vmd's boards; `cpu_type` defaults to the board's."""
        if not board.hotpluggable_cpus:
            return cls(cpu_type or board.default_cpu_type or "", None, EMPTY_BUSES)
        buses = Q35_BUSES if board.name.startswith("pc-q35-") else I440FX_BUSES
        return cls(cpu_type or board.default_cpu_type or "", topology, buses, slot_nodes)


# --- step 1: QemuOpts ----------------------------------------------------------------------------


def is_identifier(text: str) -> bool:
    """QEMU's id_wellformed: an ASCII letter, then ASCII letters, digits, '-', '.' or '_'."""
    if not text or not (text[0].isascii() and text[0].isalpha()):
        return False
    return all(c.isascii() and (c.isalnum() or c in "-._") for c in text)


def _format_double(value: float) -> str:
    # qnum_to_string: printf("%.17g"), which Python's format reproduces (inf, -0, 1e+20 ...).
    return format(value, ".17g")


def _as_opt_string(value: object) -> str | None:
    """A JSON value as QemuOpts text (qemu_opts_from_qdict), None for what QEMU drops."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        # QEMU's JSON parser keeps integers that fit int64 or uint64, the rest become doubles.
        if _INT64_MIN <= value <= _UINT64_MAX:
            return str(value)
        try:
            return _format_double(float(value))
        except OverflowError:
            return "inf" if value > 0 else "-inf"
    if isinstance(value, float):
        return _format_double(value)
    return None  # null, arrays and objects


# --- step 6: QDict order -----------------------------------------------------------------------

_QDICT_BUCKETS = 512


def _key_bytes(key: str) -> bytes:
    # QEMU's JSON parser stores U+0000 as the overlong C0 80 (its strings are C strings).
    return key.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")


def qdict_bucket(key: str) -> int:
    """The QDict hash bucket of `key` (the tdb/gdbm hash QEMU's qdict.c uses, modulo 512)."""
    data = _key_bytes(key)
    value = (0x238F13AF * len(data)) & _U32
    for i, byte in enumerate(data):
        value = (value + (byte << (i * 5 % 24))) & _U32
    return ((1103515243 * value + 12345) & _U32) % _QDICT_BUCKETS


def property_order(keys: Iterable[str], source: ArgumentSource = ArgumentSource.QMP) -> list[str]:
    """The order QEMU 7.2 sets these properties in: by QDict bucket, then, for keys sharing a
    bucket, the reverse of the order given for QMP device_add and the order given for -device
    (as QEMU behaves: each QDict copy on the way reverses a bucket's list)."""
    given = list(keys)
    within = -1 if source is ArgumentSource.QMP else 1
    position = {key: i for i, key in enumerate(given)}
    return sorted(given, key=lambda key: (qdict_bucket(key), within * position[key]))


# --- steps 1-5 ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CpuDeviceRequest:
    """A device_add that got as far as QEMU creating the CPU object.

    `properties` are (name, value) in the order QEMU sets them; values are QemuOpts text for
    keyval sources and the JSON values for CLI_JSON.  When `device_id` is None, QEMU has used up
    one `/machine/peripheral-anon/device[N]` number for this attempt, whatever happens next.
    """

    driver: str
    device_id: str | None
    properties: tuple[tuple[str, object], ...]
    source: ArgumentSource = ArgumentSource.QMP


def parse_cpu_device(
    arguments: Mapping[str, object],
    target: CpuPlugTarget,
    *,
    existing_ids: Container[str] = frozenset(),
    source: ArgumentSource = ArgumentSource.QMP,
) -> CpuDeviceRequest:
    """Steps 1-5 of the module docstring: id syntax, driver, bus, hotplug support, duplicate id.

    `arguments` is the device_add argument object (or the -device option as a dict, driver and
    id included); `existing_ids` are the ids of the devices under /machine/peripheral.
    """
    device_id: str | None
    if source.keyval:
        raw_id = arguments.get("id")
        device_id = raw_id if isinstance(raw_id, str) else None
        if device_id is not None and not is_identifier(device_id):
            raise GenericError("Parameter 'id' expects an identifier")
        opts = {
            key: text
            for key, value in arguments.items()
            if key != "id"
            if (text := _as_opt_string(value)) is not None
        }
        driver, bus = opts.pop("driver", None), opts.pop("bus", None)
        properties: list[tuple[str, object]] = list(opts.items())
    else:
        raw_id, raw_driver, raw_bus = (arguments.get(key) for key in ("id", "driver", "bus"))
        device_id = raw_id if isinstance(raw_id, str) else None
        driver = raw_driver if isinstance(raw_driver, str) else None
        bus = raw_bus if isinstance(raw_bus, str) else None
        properties = [(k, v) for k, v in arguments.items() if k not in ("id", "driver", "bus")]

    if driver is None:
        raise GenericError("Parameter 'driver' is missing")
    if driver in ABSTRACT_DEVICE_TYPES:
        raise GenericError("Parameter 'driver' expects a non-abstract device type")
    if driver not in X86_CPU_TYPES:
        # vmd creates no other devices with device_add.
        raise GenericError(f"'{driver}' is not a valid device model name")
    if bus is not None:
        found = find_bus(target.buses, bus)
        raise GenericError(f"Device '{driver}' can't go on {found.type} bus")
    if target.topology is None:
        raise GenericError(f"Device '{driver}' can not be hotplugged on this machine")
    if device_id is not None and device_id in existing_ids:
        raise GenericError(f"Duplicate device ID '{device_id}'")

    values = dict(properties)
    order = property_order(values, source)
    return CpuDeviceRequest(driver, device_id, tuple((key, values[key]) for key in order), source)


# --- step 6: property values ---------------------------------------------------------------------

_C_SPACE = " \t\n\v\f\r"
_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def parse_c_integer(text: str, *, signed: bool) -> int | None:
    """`text` as QEMU's qemu_strtoi64 (signed) or qemu_strtou64 reads it with base 0, or None.

    Like strtoll/strtoull: leading C whitespace, a sign, 0x for hex and a leading 0 for octal;
    nothing may follow.  Out of range is None; strtoull takes a negative number modulo 2**64.
    """
    pos = 0
    while pos < len(text) and text[pos] in _C_SPACE:
        pos += 1
    negative = pos < len(text) and text[pos] == "-"
    if pos < len(text) and text[pos] in "+-":
        pos += 1
    base = 10
    if text.startswith(("0x", "0X"), pos) and pos + 2 < len(text) and text[pos + 2] in _DIGITS[16]:
        base, pos = 16, pos + 2
    elif text.startswith("0", pos):
        base = 8
    digits = text[pos:]
    if not digits or any(c not in _DIGITS[base] for c in digits):
        return None
    magnitude = int(digits, base)
    if signed:
        value = -magnitude if negative else magnitude
        return value if _INT64_MIN <= value <= _INT64_MAX else None
    if magnitude > _UINT64_MAX:
        return None
    return (-magnitude) & _UINT64_MAX if negative else magnitude


_BOOL_WORDS = {
    "on": True,
    "yes": True,
    "true": True,
    "y": True,
    "off": False,
    "no": False,
    "false": False,
    "n": False,
}


def _invalid_type(name: str, expected: str) -> GenericError:
    return GenericError(f"Invalid parameter type for '{name}', expected: {expected}")


def _json_int(name: str, value: object) -> int:
    # qobject_input_type_int64: an integer that fits int64 (QEMU's JSON doubles never do).
    if isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX:
        return value
    raise _invalid_type(name, "integer")


def _json_uint(name: str, value: object) -> int:
    # qobject_input_type_uint64 takes negative int64 values modulo 2**64.
    if isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _UINT64_MAX:
        return value & _UINT64_MAX
    raise GenericError(f"Parameter '{name}' expects uint64")


def _json_str(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    raise _invalid_type(name, "string")


def _parse_value(driver: str, name: str, kind: _Kind, value: object, keyval: bool) -> PropertyValue:
    """One property value as QEMU's visitor and the property's setter take it."""
    if kind is _Kind.READ_ONLY:
        raise GenericError(f"Property '{driver}.{name}' is not writable")
    if kind is _Kind.BOOL:
        if keyval:
            flag = _BOOL_WORDS.get(value) if isinstance(value, str) else None
            if flag is None:
                raise GenericError(f"Parameter '{name}' expects 'on' or 'off'")
            return flag
        if isinstance(value, bool):
            return value
        raise _invalid_type(name, "boolean")
    if kind in (_Kind.INT, _Kind.INT32):
        if keyval:
            number = parse_c_integer(value, signed=True) if isinstance(value, str) else None
            if number is None:
                raise GenericError(f"Parameter '{name}' expects integer")
        else:
            number = _json_int(name, value)
        if kind is _Kind.INT32:
            if not -(1 << 31) <= number < 1 << 31:
                raise GenericError(f"Parameter '{name}' expects int32_t")
            return number
        low, high = _INT_RANGES[name]
        if not low <= number <= high:
            raise GenericError(
                f"Property .{name} doesn't take value {number} (minimum: {low}, maximum: {high})"
            )
        return number
    if kind in _UINT_MAX:
        if keyval:
            number = parse_c_integer(value, signed=False) if isinstance(value, str) else None
            if number is None:
                raise GenericError(f"Parameter '{name}' expects integer")
        else:
            number = _json_uint(name, value)
        if number > _UINT_MAX[kind]:
            raise GenericError(f"Parameter '{name}' expects {kind.value}")
        if name in ("lbr-fmt", "lbr_fmt") and number & ~_LBR_FMT_MASK:
            raise GenericError(f"Property value for 'lbr-fmt' has bits outside mask '{_LBR_FMT_MASK:#x}'")
        return number
    text = value if keyval and isinstance(value, str) else _json_str(name, value)
    if kind is _Kind.ON_OFF_AUTO:
        if text not in _ON_OFF_AUTO:
            raise GenericError(f"Parameter '{name}' does not accept value '{text}'")
        return text
    if kind is _Kind.LINK:
        # An empty path clears the link; vmd has no QOM memory regions to point it at.
        if text:
            raise DeviceNotFound(f"Device '{text}' not found")
        return None
    if name == "vendor" and len(text.encode("utf-8", "surrogatepass")) != _VENDOR_LENGTH:
        raise GenericError(f"Property '.vendor' doesn't take value '{text}'")
    return text


# --- step 7: the slot ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedCpu:
    """A CPU QEMU would plug: slot `index` (its cpu-index), its ids and APIC ID after
    pre-plug filled them in, and its node.

    `node_id` is the node-id property afterwards: the slot's node when NUMA is configured and
    none was given (QEMU's fix-up for libvirt), None when it stays unset (qom-get reads -1).
    `properties` holds every other property given, parsed, in the order QEMU set them.
    """

    index: int
    ids: CpuIds
    apic_id: int
    node_id: int | None
    device_id: str | None
    driver: str
    properties: Mapping[str, PropertyValue] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def start_powered_off(self) -> bool:
        return self.properties.get("start-powered-off") is True


def resolve_cpu_slot(
    request: CpuDeviceRequest,
    target: CpuPlugTarget,
    *,
    occupied: Container[int] = frozenset(),
) -> ResolvedCpu:
    """Steps 6-7: set the properties, then x86_cpu_pre_plug and numa_cpu_pre_plug.

    `occupied` holds the indexes of slots that have a CPU (one whose unplug is pending too).
    """
    topology = target.topology
    if topology is None:
        raise GenericError(f"Device '{request.driver}' can not be hotplugged on this machine")
    values: dict[str, PropertyValue] = {}
    for name, raw in request.properties:
        kind = _cpu_property_kind(request.driver, name)
        if kind is None:
            raise GenericError(f"Property '{request.driver}.{name}' not found")
        values[name] = _parse_value(request.driver, name, kind, raw, request.source.keyval)

    if request.driver != target.cpu_type:
        raise GenericError(f"Invalid CPU type, expected cpu type: '{target.cpu_type}'")

    def given(name: str, unset: int = UNSET_ID) -> int:
        value = values.get(name, unset)
        assert isinstance(value, int)
        return value

    socket, die, core, thread = (given(f"{level}-id") for level in ("socket", "die", "core", "thread"))
    apic_id = given("apic-id", UNASSIGNED_APIC_ID)
    if apic_id == UNASSIGNED_APIC_ID:
        # die-id was optional before QEMU 4.1, so it stays optional with one die per socket.
        if die < 0 and topology.dies == 1:
            die = 0
        max_socket = (topology.max_cpus - 1) // topology.threads // topology.cores // topology.dies
        for level, value, last in (
            ("socket", socket, max_socket),
            ("die", die, topology.dies - 1),
            ("core", core, topology.cores - 1),
            ("thread", thread, topology.threads - 1),
        ):
            if value < 0:
                raise GenericError(f"CPU {level}-id is not set")
            if value > last:
                raise GenericError(f"Invalid CPU {level}-id: {value} must be in range 0:{last}")
        apic_id = topology.apic_id_of(CpuIds(socket, die, core, thread))

    index = topology.index_of_apic_id(apic_id)
    if index is None:
        spelled = topology.decode_apic_id(apic_id)
        raise GenericError(
            f"Invalid CPU [socket: {spelled.socket}, die: {spelled.die}, core: {spelled.core}, "
            f"thread: {spelled.thread}] with APIC ID {apic_id}, valid index range 0:{topology.max_cpus - 1}"
        )
    if index in occupied:
        raise GenericError(f"CPU[{index}] with APIC ID {apic_id} exists")

    ids = topology.ids(index)
    for level, value, actual in (
        ("socket", socket, ids.socket),
        ("die", die, ids.die),
        ("core", core, ids.core),
        ("thread", thread, ids.thread),
    ):
        if value != UNSET_ID and value != actual:
            # QEMU prints the int32 property with %u.
            raise GenericError(
                f"property {level}-id: {value & _U32} doesn't match set apic-id: "
                f"{apic_id:#x} ({level}-id: {actual})"
            )

    if values.get("hv-vpindex") is True:
        # Settable only with KVM's Hyper-V support, which vmd (like TCG) never has.
        raise GenericError("kernel doesn't allow setting HyperV VP_INDEX")

    node_id = given("node-id")
    slot_node = 0 if target.slot_nodes is None else target.slot_nodes[index]
    if node_id == UNSET_ID:
        node = None if target.slot_nodes is None else slot_node
    elif node_id != slot_node:
        raise GenericError(f"invalid node-id, must be {slot_node}")
    else:
        node = node_id

    others = {name: value for name, value in values.items() if name not in _ADDRESS_PROPERTIES}
    return ResolvedCpu(index, ids, apic_id, node, request.device_id, request.driver, MappingProxyType(others))


def resolve_cpu_device_add(
    arguments: Mapping[str, object],
    target: CpuPlugTarget,
    *,
    existing_ids: Container[str] = frozenset(),
    occupied: Container[int] = frozenset(),
    source: ArgumentSource = ArgumentSource.QMP,
) -> ResolvedCpu:
    """parse_cpu_device then resolve_cpu_slot: the whole check, in QEMU 7.2's order."""
    request = parse_cpu_device(arguments, target, existing_ids=existing_ids, source=source)
    return resolve_cpu_slot(request, target, occupied=occupied)
