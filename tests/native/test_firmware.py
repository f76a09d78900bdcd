"""The standard firmware: banner, online/offline protocol, counters and layout."""

from __future__ import annotations

import pytest

from tests.native.refinterp import RefCpu
from vmd.firmware import standard as fw
from vmd.vcpu import ExitReason, GuestRam, VcpuEngine


def make(online: list[int], work: bool = True) -> tuple[GuestRam, VcpuEngine, list[tuple[int, int, int]]]:
    ram = GuestRam(fw.MIN_RAM_BYTES + 0x30000)
    image = fw.firmware()
    ram.load(image.entry, image.image)
    fw.set_work(ram, work)
    for cpu in online:
        fw.set_online(ram, cpu, True)
    io: list[tuple[int, int, int]] = []

    def on_io(index: int, port: int, size: int, is_write: bool, value: int) -> None:
        assert is_write
        assert size == 1
        io.append((index, port, value))

    engine = VcpuEngine(ram, entry=image.entry, on_io=on_io, on_fault=lambda i, f: None)
    return ram, engine, io


def test_image_and_layout() -> None:
    image = fw.firmware()
    assert image.entry == fw.FIRMWARE_BASE == 0x1000
    assert image.entry + len(image.image) <= fw.ONLINE_MASK
    assert image.image.endswith(fw.BANNER + b"\0")
    assert image.symbols["banner"] == image.entry + len(image.image) - len(fw.BANNER) - 1
    lay = image.layout
    assert lay.progress_addr(3) == 0x10000 + 3 * 64
    assert lay.state_addr(3) == 0x10000 + 3 * 64 + 8
    assert lay.wakeups_addr(3) == 0x10000 + 3 * 64 + 16
    assert (lay.online_word_addr(70), lay.online_bit(70)) == (0x8008, 1 << 6)
    assert lay.min_ram_bytes == fw.MIN_RAM_BYTES == 0x110000
    with pytest.raises(ValueError, match="outside"):
        lay.progress_addr(16384)
    assert ".equ SERIAL_PORT, 0x3f8" in fw.source()


def test_online_bits_are_independent() -> None:
    ram, _engine, _ = make(online=[])
    fw.set_online(ram, 1, True)
    fw.set_online(ram, 63, True)
    fw.set_online(ram, 64, True)
    fw.set_online(ram, 1, False)
    assert ram.read_u64(fw.ONLINE_MASK) == 1 << 63
    assert ram.read_u64(fw.ONLINE_MASK + 8) == 1
    assert [fw.is_online(ram, c) for c in (1, 63, 64)] == [False, True, True]


def test_cpu0_prints_the_banner_then_an_offline_cpu_halts() -> None:
    ram, engine, io = make(online=[])
    result = engine.run_until_halt(0, timeout=10)
    assert result.reason is ExitReason.HALT
    assert result.pc == fw.firmware().symbols["sleep"]
    assert bytes(v for (_, port, v) in io if port == fw.SERIAL_PORT) == fw.BANNER
    assert io[-1] == (0, fw.CPU_STATE_PORT, fw.CPU_STATE_OFFLINE)
    assert fw.cpu_state(ram, 0) == fw.CPU_STATE_OFFLINE


def test_other_cpus_do_not_print() -> None:
    _ram, engine, io = make(online=[])
    engine.run_until_halt(5, timeout=10)
    assert io == [(5, fw.CPU_STATE_PORT, fw.CPU_STATE_OFFLINE)]


def test_the_work_loop_matches_the_reference_interpreter() -> None:
    """An online CPU never halts: compare both interpreters after the same number of steps."""
    steps = 20_000
    ram, engine, io = make(online=[7])
    ref_ram = bytearray(ram.read(0, ram.size_bytes))
    result = engine.run_until_halt(7, max_steps=steps, timeout=10)
    assert result.reason is ExitReason.STEPS
    ref = RefCpu(ref_ram, entry=fw.FIRMWARE_BASE, index=7)
    ref_io: list[tuple[int, int, int]] = []
    out = ref.run(max_steps=steps, on_io=lambda i, p, s, w, v: ref_io.append((i, p, v)))
    assert (out.reason, out.pc, out.retired) == ("steps", result.pc, result.instructions)
    assert tuple(out.regs) == result.regs
    assert ref_ram == ram.read(0, ram.size_bytes)
    assert ref_io == io == [(7, fw.CPU_STATE_PORT, fw.CPU_STATE_ONLINE)]
    iterations = fw.progress(ram, 7)
    assert iterations == fw.shared_counter(ram)
    assert abs(iterations * 9 - steps) < 40  # 9 instructions per iteration, after a short prologue


def test_an_online_cpu_with_no_work_rests_in_hlt() -> None:
    """The guest's `idle` load: online (reported so), then halted in the idle loop, using no host CPU."""
    ram, engine, io = make(online=[3], work=False)
    result = engine.run_until_halt(3, timeout=10)
    assert result.reason is ExitReason.HALT
    assert result.pc == fw.firmware().symbols["rest"]
    assert io == [(3, fw.CPU_STATE_PORT, fw.CPU_STATE_ONLINE)]
    assert fw.cpu_state(ram, 3) == fw.CPU_STATE_ONLINE
    assert fw.progress(ram, 3) == 0
