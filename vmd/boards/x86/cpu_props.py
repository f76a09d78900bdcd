"""The properties of QEMU 7.2's x86 CPU types, as device_add and -device set them.

Captured from qemu-system-x86_64 7.2 (Debian 1:7.2+dfsg-7+deb12u18+b3, TCG, -M q35) with
`qom-list-properties {"typename": "qemu64-x86_64-cpu"}` (439 properties; `device-list-
properties` lists 432, leaving out type, parent_bus, realized, hotplugged, hotpluggable,
legacy-memory and legacy-cache), then classified by sending device_add with each property set
to "zzz", "1", "on", "-1", "0x10" and "" and reading the errors.  Every x86 CPU type has the
same set; host-x86_64-cpu and max-x86_64-cpu add host-cache-info and migratable (bool).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from vmd.errors import GenericError
from vmd.machine.qdev.props import PropertyKind as K
from vmd.machine.qdev.props import PropertySpec, PropertyValue

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

_OTHER_PROPERTIES: Mapping[str, K] = {
    "socket-id": K.INT32,
    "die-id": K.INT32,
    "core-id": K.INT32,
    "thread-id": K.INT32,
    "node-id": K.INT32,
    "x-hv-max-vps": K.INT32,
    "apic-id": K.UINT32,
    "level": K.UINT32,
    "min-level": K.UINT32,
    "xlevel": K.UINT32,
    "min-xlevel": K.UINT32,
    "xlevel2": K.UINT32,
    "min-xlevel2": K.UINT32,
    "level-func7": K.UINT32,
    "phys-bits": K.UINT32,
    "hv-spinlocks": K.UINT32,
    "hv-version-id-build": K.UINT32,
    "hv-version-id-spack": K.UINT32,
    "hv-version-id-snumber": K.UINT32,
    "hv-version-id-major": K.UINT16,
    "hv-version-id-minor": K.UINT16,
    "hv-version-id-sbranch": K.UINT8,
    "host-phys-bits-limit": K.UINT8,
    "ucode-rev": K.UINT64,
    "lbr-fmt": K.UINT64,
    "lbr_fmt": K.UINT64,
    "family": K.INT,
    "model": K.INT,
    "stepping": K.INT,
    "tsc-frequency": K.INT,
    "model-id": K.STRING,
    "hv-vendor-id": K.STRING,
    "vendor": K.STRING,
    "hv-no-nonarch-coresharing": K.ON_OFF_AUTO,
    "memory": K.LINK,
    # Listed by qom-list-properties but without a setter: "Property 'T.p' is not writable".
    "type": K.READ_ONLY,
    "parent_bus": K.READ_ONLY,
    "hotplugged": K.READ_ONLY,
    "hotpluggable": K.READ_ONLY,
    "legacy-memory": K.READ_ONLY,
    "crash-information": K.READ_ONLY,
    "unavailable-features": K.READ_ONLY,
    "feature-words": K.READ_ONLY,
    "filtered-features": K.READ_ONLY,
}


# The setters of these int properties check a range: "Property .family doesn't take value 271
# (minimum: 0, maximum: 270)".  family allows 0xff + 0xf for the extended family field.
_INT_RANGES: Mapping[str, tuple[int, int]] = {
    "family": (0, 0xFF + 0xF),
    "model": (0, 0xFF),
    "stepping": (0, 0xF),
    "tsc-frequency": (0, (1 << 63) - 1),
}
_LBR_FMT_MASK = 0x3F
_VENDOR_LENGTH = 12  # the CPUID vendor string, in bytes


def _in_range(name: str, value: PropertyValue) -> None:
    low, high = _INT_RANGES[name]
    assert isinstance(value, int)
    if not low <= value <= high:
        raise GenericError(f"Property .{name} doesn't take value {value} (minimum: {low}, maximum: {high})")


def _lbr_fmt(name: str, value: PropertyValue) -> None:
    assert isinstance(value, int)
    if value & ~_LBR_FMT_MASK:
        raise GenericError(f"Property value for 'lbr-fmt' has bits outside mask '{_LBR_FMT_MASK:#x}'")


def _vendor(name: str, value: PropertyValue) -> None:
    assert isinstance(value, str)
    if len(value.encode("utf-8", "surrogatepass")) != _VENDOR_LENGTH:
        raise GenericError(f"Property '.vendor' doesn't take value '{value}'")


_CHECKS = {
    **dict.fromkeys(_INT_RANGES, _in_range),
    "lbr-fmt": _lbr_fmt,
    "lbr_fmt": _lbr_fmt,
    "vendor": _vendor,
}

CPU_PROPERTIES: Mapping[str, PropertySpec] = MappingProxyType(
    {
        **dict.fromkeys(_BOOL_PROPERTIES.split(), PropertySpec(K.BOOL)),
        **{name: PropertySpec(kind, _CHECKS.get(name)) for name, kind in _OTHER_PROPERTIES.items()},
    }
)
"""Every property of every x86 CPU type, by name."""

# Only the host and max models (x86_cpu_initfn of those classes) have these.
_HOST_MAX_PROPERTIES = frozenset({"host-cache-info", "migratable"})
_HOST_MAX_TYPES = frozenset({"host-x86_64-cpu", "max-x86_64-cpu"})

ADDRESS_PROPERTIES = frozenset({"socket-id", "die-id", "core-id", "thread-id", "apic-id", "node-id"})


def cpu_property(driver: str, name: str) -> PropertySpec | None:
    """The property `name` of x86 CPU type `driver`."""
    if name in _HOST_MAX_PROPERTIES:
        return PropertySpec(K.BOOL) if driver in _HOST_MAX_TYPES else None
    return CPU_PROPERTIES.get(name)


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
