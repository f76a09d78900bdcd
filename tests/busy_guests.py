"""Guests that keep writing the same 128 pages (512 KiB, at 1 MiB..1.5 MiB or 64 KiB..576 KiB) as
fast as they can: a migration has dirty RAM to chase, and one slower than their writing never
converges.  QEMU's is a boot sector on a raw disk, vmd's a vmd-ISA `-bios` image.  Used by
scripts/bench_migration.py and the libvirt migration tests."""

from __future__ import annotations

from pathlib import Path

from vmd.firmware.asm import assemble

# x86 real mode: cli; xor ax,ax; outer: mov bx,0x1000; seg: mov es,bx; xor di,di; mov cx,0x8000;
# inc ax; rep stosw; add bx,0x1000; cmp bx,0x9000; jne seg; jmp outer
BOOT_SECTOR = bytes.fromhex("fa31c0bb00108ec331ffb9008040f3ab81c3001081fb009075ecebe7")

VMD_BUSY = """
    li r1, 0
again:
    addi r1, r1, 1
    li r2, 0x100000
    li r3, 0x180000
block:
    st64 r1, [r2]
    addi r2, r2, 512
    bltu r2, r3, block
    jmp again
"""


def qemu_busy_disk(workdir: Path) -> Path:
    """A raw disk whose first sector is BOOT_SECTOR.  SeaBIOS does not boot a disk of one sector
    (it stays in its boot menu loop), so the image is padded to 1 MiB."""
    image = workdir / "busy.img"
    image.write_bytes((BOOT_SECTOR.ljust(510, b"\0") + b"\x55\xaa").ljust(1 << 20, b"\0"))
    return image


def vmd_busy_bios(workdir: Path) -> Path:
    image = workdir / "busy.bin"
    image.write_bytes(assemble(VMD_BUSY, base=0x1000).image)
    return image
