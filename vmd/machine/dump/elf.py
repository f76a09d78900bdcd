"""The ELF64 core file a dump writes: an ELF header, one PT_LOAD program header per guest RAM
block (its guest-physical address in p_paddr, and in p_vaddr as well, since vmd does not walk
the guest's page tables), then the blocks' bytes back to back.

vmd writes no PT_NOTE: its vCPUs are interpreter threads with no architectural register file
to put in NT_PRSTATUS notes.  Readers (readelf, eu-readelf, gdb, crash's raw mode) accept a core
made of loads alone."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vmd.qapi.compiled import SysEmuTarget

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
ET_CORE = 4
EV_CURRENT = 1
PT_LOAD = 1
PF_RWX = 7

# e_machine and byte order of each target's cores (as the target's Linux cores have them).
_MACHINES: dict[SysEmuTarget, tuple[int, str]] = {
    SysEmuTarget.X86_64: (62, "<"),  # EM_X86_64
    SysEmuTarget.AARCH64: (183, "<"),  # EM_AARCH64
    SysEmuTarget.PPC64: (21, ">"),  # EM_PPC64 (pseries guests boot big-endian)
    SysEmuTarget.S390X: (22, ">"),  # EM_S390
}


@dataclass(frozen=True)
class Block:
    """A run of guest RAM: where it sits in guest-physical space and where in vmd's RAM."""

    guest_addr: int
    ram_offset: int
    size: int


def supported(target: SysEmuTarget) -> bool:
    return target in _MACHINES


def header(target: SysEmuTarget, blocks: list[Block]) -> bytes:
    """The ELF header and program headers; the first block's bytes follow at len(result)."""
    machine, order = _MACHINES[target]
    ehdr = struct.Struct(order + _EHDR.format[1:])
    phdr = struct.Struct(order + _PHDR.format[1:])
    ident = b"\x7fELF" + bytes([2, 1 if order == "<" else 2, EV_CURRENT, 0]) + bytes(8)
    data_offset = ehdr.size + phdr.size * len(blocks)
    out = [
        ehdr.pack(
            ident, ET_CORE, machine, EV_CURRENT, 0, ehdr.size, 0, 0,
            ehdr.size, phdr.size, len(blocks), 0, 0, 0,
        )
    ]  # fmt: skip
    offset = data_offset
    for block in blocks:
        out.append(
            phdr.pack(PT_LOAD, PF_RWX, offset, block.guest_addr, block.guest_addr, block.size, block.size, 0)
        )
        offset += block.size
    return b"".join(out)
