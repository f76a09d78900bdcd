"""Reading the ELF64 core files `dump-guest-memory` writes (QEMU's and vmd's), parsed here from
the bytes so the tests do not trust the writer's own layout."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

PT_LOAD = 1


@dataclass(frozen=True)
class Load:
    paddr: int
    vaddr: int
    offset: int
    size: int


@dataclass(frozen=True)
class Core:
    machine: int
    loads: list[Load]
    other_types: list[int]  # the p_type of every other program header (PT_NOTE is 4)
    data: bytes

    def segment(self, load: Load) -> bytes:
        return self.data[load.offset : load.offset + load.size]


def read_core(path: Path) -> Core:
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF", "ELF magic"
    assert data[4] == 2, "ELFCLASS64"
    assert data[5] == 1, "little-endian"
    e_type, e_machine, _, _, e_phoff, _, _, _, e_phentsize, e_phnum = struct.unpack_from(
        "<HHIQQQIHHH", data, 16
    )
    assert e_type == 4, "ET_CORE"
    assert e_phentsize == 56
    loads, others = [], []
    for index in range(e_phnum):
        p_type, _, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", data, e_phoff + index * e_phentsize
        )
        if p_type == PT_LOAD:
            assert p_filesz == p_memsz
            assert p_offset + p_filesz <= len(data), "the segment is in the file"
            loads.append(Load(p_paddr, p_vaddr, p_offset, p_filesz))
        else:
            others.append(p_type)
    return Core(e_machine, loads, others, data)
