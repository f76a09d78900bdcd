"""Facts about the VM and the emulator: name, UUID, target, accelerator."""

from __future__ import annotations

from pydantic import Field

from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import QapiDeclaredEnum, QapiStruct


class SysEmuTarget(QapiDeclaredEnum):
    """QEMU 7.2's list of targets; vmd itself only ever is x86_64."""

    AARCH64 = "aarch64"
    ALPHA = "alpha"
    ARM = "arm"
    AVR = "avr"
    CRIS = "cris"
    HPPA = "hppa"
    I386 = "i386"
    LOONGARCH64 = "loongarch64"
    M68K = "m68k"
    MICROBLAZE = "microblaze"
    MICROBLAZEEL = "microblazeel"
    MIPS = "mips"
    MIPS64 = "mips64"
    MIPS64EL = "mips64el"
    MIPSEL = "mipsel"
    NIOS2 = "nios2"
    OR1K = "or1k"
    PPC = "ppc"
    PPC64 = "ppc64"
    RISCV32 = "riscv32"
    RISCV64 = "riscv64"
    RX = "rx"
    S390X = "s390x"
    SH4 = "sh4"
    SH4EB = "sh4eb"
    SPARC = "sparc"
    SPARC64 = "sparc64"
    TRICORE = "tricore"
    X86_64 = "x86_64"
    XTENSA = "xtensa"
    XTENSAEB = "xtensaeb"


class NameInfo(QapiStruct):
    name: str | None = None


class UuidInfo(QapiStruct):
    uuid: str = Field(alias="UUID")


class TargetInfo(QapiStruct):
    arch: SysEmuTarget


class KvmInfo(QapiStruct):
    enabled: bool
    present: bool


COMMANDS = (
    CommandSpec(
        "query-name", "The VM's name from -name, if it has one.", returns=NameInfo, allow_preconfig=True
    ),
    CommandSpec(
        "query-uuid",
        "The VM's UUID from -uuid (all zeroes by default).",
        returns=UuidInfo,
        allow_preconfig=True,
    ),
    CommandSpec("query-target", "The emulated architecture.", returns=TargetInfo, allow_preconfig=True),
    CommandSpec(
        "query-kvm", "vmd never uses KVM: it is reported neither enabled nor present.", returns=KvmInfo
    ),
)
