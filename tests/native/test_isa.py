"""ISA semantics: the native interpreter against the reference interpreter.

Random programs (hypothesis) run on one vCPU in both, until HLT, a fault or a
step budget; final registers, pc, retired-instruction count, fault, RAM and
the IO log must be identical.  The native runs use the fast path (no budget)
whenever the program is known to stop.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.native import refinterp
from tests.native.refinterp import MASK, RefCpu
from vmd.firmware.asm import OPCODES, assemble, encode
from vmd.vcpu import ExitReason, FaultCode, GuestRam, HaltResult, VcpuEngine, VcpuFault

RAM = 64 * 1024
SCRATCH = 0x8000  # r200 points here in structured programs
SCRATCH_LEN = 0x1000
DATA_REGS = [f"r{i}" for i in range(8)] + ["r100", "r253"]
VALID_OPS = sorted(op for op, _ in OPCODES.values())


def io_value(port: int, size: int) -> int:
    return (port * 0x9E3779B97F4A7C15 + size * 0x632BE59BD9B4E019) & MASK


@dataclass
class Outcome:
    reason: str
    pc: int
    regs: list[int]
    retired: int
    fault: tuple[int, int, int, int] | None
    ram: bytes
    io: list[tuple[int, int, bool, int]]


class Rig:
    """One engine and RAM, reused by every example (index 0, run on the test thread)."""

    def __init__(self) -> None:
        self.ram = GuestRam(RAM)
        self.engine = VcpuEngine(self.ram, entry=0, on_io=self._no_io, on_fault=self._no_fault)

    @staticmethod
    def _no_io(*args: object) -> None:
        raise AssertionError("unexpected IO")

    @staticmethod
    def _no_fault(*args: object) -> None:
        raise AssertionError("unexpected fault callback")

    def native(self, image: bytes, max_steps: int | None, index: int = 0) -> Outcome:
        self.ram.write(0, bytes(RAM))
        self.ram.load(0, image)
        io: list[tuple[int, int, bool, int]] = []

        def on_io(idx: int, port: int, size: int, is_write: bool, value: int) -> int | None:
            io.append((port, size, is_write, value))
            return None if is_write else io_value(port, size)

        try:
            res: HaltResult = self.engine.run_until_halt(index, max_steps=max_steps, timeout=30, on_io=on_io)
        except VcpuFault as exc:
            res = exc.result
        reason = {ExitReason.HALT: "halt", ExitReason.STEPS: "steps", ExitReason.FAULT: "fault"}[res.reason]
        fault = None
        if res.fault is not None:
            fault = (res.fault.code.value, res.fault.pc, res.fault.addr, res.fault.insn)
        return Outcome(reason, res.pc, list(res.regs), res.instructions, fault, self.ram.read(0, RAM), io)


def reference(image: bytes, max_steps: int | None, index: int = 0) -> Outcome:
    ram = bytearray(RAM)
    ram[: len(image)] = image
    io: list[tuple[int, int, bool, int]] = []

    def on_io(idx: int, port: int, size: int, is_write: bool, value: int) -> int | None:
        io.append((port, size, is_write, value))
        return None if is_write else io_value(port, size)

    cpu = RefCpu(ram, entry=0, index=index)
    res = cpu.run(max_steps=max_steps, on_io=on_io)
    fault = None if res.fault is None else (res.fault.code, res.fault.pc, res.fault.addr, res.fault.insn)
    return Outcome(res.reason, res.pc, res.regs, res.retired, fault, bytes(ram), io)


def assert_same(native: Outcome, ref: Outcome) -> None:
    assert (native.reason, native.pc, native.fault) == (ref.reason, ref.pc, ref.fault)
    diff = {i: (hex(a), hex(b)) for i, (a, b) in enumerate(zip(native.regs, ref.regs, strict=True)) if a != b}
    assert not diff, f"registers differ (native, reference): {diff}"
    assert native.retired == ref.retired
    assert native.io == ref.io
    if native.ram != ref.ram:
        first = next(i for i in range(RAM) if native.ram[i] != ref.ram[i])
        raise AssertionError(f"RAM differs first at {first:#x}")


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.engine.close_blocking(timeout=10)


# --------------------------------------------------------------------------- structured programs

RRR = [
    "add",
    "sub",
    "mul",
    "divu",
    "remu",
    "div",
    "rem",
    "and",
    "or",
    "xor",
    "shl",
    "shr",
    "sar",
    "slt",
    "sltu",
]
RRI = ["addi", "muli", "andi", "ori", "xori", "slti", "sltiu"]
SHIFTS = ["shli", "shri", "sari"]
LOADS = {"ld8": 1, "ld16": 2, "ld32": 4, "ld64": 8, "lds8": 1, "lds16": 2, "lds32": 4}
STORES = {"st8": 1, "st16": 2, "st32": 4, "st64": 8}
BRANCHES = ["beq", "bne", "blt", "bge", "bltu", "bgeu", "bgt", "ble", "bgtu", "bleu"]

interesting = st.sampled_from(
    [0, 1, 2, 7, 63, 64, 0x7FFF_FFFF, -1, -2, -(1 << 31), (1 << 63), MASK, (1 << 63) - 1]
)
values64 = st.one_of(interesting, st.integers(0, MASK), st.integers(-100, 100))
imm32 = st.one_of(
    st.integers(-64, 64), st.integers(-(1 << 31), (1 << 31) - 1), st.sampled_from([0, -1, 1 << 30])
)
reg = st.sampled_from(DATA_REGS)


@st.composite
def mem_offset(draw: st.DrawFn, size: int) -> int:
    if draw(st.integers(0, 30)) == 0:  # rarely: anywhere, usually a fault
        return draw(st.integers(-(1 << 31), (1 << 31) - 1))
    return draw(st.integers(0, SCRATCH_LEN // size - 1)) * size


@st.composite
def simple_op(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 12))
    rd, rs1, rs2 = draw(reg), draw(reg), draw(reg)
    if kind <= 2:
        return f"{draw(st.sampled_from(RRR))} {rd}, {rs1}, {rs2}"
    if kind == 3:
        return f"{draw(st.sampled_from(RRI))} {rd}, {rs1}, {draw(imm32)}"
    if kind == 4:
        return f"{draw(st.sampled_from(SHIFTS))} {rd}, {rs1}, {draw(st.integers(0, 63))}"
    if kind == 5:
        choice = draw(st.integers(0, 3))
        if choice == 0:
            return f"lih {rd}, {draw(st.integers(0, 0xFFFF_FFFF))}"
        if choice == 1:
            return f"li64 {rd}, {draw(values64)}"
        return f"li {rd}, {draw(imm32)}"
    if kind == 6:
        name = draw(st.sampled_from(sorted(LOADS)))
        return f"{name} {rd}, [r200 + {draw(mem_offset(LOADS[name]))}]"
    if kind == 7:
        name = draw(st.sampled_from(sorted(STORES)))
        return f"{name} {rd}, [r200 + {draw(mem_offset(STORES[name]))}]"
    if kind == 8:
        name = draw(st.sampled_from(["aadd", "xchg", "cas"]))
        return f"{name} {rd}, [r200 + {draw(mem_offset(8))}], {rs2}"
    if kind == 9:
        size = draw(st.sampled_from("bwdq"))
        port = draw(st.integers(0, 0xFFFF))
        return f"in{size} {rd}, {port}" if draw(st.booleans()) else f"out{size} {port}, {rs1}"
    if kind == 10:
        return draw(
            st.sampled_from(["nop", "fence", "pause", f"cpuid {rd}", f"irq {rd}", f"mov {rd}, {rs1}"])
        )
    if kind == 11:
        return f"not {rd}, {rs1}"
    return f"add {rd}, {rs1}, {rs2}"


_labels = itertools.count()


@st.composite
def block(draw: st.DrawFn, depth: int, subs: int) -> list[str]:
    kind = draw(st.integers(0, 9))
    if kind <= 4 or depth >= 2:
        return draw(st.lists(simple_op(), min_size=1, max_size=5))
    if kind <= 6:  # a forward branch over a few instructions
        label = f"skip{next(_labels)}"
        cond = draw(st.sampled_from([*BRANCHES, "beqz", "bnez"]))
        a, b = draw(reg), draw(reg)
        head = f"{cond} {a}, {label}" if cond in ("beqz", "bnez") else f"{cond} {a}, {b}, {label}"
        body = draw(st.lists(block(depth + 1, subs), min_size=1, max_size=3))
        return [head, *itertools.chain.from_iterable(body), f"{label}:"]
    if kind <= 8:  # a bounded loop
        label = f"loop{next(_labels)}"
        counter = f"r{201 + depth}"
        body = draw(st.lists(block(depth + 1, subs), min_size=1, max_size=3))
        n = draw(st.integers(1, 6))
        return [
            f"li {counter}, {n}",
            f"{label}:",
            *itertools.chain.from_iterable(body),
            f"addi {counter}, {counter}, -1",
            f"bnez {counter}, {label}",
        ]
    if subs:
        return [f"call sub{draw(st.integers(0, subs - 1))}"]
    return draw(st.lists(simple_op(), min_size=1, max_size=3))


@st.composite
def program(draw: st.DrawFn) -> str:
    subs = draw(st.integers(0, 2))
    lines = [f"li r200, {SCRATCH}"]
    for r in draw(st.lists(reg, max_size=6)):
        lines.append(f"li64 {r}, {draw(values64)}")
    for b in draw(st.lists(block(0, subs), min_size=1, max_size=8)):
        lines += b
    lines.append("hlt")
    for i in range(subs):
        lines.append(f"sub{i}:")
        lines += draw(st.lists(simple_op(), min_size=1, max_size=4))
        lines.append("ret")
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=program(), index=st.integers(0, 3))
def test_random_programs_match_reference(rig: Rig, source: str, index: int) -> None:
    image = assemble(source).image
    ref = reference(image, None, index)
    assert ref.reason in ("halt", "fault")
    assert_same(rig.native(image, None, index), ref)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=program(), budget=st.integers(0, 60))
def test_step_budget_stops_at_the_same_state(rig: Rig, source: str, budget: int) -> None:
    image = assemble(source).image
    assert_same(rig.native(image, budget), reference(image, budget))


# --------------------------------------------------------------------------- raw words


@st.composite
def raw_word(draw: st.DrawFn) -> bytes:
    # mostly valid opcodes, so that runs get somewhere before they hit an illegal one
    op = draw(st.integers(0, 255)) if draw(st.integers(0, 15)) == 0 else draw(st.sampled_from(VALID_OPS))
    small = st.integers(0, 7)
    a, b, c = (draw(st.one_of(small, small, st.integers(0, 255))) for _ in range(3))
    if op in (0x07, 0x08) and draw(st.booleans()):
        c = draw(st.sampled_from([1, 2, 4, 8]))
    imm = draw(st.one_of(st.integers(-16, 16), st.integers(0, 0x800), st.integers(-(1 << 31), (1 << 31) - 1)))
    return encode(op, a, b, c, imm)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words=st.lists(raw_word(), min_size=1, max_size=40), budget=st.integers(0, 300))
def test_random_raw_code_matches_reference(rig: Rig, words: list[bytes], budget: int) -> None:
    """Any bytes: illegal opcodes, wild branches (into the guard pages), self-modifying stores."""
    # Tiled over 8 KiB, so that wild branches mostly land in code rather than in zeroes.
    image = (b"".join(words) * (8192 // (8 * len(words)) + 1))[:8192]
    ref = reference(image, budget)
    assert_same(rig.native(image, budget), ref)
    if ref.reason != "steps":  # it stops by itself: the fast path must agree too
        assert_same(rig.native(image, None), ref)


# --------------------------------------------------------------------------- chosen cases


def run_both(rig: Rig, source: str, max_steps: int | None = None) -> Outcome:
    image = assemble(source).image
    ref = reference(image, max_steps)
    native = rig.native(image, max_steps)
    assert_same(native, ref)
    return native


def test_division_corner_cases(rig: Rig) -> None:
    out = run_both(
        rig,
        """
        li r1, 7
        li r2, 0
        divu r3, r1, r2
        remu r4, r1, r2
        div r5, r1, r2
        rem r6, r1, r2
        li64 r7, 0x8000000000000000
        li r8, -1
        div r9, r7, r8
        rem r10, r7, r8
        li r11, -7
        li r12, 2
        div r13, r11, r12
        rem r14, r11, r12
        hlt
        """,
    )
    r = out.regs
    assert (r[3], r[4], r[5], r[6]) == (MASK, 7, MASK, 7)
    assert (r[9], r[10]) == (1 << 63, 0)
    assert (r[13], r[14]) == ((-3) & MASK, (-1) & MASK)


def test_shifts_mask_the_amount_and_sar_keeps_the_sign(rig: Rig) -> None:
    r = run_both(
        rig,
        """
        li r1, -16
        li r2, 65
        shl r3, r1, r2
        shr r4, r1, r2
        sar r5, r1, r2
        sari r6, r1, 63
        shri r7, r1, 60
        hlt
        """,
    ).regs
    assert (r[3], r[4], r[5], r[6], r[7]) == ((-32) & MASK, ((-16) & MASK) >> 1, (-8) & MASK, MASK, 0xF)


def test_li64_builds_any_constant(rig: Rig) -> None:
    r = run_both(rig, "li64 r1, 0xfedcba9876543210\nli64 r2, -2\nli64 r3, 0x80000000\nhlt").regs
    assert (r[1], r[2], r[3]) == (0xFEDCBA9876543210, (-2) & MASK, 0x80000000)


def test_sign_and_zero_extending_loads(rig: Rig) -> None:
    r = run_both(
        rig,
        f"""
        li r200, {SCRATCH}
        li64 r1, 0x8081828384858687
        st64 r1, [r200]
        ld8 r2, [r200]
        lds8 r3, [r200]
        ld16 r4, [r200 + 2]
        lds16 r5, [r200 + 6]
        ld32 r6, [r200 + 4]
        lds32 r7, [r200 + 4]
        hlt
        """,
    ).regs
    assert r[2:8] == [0x87, (-0x79) & MASK, 0x8485, (-0x7F7F) & MASK, 0x80818283, 0xFFFFFFFF80818283]


def test_atomics_return_the_old_value(rig: Rig) -> None:
    r = run_both(
        rig,
        f"""
        li r200, {SCRATCH}
        li r1, 10
        st64 r1, [r200]
        li r2, 5
        aadd r3, [r200], r2     ; 10 -> 15
        li r4, 99
        xchg r5, [r200], r4     ; 15 -> 99
        li r6, 98
        li r7, 1
        cas r6, [r200], r7      ; fails: r6 = 99
        mov r8, r6
        cas r8, [r200], r7      ; succeeds: 99 -> 1, r8 = 99
        ld64 r9, [r200]
        hlt
        """,
    ).regs
    assert (r[3], r[5], r[6], r[8], r[9]) == (10, 15, 99, 99, 1)


def test_call_and_ret(rig: Rig) -> None:
    r = run_both(rig, "li r1, 1\ncall f\ncall f\nhlt\nf: addi r1, r1, 10\nret").regs
    assert r[1] == 21


@pytest.mark.parametrize(
    ("source", "code", "pc", "addr"),
    [
        ("nop\n.u64 0", FaultCode.ILLEGAL_INSTRUCTION, 8, 8),
        ("nop\n.u64 0xff", FaultCode.ILLEGAL_INSTRUCTION, 8, 8),
        ("li r1, 3\nld64 r2, [r1]", FaultCode.MEM_MISALIGNED, 8, 3),
        (f"li r1, {RAM - 4}\nld64 r2, [r1]", FaultCode.MEM_OUT_OF_RANGE, 8, RAM - 4),
        (f"li r1, {RAM - 1}\nst8 r2, [r1]\nst8 r2, [r1 + 1]", FaultCode.MEM_OUT_OF_RANGE, 16, RAM),
        ("li r1, -8\nld64 r2, [r1]", FaultCode.MEM_OUT_OF_RANGE, 8, MASK - 7),
        ("li r1, 12\njr r1", FaultCode.PC_MISALIGNED, 12, 12),
        (f"li r1, {RAM}\njalr r2, r1", FaultCode.PC_OUT_OF_RANGE, RAM, RAM),
        ("jmp 0 - 8", FaultCode.PC_OUT_OF_RANGE, MASK - 7, MASK - 7),  # into the low guard pages
        (f"jmp last\n.org {RAM - 8}\nlast: nop", FaultCode.PC_OUT_OF_RANGE, RAM, RAM),  # off the end
        ("inb r1, 0x10\n.u64 0x0000001003010007", FaultCode.ILLEGAL_INSTRUCTION, 8, 8),  # size 3
        ("outb 0x10, r1\n.u64 0x0001000001000008", FaultCode.ILLEGAL_INSTRUCTION, 8, 8),  # port 0x10000
    ],
)
def test_faults(rig: Rig, source: str, code: FaultCode, pc: int, addr: int) -> None:
    image = assemble(source).image
    out = rig.native(image, None)
    assert_same(out, reference(image, None))
    assert out.reason == "fault"
    assert out.fault is not None
    assert (FaultCode(out.fault[0]), out.fault[1], out.fault[2]) == (code, pc, addr)


def test_far_branch_into_the_high_guard_faults(rig: Rig) -> None:
    # The farthest forward branch from the last instruction lands 256 KiB past the end of RAM.
    image = bytearray(RAM)
    prog = assemble(f"li r1, {RAM - 8}\njr r1").image
    image[: len(prog)] = prog
    image[RAM - 8 :] = encode(0x38, imm=(1 << 15) - 1)  # jmp +32767
    out = rig.native(bytes(image), None)
    assert_same(out, reference(bytes(image), None))
    assert out.fault is not None
    assert (FaultCode(out.fault[0]), out.fault[1]) == (FaultCode.PC_OUT_OF_RANGE, RAM + 8 * ((1 << 15) - 1))


def test_self_modifying_store_takes_effect_next_time(rig: Rig) -> None:
    # The loop rewrites its own 'addi r1, r1, 1' into 'addi r1, r1, 100' after the first pass.
    new = struct.unpack("<q", encode(0x20, 1, 1, 0, 100))[0]
    run_both(
        rig,
        f"""
        li r2, 2
        li64 r3, {new}
        li r4, patch
    loop:
    patch:
        addi r1, r1, 1
        st64 r3, [r4]
        addi r2, r2, -1
        bnez r2, loop
        hlt
        """,
    )


def test_instruction_count_is_exact(rig: Rig) -> None:
    out = rig.native(assemble("li r1, 1000\nl: addi r1, r1, -1\nbnez r1, l\nhlt").image, None)
    assert out.retired == 1 + 2 * 1000
    assert out.pc == 24


def test_hlt_with_a_budget_counts_as_started(rig: Rig) -> None:
    image = assemble("nop\nhlt").image
    assert rig.native(image, 1).reason == "steps"
    assert rig.native(image, 2).reason == "halt"
    assert_same(rig.native(image, 2), reference(image, 2))


def test_refinterp_is_self_consistent() -> None:
    # sanity of the reference itself: a budgeted run resumes where it stopped
    image = assemble("li r1, 5\nl: addi r1, r1, -1\nbnez r1, l\nhlt").image
    cpu = RefCpu(bytearray(image) + bytearray(RAM - len(image)), entry=0)
    assert cpu.run(max_steps=4).reason == "steps"
    res = cpu.run()
    assert (res.reason, res.retired, res.regs[1]) == ("halt", 11, 0)
    assert refinterp.s64(MASK) == -1


def test_a_faulted_debug_run_raises_vcpu_fault() -> None:
    ram = GuestRam(RAM)
    engine = VcpuEngine(ram, entry=0, on_io=lambda *a: None, on_fault=lambda *a: None)
    try:
        with pytest.raises(VcpuFault) as err:
            engine.run_until_halt(0)
        assert err.value.info.code is FaultCode.ILLEGAL_INSTRUCTION
        assert err.value.result.pc == 0
        assert "illegal instruction at pc 0x0" in str(err.value)
    finally:
        engine.close_blocking(5)
