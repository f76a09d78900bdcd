"""Dirty-page tracking and page records (live migration's part of the engine), with real vCPU threads.

A guest that keeps writing while the pages are encoded must never lose a write: whatever the
encoder took, one more sync and encode after the vCPU stops carries every later store over.
"""

from __future__ import annotations

import random

import pytest

from tests.native.conftest import TIMEOUT, Machine, wait_until
from vmd.vcpu import GuestRam, PageDecoder, PageEncoder, VcpuError

PAGE = 4096


def drain(enc: PageEncoder, target: GuestRam) -> int:
    sent = 0
    while (chunk := enc.next_chunk()) is not None:
        target.decode(chunk)
        sent += len(chunk)
    return sent


def test_vmm_writes_mark_their_pages() -> None:
    ram = GuestRam(64 * PAGE)
    enc = PageEncoder(ram)
    assert enc.sync() == 0
    ram.write(PAGE - 2, b"abcd")  # spans pages 0 and 1
    ram.write_u64(10 * PAGE, 7)
    assert ram.dirty_count() == 3
    assert enc.sync() == 3
    assert ram.dirty_count() == 0


def test_records_round_trip_zero_pages_as_markers() -> None:
    src, dst = GuestRam(256 * PAGE), GuestRam(256 * PAGE)
    dst.write(5 * PAGE, b"\xff" * PAGE)  # the target's stale page must be zeroed
    src.write(3 * PAGE + 17, b"hello")
    enc = PageEncoder(src, chunk_bytes=3 * (PAGE + 8))
    enc.mark_all()
    drain(enc, dst)
    assert enc.counts.normal == 1
    assert enc.counts.zero == 255
    assert dst.checksum() == src.checksum()


def test_a_cut_record_is_refused() -> None:
    ram = GuestRam(4 * PAGE)
    with pytest.raises(ValueError, match="page record"):
        ram.decode((2 << 1).to_bytes(8, "little") + b"x" * 100)
    with pytest.raises(ValueError, match="page record"):
        ram.decode((99 << 1 | 1).to_bytes(8, "little"))


def test_the_stream_decoder_takes_records_cut_anywhere() -> None:
    """The target decodes as bytes arrive: a header or a page split between two reads, even a
    byte at a time, lands in RAM as the whole record would."""
    rng = random.Random(16)
    src, dst = GuestRam(64 * PAGE), GuestRam(64 * PAGE)
    dst.write(9 * PAGE, b"\xee" * PAGE)  # stale on the target, zero on the source
    for page in rng.sample(range(64), 20):
        src.write(page * PAGE, rng.randbytes(PAGE))
    enc = PageEncoder(src, chunk_bytes=1 << 20)
    enc.mark_all()
    records = bytes(enc.next_chunk() or b"")
    decoder = PageDecoder(dst)
    at = 0
    while at < len(records):
        step = rng.choice((1, 3, 7, 8, 9, 4095, 4104, 5000))
        decoder.feed(memoryview(records)[at : at + step])
        at += step
    assert decoder.whole
    assert dst.checksum() == src.checksum()
    half = PageDecoder(dst)
    half.feed(records[:12])  # a page's header and four of its bytes
    assert not half.whole
    with pytest.raises(ValueError, match="outside guest RAM"):
        PageDecoder(dst).feed((99 << 1 | 1).to_bytes(8, "little"))


def test_a_running_guest_loses_no_store(machine: Machine) -> None:
    # vCPU 0 writes an increasing value over 64 pages, forever.
    machine.load(
        """
        li r1, 0x20000
        li r2, 0
    again:
        li r3, 0
    page:
        addi r2, r2, 1
        shli r4, r3, 12
        add r4, r4, r1
        st64 r2, [r4 + 8]
        addi r3, r3, 1
        slti r5, r3, 64
        bnez r5, page
        jmp again
        """
    )
    target = GuestRam(machine.ram.size_bytes)
    enc = PageEncoder(machine.ram, chunk_bytes=8 * (PAGE + 8))
    enc.mark_all()
    machine.engine.start(0)
    wait_until(lambda: machine.ram.read_u64(0x20000 + 63 * PAGE + 8) > 0)
    for _ in range(20):  # passes while it runs
        drain(enc, target)
        enc.sync()
    machine.engine.pause_all_blocking(TIMEOUT)
    enc.sync()
    drain(enc, target)
    assert target.checksum() == machine.ram.checksum()


def test_context_save_and_restore(machine: Machine) -> None:
    machine.load("li r7, 42\nli r8, 9\nhlt\nirq r10\nli r9, 1\nhlt")
    machine.engine.start(0)
    wait_until(lambda: machine.engine.stats(0).halts >= 1)
    with pytest.raises(VcpuError):
        machine.engine.save_context(0)  # the engine runs
    machine.engine.pause_all_blocking(TIMEOUT)
    regs, pc, irq = machine.engine.save_context(0)
    assert regs[7] == 42
    assert pc == 0x1010
    assert irq == 0
    # Another vCPU, never run, takes the context over and continues after the HLT once woken.
    machine.engine.start(1)
    machine.engine.restore_context(1, regs, pc, 0)
    machine.engine.resume_all()
    machine.engine.post_interrupt(1, 0)
    wait_until(lambda: machine.engine.stats(1).halts >= 1)
    machine.engine.pause_all_blocking(TIMEOUT)
    regs1, pc1, _ = machine.engine.save_context(1)
    assert regs1[7] == 42
    assert regs1[9] == 1
    assert pc1 == 0x1028
    with pytest.raises(VcpuError):
        machine.engine.restore_context(0, regs, pc, 0)  # halted: it has run
