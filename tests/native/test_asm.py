"""The assembler: encodings, directives, pseudo-instructions and errors with line numbers."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmd.firmware.asm import OPCODES, AsmError, assemble, disassemble, encode


def words(source: str, base: int = 0) -> list[tuple[int, int, int, int, int]]:
    image = assemble(source, base=base).image
    return [struct.unpack_from("<BBBBi", image, i) for i in range(0, len(image), 8)]


def test_encoding_fields() -> None:
    assert words("add r1, r2, r3") == [(0x10, 1, 2, 3, 0)]
    assert words("addi r255, sp, -5") == [(0x20, 255, 254, 0, -5)]
    assert words("ld64 r1, [r2 + 16]\nst8 r3, [r4 - 1]") == [(0x43, 1, 2, 0, 16), (0x48, 3, 4, 0, -1)]
    assert words("cas r1, [r2 + 8], r3") == [(0x52, 1, 2, 3, 8)]
    assert words("inq r7, 0x10\noutb 0x3f8, r9") == [(0x07, 7, 0, 8, 0x10), (0x08, 9, 0, 1, 0x3F8)]
    assert words("HLT\nCpuId R4") == [(0x02, 0, 0, 0, 0), (0x05, 4, 0, 0, 0)]


def test_branch_offsets_count_instructions_from_the_next_one() -> None:
    assert words("top: nop\nbeq r1, r2, top\nbnez r3, end\nnop\nend: jmp top") == [
        (0x01, 0, 0, 0, 0),
        (0x30, 1, 2, 0, -2),
        (0x37, 3, 0, 0, 1),
        (0x01, 0, 0, 0, 0),
        (0x38, 0, 0, 0, -5),
    ]


def test_pseudo_instructions() -> None:
    assert words("mov r1, r2\nnot r3, r4\nbgt r1, r2, x\nx: ret") == [
        (0x20, 1, 2, 0, 0),
        (0x24, 3, 4, 0, -1),
        (0x32, 2, 1, 0, 0),
        (0x3A, 255, 0, 0, 0),
    ]
    assert words("call f\nf: nop") == [(0x39, 255, 0, 0, 0), (0x01, 0, 0, 0, 0)]
    assert words("li64 r1, 0x123456789abcdef0") == [
        (0x2A, 1, 0, 0, 0x9ABCDEF0 - (1 << 32)),
        (0x2B, 1, 0, 0, 0x12345678),
    ]


def test_directives_symbols_and_expressions() -> None:
    prog = assemble(
        """
        .equ BASE, 0x100
        SIZE = (1 << 4) * 2 + BASE % 7
        start:  li r1, SIZE
                li r2, msg - start
        msg:    .ascii "ab\\x00\\n"
                .byte 1, -1, 'z'
                .align 8
        data:   .u16 0xBEEF
                .u32 7
                .zero 2
                .u64 start + 8
                .org 0x1040
        end:    .asciz "!"
        """,
        base=0x1000,
    )
    assert prog.symbols["SIZE"] == 32 + 0x100 % 7
    assert prog.address("msg") == 0x1010
    assert prog.address("data") == 0x1018
    assert prog.address("end") == 0x1040
    img = prog.image
    assert img[0x10:0x17] == b"ab\0\n\x01\xff" + b"z"
    assert img[0x18:0x1A] == b"\xef\xbe"
    assert struct.unpack_from("<I", img, 0x1A) == (7,)
    assert struct.unpack_from("<Q", img, 0x20) == (0x1008,)
    assert img[0x40:] == b"!\0"
    assert prog.end == 0x1042
    with pytest.raises(KeyError, match="nothing"):
        prog.address("nothing")


def test_comments_and_labels_on_their_own_lines() -> None:
    assert words('; c1\n# c2\n// c3\na:\nb: c: nop ; x\n  .ascii "; not a comment"\n.align 8') == [
        (0x01, 0, 0, 0, 0),
        struct.unpack("<BBBBi", b"; not a "),
        struct.unpack("<BBBBi", b"comment\0"),
    ]


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("nop\nfrobnicate r1", 2, "unknown instruction 'frobnicate'"),
        ("add r1, r2", 1, "add takes 3 operands, got 2"),
        ("addi r1, r2, 1 << 40", 1, "out of range"),
        ("shli r1, r2, 64", 1, "shift 64 is out of range 0..63"),
        ("li r256, 1", 1, "expected a register r0..r255"),
        ("nop\n\nbeq r1, r2, missing", 3, "undefined symbol 'missing'"),
        ("jmp 0x4", 1, "not a multiple of 8"),
        ("jmp 0x1000000", 1, "out of range"),
        ("ld64 r1, r2", 1, "expected a memory operand"),
        (".byte 300", 1, "does not fit"),
        (".byte 1\nnop", 2, "unaligned address 0x1"),
        ("x: nop\nx: nop", 2, "defined twice"),
        ("r5: nop", 1, "register name"),
        ("outb 0x10000, r1", 1, "port 65536"),
        ("in r1, 3", 1, "size suffix"),
        (".org 0x10\n.org 0x8", 2, "behind"),
        (".align 3", 1, "power of two"),
        (".ascii nope", 1, "double quotes"),
        ('.ascii "\\q"', 1, "unknown escape"),
        ("li r1, (1 + 2", 1, "missing ')'"),
        ("li r1, 4 / 0", 1, "division by zero"),
        ("A = B\nB = A\nli r1, A", 3, "in terms of itself"),
        (".zero N\nN = 3", 1, "must be defined before"),
    ],
)
def test_errors_carry_the_line(source: str, line: int, message: str) -> None:
    with pytest.raises(AsmError) as err:
        assemble(source)
    assert err.value.line_no == line
    assert message in err.value.message
    assert str(err.value).startswith(f"line {line}: ")
    assert source.splitlines()[line - 1].strip() in str(err.value)


def test_unaligned_base_is_refused() -> None:
    with pytest.raises(AsmError, match="base address"):
        assemble("nop", base=4)


@given(
    op=st.sampled_from(sorted(OPCODES)),
    a=st.integers(0, 255),
    b=st.integers(0, 255),
    c=st.integers(0, 255),
    imm=st.integers(-(1 << 31), (1 << 31) - 1),
)
def test_disassembly_of_any_word_reassembles_when_it_has_no_relative_target(
    op: str, a: int, b: int, c: int, imm: int
) -> None:
    opcode, fmt = OPCODES[op]
    if fmt in ("rrl", "rl", "l"):
        return  # relative targets are shown as instruction offsets, not labels
    if fmt in ("in", "out"):
        c = [1, 2, 4, 8][c % 4]
        imm &= 0xFFFF
    if fmt == "rrs":
        imm &= 63
    word = encode(opcode, a, b, c, imm)
    text = disassemble(word)
    again = assemble(text).image
    # fields the instruction does not use are dropped by the assembler
    assert disassemble(again) == text


def test_disassemble_illegal_word() -> None:
    assert "illegal opcode 0xff" in disassemble(0xFF)
    assert disassemble(encode(0x37, 3, 0, 0, -2)) == "bnez r3, .-2"
