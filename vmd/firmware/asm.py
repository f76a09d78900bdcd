"""Assembler (and a one-line disassembler) for the vmd guest ISA, native/ISA.md.

Why one module of ~700 lines: the assembler, the opcode table it shares with the disassembler
and the expression evaluator change together whenever the ISA does.

``assemble(source, base=...)`` turns assembly text into a ``Program``: the
image bytes to load at `base` and the symbol table.  Errors are ``AsmError``
with the line number and the line.

Syntax, one statement per line::

    ; comment (also # and //)
    .equ SERIAL, 0x3f8        ; or: SERIAL = 0x3f8
    loop:   addi r1, r1, -1   ; labels end with ':'
            ld64 r2, [r3 + 8] ; memory operands: [reg], [reg + expr], [reg - expr]
            bnez r1, loop     ; branch targets are expressions (usually labels)
            outb SERIAL, r2
    msg:    .asciz "hi\\n"

Registers are r0..r255 (``sp`` = r254, ``lr`` = r255).  Expressions use
integers (``42``, ``0x2a``, ``0b101``, ``'*'``), symbols and ``+ - * / % << >>
& | ^ ~ ( )``.  Directives: ``.org``, ``.align``, ``.zero``, ``.byte``,
``.u16``, ``.u32``, ``.u64``/``.quad``, ``.ascii``, ``.asciz``, ``.equ``.
Pseudo-instructions: ``mov``, ``not``, ``li64`` (two instructions), ``call``,
``ret``, ``bgt``, ``ble``, ``bgtu``, ``bleu``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Final

from vmd.records import dataclass

INSN_SIZE: Final = 8
NUM_REGS: Final = 256
REG_ALIASES: Final = {"sp": 254, "lr": 255}
BRANCH_RANGE: Final = (-(1 << 15), (1 << 15) - 1)  # instructions, from the next one


class AsmError(ValueError):
    """An assembly error at `line_no` (1-based) of the source."""

    def __init__(self, message: str, line_no: int = 0, line: str = "") -> None:
        self.message = message
        self.line_no = line_no
        self.line = line
        where = f"line {line_no}: " if line_no else ""
        text = f"{where}{message}"
        if line.strip():
            text += f"\n    {line.strip()}"
        super().__init__(text)


# --------------------------------------------------------------------------- the ISA table

# Operand formats:
#   ""    no operands             "r"   a                      "rr"  a, b
#   "rrr" a, b, c                 "rri" a, b, imm32            "rrs" a, b, shift 0..63
#   "ri"  a, imm32                "rih" a, imm32 or uint32     "rrl" a, b, target
#   "rl"  a, target               "l"   target                 "rm"  a, [b + imm32]
#   "rmr" a, [b + imm32], c       "in"  a, port (c = size)     "out" port, a (c = size)
OPCODES: Final[Mapping[str, tuple[int, str]]] = {
    "nop": (0x01, ""),
    "hlt": (0x02, ""),
    "pause": (0x03, ""),
    "fence": (0x04, ""),
    "cpuid": (0x05, "r"),
    "irq": (0x06, "r"),
    "in": (0x07, "in"),
    "out": (0x08, "out"),
    "add": (0x10, "rrr"),
    "sub": (0x11, "rrr"),
    "mul": (0x12, "rrr"),
    "divu": (0x13, "rrr"),
    "remu": (0x14, "rrr"),
    "div": (0x15, "rrr"),
    "rem": (0x16, "rrr"),
    "and": (0x17, "rrr"),
    "or": (0x18, "rrr"),
    "xor": (0x19, "rrr"),
    "shl": (0x1A, "rrr"),
    "shr": (0x1B, "rrr"),
    "sar": (0x1C, "rrr"),
    "slt": (0x1D, "rrr"),
    "sltu": (0x1E, "rrr"),
    "addi": (0x20, "rri"),
    "muli": (0x21, "rri"),
    "andi": (0x22, "rri"),
    "ori": (0x23, "rri"),
    "xori": (0x24, "rri"),
    "shli": (0x25, "rrs"),
    "shri": (0x26, "rrs"),
    "sari": (0x27, "rrs"),
    "slti": (0x28, "rri"),
    "sltiu": (0x29, "rri"),
    "li": (0x2A, "ri"),
    "lih": (0x2B, "rih"),
    "beq": (0x30, "rrl"),
    "bne": (0x31, "rrl"),
    "blt": (0x32, "rrl"),
    "bge": (0x33, "rrl"),
    "bltu": (0x34, "rrl"),
    "bgeu": (0x35, "rrl"),
    "beqz": (0x36, "rl"),
    "bnez": (0x37, "rl"),
    "jmp": (0x38, "l"),
    "jal": (0x39, "rl"),
    "jr": (0x3A, "r"),
    "jalr": (0x3B, "rr"),
    "ld8": (0x40, "rm"),
    "ld16": (0x41, "rm"),
    "ld32": (0x42, "rm"),
    "ld64": (0x43, "rm"),
    "lds8": (0x44, "rm"),
    "lds16": (0x45, "rm"),
    "lds32": (0x46, "rm"),
    "st8": (0x48, "rm"),
    "st16": (0x49, "rm"),
    "st32": (0x4A, "rm"),
    "st64": (0x4B, "rm"),
    "aadd": (0x50, "rmr"),
    "xchg": (0x51, "rmr"),
    "cas": (0x52, "rmr"),
}
OPCODE_NAMES: Final[Mapping[int, str]] = {op: name for name, (op, _) in OPCODES.items()}
IO_SIZES: Final[Mapping[str, int]] = {"b": 1, "w": 2, "d": 4, "q": 8}
_IO_SUFFIX: Final = {size: suffix for suffix, size in IO_SIZES.items()}


def encode(op: int, a: int = 0, b: int = 0, c: int = 0, imm: int = 0) -> bytes:
    """One instruction: opcode, three register/operand bytes, imm32 (little-endian)."""
    return struct.pack("<BBBBI", op, a, b, c, imm & 0xFFFF_FFFF)


def disassemble(word: int | bytes) -> str:
    """One instruction (8 bytes, or their little-endian integer) as text; offsets stay numeric."""
    raw = word if isinstance(word, bytes) else (word & (2**64 - 1)).to_bytes(8, "little")
    op, a, b, c, uimm = struct.unpack("<BBBBI", raw)
    imm = uimm - (1 << 32) if uimm >> 31 else uimm
    off = struct.unpack("<h", raw[4:6])[0]
    name = OPCODE_NAMES.get(op)
    if name is None:
        return f".u64 {int.from_bytes(raw, 'little'):#018x}  ; illegal opcode {op:#04x}"
    fmt = OPCODES[name][1]
    if fmt in ("in", "out"):
        suffix = _IO_SUFFIX.get(c, f"?{c}")
        return f"{name}{suffix} r{a}, {uimm:#x}" if fmt == "in" else f"{name}{suffix} {uimm:#x}, r{a}"
    operands = {
        "": "",
        "r": f"r{a}",
        "rr": f"r{a}, r{b}",
        "rrr": f"r{a}, r{b}, r{c}",
        "rri": f"r{a}, r{b}, {imm}",
        "rrs": f"r{a}, r{b}, {imm}",
        "ri": f"r{a}, {imm}",
        "rih": f"r{a}, {uimm:#x}",
        "rrl": f"r{a}, r{b}, .{off:+d}",
        "rl": f"r{a}, .{off:+d}",
        "l": f".{off:+d}",
        "rm": f"r{a}, [r{b} {'-' if imm < 0 else '+'} {abs(imm)}]",
        "rmr": f"r{a}, [r{b} {'-' if imm < 0 else '+'} {abs(imm)}], r{c}",
    }[fmt]
    return f"{name} {operands}".rstrip()


# --------------------------------------------------------------------------- the program


@dataclass(frozen=True)
class Program:
    """An assembled image, to be loaded at `base`."""

    base: int
    image: bytes
    symbols: Mapping[str, int] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.base + len(self.image)

    def address(self, symbol: str) -> int:
        try:
            return self.symbols[symbol]
        except KeyError:
            raise KeyError(f"no symbol {symbol!r} in the program") from None


def assemble(source: str, *, base: int = 0) -> Program:
    """Assemble `source`; the image starts at `base` (a multiple of 8)."""
    if base < 0 or base % INSN_SIZE:
        raise AsmError(f"base address {base:#x} is not a non-negative multiple of {INSN_SIZE}")
    return _Assembler(source, base).run()


# --------------------------------------------------------------------------- lexing

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|\d[\d_]*)
      | (?P<chr>'(?:\\.|[^\\'])')
      | (?P<name>[A-Za-z_.$][\w.$]*)
      | (?P<op><<|>>|[-+*/%&|^~()])
    )""",
    re.VERBOSE,
)
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


def _unescape(body: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("string ends with a lone backslash")
        esc = body[i + 1]
        if esc == "x":
            digits = body[i + 2 : i + 4]
            if len(digits) != 2 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError("\\x needs two hex digits")
            out.append(int(digits, 16))
            i += 4
        elif esc in _ESCAPES:
            out += _ESCAPES[esc].encode()
            i += 2
        else:
            raise ValueError(f"unknown escape \\{esc}")
    return bytes(out)


def _strip_comment(line: str) -> str:
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in ";#" or line.startswith("//", i):
            return line[:i]
        i += 1
    return line


def _split_operands(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    quote = ""
    cur = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            cur += ch
            if ch == "\\" and i + 1 < len(text):
                cur += text[i + 1]
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            cur += ch
        elif ch in "[(":
            depth += 1
            cur += ch
        elif ch in "])":
            depth -= 1
            cur += ch
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    if cur.strip() or parts:
        parts.append(cur.strip())
    if any(not p for p in parts):
        raise ValueError("empty operand")
    return parts


Lookup = Callable[[str], int]


class _Expr:
    """A tiny recursive-descent evaluator (Python precedence, integer arithmetic)."""

    _LEVELS: Final = (("|",), ("^",), ("&",), ("<<", ">>"), ("+", "-"), ("*", "/", "%"))

    def __init__(self, text: str, lookup: Lookup) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ValueError(f"cannot parse {text[pos:]!r} in expression {text!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        if not self.tokens:
            raise ValueError("missing expression")
        self.pos = 0
        self.lookup = lookup
        self.text = text

    def value(self) -> int:
        v = self._binary(0)
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.pos][1]!r} in expression {self.text!r}")
        return v

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _binary(self, level: int) -> int:
        if level == len(self._LEVELS):
            return self._unary()
        v = self._binary(level + 1)
        while self._peek() in self._LEVELS[level]:
            op = self.tokens[self.pos][1]
            self.pos += 1
            w = self._binary(level + 1)
            if op in "/%" and w == 0:
                raise ValueError("division by zero in expression")
            v = {
                "|": lambda x, y: x | y,
                "^": lambda x, y: x ^ y,
                "&": lambda x, y: x & y,
                "<<": lambda x, y: x << y,
                ">>": lambda x, y: x >> y,
                "+": lambda x, y: x + y,
                "-": lambda x, y: x - y,
                "*": lambda x, y: x * y,
                "/": lambda x, y: x // y,
                "%": lambda x, y: x % y,
            }[op](v, w)
        return v

    def _unary(self) -> int:
        tok = self._peek()
        if tok in ("-", "+", "~"):
            self.pos += 1
            v = self._unary()
            return -v if tok == "-" else ~v if tok == "~" else v
        if tok == "(":
            self.pos += 1
            v = self._binary(0)
            if self._peek() != ")":
                raise ValueError(f"missing ')' in expression {self.text!r}")
            self.pos += 1
            return v
        if tok is None:
            raise ValueError(f"expression {self.text!r} ends early")
        kind, text = self.tokens[self.pos]
        self.pos += 1
        if kind == "num":
            return int(text.replace("_", ""), 0)
        if kind == "chr":
            body = _unescape(text[1:-1])
            if len(body) != 1:
                raise ValueError(f"bad character literal {text}")
            return body[0]
        if kind == "name":
            return self.lookup(text)
        raise ValueError(f"unexpected {text!r} in expression {self.text!r}")


# --------------------------------------------------------------------------- assembling


@dataclass
class _Stmt:
    line_no: int
    line: str
    addr: int
    kind: str  # "insn" or a directive name
    name: str
    operands: list[str]


class _Unresolved(Exception):
    pass


class _Assembler:
    def __init__(self, source: str, base: int) -> None:
        self.source = source
        self.base = base
        self.labels: dict[str, int] = {}
        self.equs: dict[str, tuple[str, int, str]] = {}  # name -> (expr, line_no, line)
        self.stmts: list[_Stmt] = []
        self._resolving: set[str] = set()

    # symbols

    def _lookup(self, name: str, *, final: bool) -> int:
        if name in self.labels:
            return self.labels[name]
        if name in self.equs:
            if name in self._resolving:
                raise ValueError(f"symbol {name!r} is defined in terms of itself")
            expr, _, _ = self.equs[name]
            self._resolving.add(name)
            try:
                return self._eval(expr, final=final)
            finally:
                self._resolving.discard(name)
        if final:
            raise ValueError(f"undefined symbol {name!r}")
        raise _Unresolved(name)

    def _eval(self, expr: str, *, final: bool = True) -> int:
        return _Expr(expr, lambda n: self._lookup(n, final=final)).value()

    def _define(self, name: str, line_no: int, line: str) -> None:
        if name.lower() in REG_ALIASES or re.fullmatch(r"[rR]\d+", name):
            raise AsmError(f"{name!r} is a register name and cannot be a symbol", line_no, line)
        if name in self.labels or name in self.equs:
            raise AsmError(f"symbol {name!r} is defined twice", line_no, line)

    # pass 1: addresses

    def run(self) -> Program:
        addr = self.base
        for line_no, raw in enumerate(self.source.splitlines(), 1):
            try:
                addr = self._pass1(line_no, raw, addr)
            except AsmError:
                raise
            except (ValueError, _Unresolved) as exc:
                msg = (
                    f"symbol {exc} must be defined before this line" if isinstance(exc, _Unresolved) else exc
                )
                raise AsmError(str(msg), line_no, raw) from None
        image = bytearray(addr - self.base)
        for st in self.stmts:
            try:
                data = self._emit(st)
            except AsmError:
                raise
            except ValueError as exc:
                raise AsmError(str(exc), st.line_no, st.line) from None
            off = st.addr - self.base
            image[off : off + len(data)] = data
        symbols = dict(self.labels)
        for name in self.equs:
            symbols[name] = self._lookup(name, final=True)
        return Program(self.base, bytes(image), symbols)

    def _pass1(self, line_no: int, raw: str, addr: int) -> int:
        text = _strip_comment(raw).strip()
        # labels (several allowed)
        while True:
            m = re.match(r"([A-Za-z_.$][\w.$]*)\s*:(?!:)", text)
            if not m or m.group(1).startswith("."):
                break
            self._define(m.group(1), line_no, raw)
            self.labels[m.group(1)] = addr
            text = text[m.end() :].strip()
        if not text:
            return addr
        m = re.fullmatch(r"([A-Za-z_$][\w.$]*)\s*=\s*(.+)", text)
        if m:
            self._define(m.group(1), line_no, raw)
            self.equs[m.group(1)] = (m.group(2), line_no, raw)
            return addr
        head, rest = re.fullmatch(r"(\S+)\s*(.*)", text).groups()  # type: ignore[union-attr]
        name = head.lower()
        operands = _split_operands(rest) if rest else []
        if name.startswith("."):
            return self._directive1(line_no, raw, addr, name, operands)
        size = self._insn_size(name)
        if addr % INSN_SIZE:
            raise AsmError(
                f"instruction at unaligned address {addr:#x} (add '.align 8' after the data)", line_no, raw
            )
        self.stmts.append(_Stmt(line_no, raw, addr, "insn", name, operands))
        return addr + size

    def _insn_size(self, name: str) -> int:
        if name in OPCODES and OPCODES[name][1] not in ("in", "out"):
            return INSN_SIZE
        if name[:-1] in ("in", "out") and name[-1] in IO_SIZES:
            return INSN_SIZE
        if name in ("mov", "not", "call", "ret", "bgt", "ble", "bgtu", "bleu"):
            return INSN_SIZE
        if name == "li64":
            return 2 * INSN_SIZE
        if name in ("in", "out"):
            raise ValueError(f"{name} needs a size suffix: {name}b, {name}w, {name}d or {name}q")
        raise ValueError(f"unknown instruction {name!r}")

    def _directive1(self, line_no: int, raw: str, addr: int, name: str, ops: list[str]) -> int:
        def need(n: int) -> None:
            if len(ops) != n:
                raise ValueError(f"{name} takes {n} operand{'s' if n != 1 else ''}, got {len(ops)}")

        if name == ".equ":
            need(2)
            self._define(ops[0], line_no, raw)
            self.equs[ops[0]] = (ops[1], line_no, raw)
            return addr
        if name == ".org":
            need(1)
            target = self._eval(ops[0], final=False)
            if target < addr:
                raise ValueError(f".org {target:#x} is behind the current address {addr:#x}")
            return target
        if name == ".align":
            need(1)
            n = self._eval(ops[0], final=False)
            if n <= 0 or n & (n - 1):
                raise ValueError(f".align needs a power of two, not {n}")
            return (addr + n - 1) // n * n
        if name == ".zero":
            need(1)
            n = self._eval(ops[0], final=False)
            if n < 0:
                raise ValueError(".zero needs a non-negative size")
            return addr + n
        widths = {".byte": 1, ".u16": 2, ".u32": 4, ".u64": 8, ".quad": 8}
        if name in widths:
            if not ops:
                raise ValueError(f"{name} needs at least one value")
            self.stmts.append(_Stmt(line_no, raw, addr, name, name, ops))
            return addr + widths[name] * len(ops)
        if name in (".ascii", ".asciz"):
            need(1)
            data = self._string(ops[0]) + (b"\0" if name == ".asciz" else b"")
            self.stmts.append(_Stmt(line_no, raw, addr, name, name, ops))
            return addr + len(data)
        raise ValueError(f"unknown directive {name!r}")

    @staticmethod
    def _string(op: str) -> bytes:
        if len(op) < 2 or op[0] != '"' or op[-1] != '"':
            raise ValueError(f"expected a string in double quotes, got {op!r}")
        return _unescape(op[1:-1])

    # pass 2: bytes

    def _emit(self, st: _Stmt) -> bytes:
        if st.kind == "insn":
            return self._insn(st)
        if st.kind in (".ascii", ".asciz"):
            return self._string(st.operands[0]) + (b"\0" if st.kind == ".asciz" else b"")
        width = {".byte": 1, ".u16": 2, ".u32": 4, ".u64": 8, ".quad": 8}[st.kind]
        out = bytearray()
        for op in st.operands:
            v = self._eval(op)
            if not -(1 << (8 * width - 1)) <= v < (1 << (8 * width)):
                raise ValueError(f"value {v} does not fit in {width} byte{'s' if width > 1 else ''}")
            out += (v & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        return bytes(out)

    def _reg(self, text: str) -> int:
        t = text.strip().lower()
        if t in REG_ALIASES:
            return REG_ALIASES[t]
        m = re.fullmatch(r"r(\d+)", t)
        if not m or int(m.group(1)) >= NUM_REGS:
            raise ValueError(f"expected a register r0..r{NUM_REGS - 1}, got {text.strip()!r}")
        return int(m.group(1))

    def _imm(self, text: str, lo: int, hi: int, what: str = "immediate") -> int:
        v = self._eval(text)
        if not lo <= v <= hi:
            raise ValueError(f"{what} {v} is out of range {lo}..{hi}")
        return v

    def _imm32(self, text: str) -> int:
        return self._imm(text, -(1 << 31), (1 << 31) - 1)

    def _mem(self, text: str) -> tuple[int, int]:
        m = re.fullmatch(r"\[\s*([^\]+\-]+?)\s*(?:([+-])(.*))?\]", text.strip())
        if not m:
            raise ValueError(
                f"expected a memory operand [reg], [reg + offset] or [reg - offset], got {text!r}"
            )
        reg = self._reg(m.group(1))
        off = self._eval(m.group(2) + m.group(3)) if m.group(2) else 0
        if not -(1 << 31) <= off < (1 << 31):
            raise ValueError(f"offset {off} is out of the signed 32-bit range")
        return reg, off

    def _offset(self, text: str, addr: int) -> int:
        target = self._eval(text)
        if target % INSN_SIZE:
            raise ValueError(f"branch target {target:#x} is not a multiple of {INSN_SIZE}")
        off = (target - (addr + INSN_SIZE)) // INSN_SIZE
        if not BRANCH_RANGE[0] <= off <= BRANCH_RANGE[1]:
            raise ValueError(f"branch target {target:#x} is out of range (+-32768 instructions); use jr")
        return off

    def _insn(self, st: _Stmt) -> bytes:
        name, ops, addr = st.name, st.operands, st.addr

        def need(n: int) -> None:
            if len(ops) != n:
                raise ValueError(f"{name} takes {n} operand{'s' if n != 1 else ''}, got {len(ops)}")

        # pseudo-instructions
        if name == "mov":
            need(2)
            return encode(0x20, self._reg(ops[0]), self._reg(ops[1]), 0, 0)
        if name == "not":
            need(2)
            return encode(0x24, self._reg(ops[0]), self._reg(ops[1]), 0, -1)
        if name == "li64":
            need(2)
            rd = self._reg(ops[0])
            v = self._imm(ops[1], -(1 << 63), (1 << 64) - 1) & ((1 << 64) - 1)
            return encode(0x2A, rd, 0, 0, v & 0xFFFF_FFFF) + encode(0x2B, rd, 0, 0, v >> 32)
        if name == "call":
            need(1)
            return encode(0x39, REG_ALIASES["lr"], 0, 0, self._offset(ops[0], addr))
        if name == "ret":
            need(0)
            return encode(0x3A, REG_ALIASES["lr"])
        swapped = {"bgt": "blt", "ble": "bge", "bgtu": "bltu", "bleu": "bgeu"}
        if name in swapped:
            need(3)
            op = OPCODES[swapped[name]][0]
            return encode(op, self._reg(ops[1]), self._reg(ops[0]), 0, self._offset(ops[2], addr))
        if name[:-1] in ("in", "out") and name[-1] in IO_SIZES:
            need(2)
            size = IO_SIZES[name[-1]]
            if name.startswith("in"):
                rd, port = self._reg(ops[0]), self._imm(ops[1], 0, 0xFFFF, "port")
                return encode(0x07, rd, 0, size, port)
            port, rs = self._imm(ops[0], 0, 0xFFFF, "port"), self._reg(ops[1])
            return encode(0x08, rs, 0, size, port)

        op, fmt = OPCODES[name]
        if fmt == "":
            need(0)
            return encode(op)
        if fmt == "r":
            need(1)
            return encode(op, self._reg(ops[0]))
        if fmt == "rr":
            need(2)
            return encode(op, self._reg(ops[0]), self._reg(ops[1]))
        if fmt == "rrr":
            need(3)
            return encode(op, self._reg(ops[0]), self._reg(ops[1]), self._reg(ops[2]))
        if fmt == "rri":
            need(3)
            return encode(op, self._reg(ops[0]), self._reg(ops[1]), 0, self._imm32(ops[2]))
        if fmt == "rrs":
            need(3)
            return encode(op, self._reg(ops[0]), self._reg(ops[1]), 0, self._imm(ops[2], 0, 63, "shift"))
        if fmt == "ri":
            need(2)
            return encode(op, self._reg(ops[0]), 0, 0, self._imm32(ops[1]))
        if fmt == "rih":
            need(2)
            return encode(op, self._reg(ops[0]), 0, 0, self._imm(ops[1], -(1 << 31), (1 << 32) - 1))
        if fmt == "rrl":
            need(3)
            return encode(op, self._reg(ops[0]), self._reg(ops[1]), 0, self._offset(ops[2], addr))
        if fmt == "rl":
            need(2)
            return encode(op, self._reg(ops[0]), 0, 0, self._offset(ops[1], addr))
        if fmt == "l":
            need(1)
            return encode(op, 0, 0, 0, self._offset(ops[0], addr))
        if fmt == "rm":
            need(2)
            base, off = self._mem(ops[1])
            return encode(op, self._reg(ops[0]), base, 0, off)
        if fmt == "rmr":
            need(3)
            base, off = self._mem(ops[1])
            return encode(op, self._reg(ops[0]), base, self._reg(ops[2]), off)
        raise AssertionError(f"unhandled operand format {fmt!r}")  # pragma: no cover
