"""A pure-Python reference interpreter of the vmd guest ISA (native/ISA.md).

Written for clarity, not speed: the property tests run random programs on it
and on the native engine and compare the final state.  One vCPU, no
concurrency, no interrupts posted (``irq`` reads 0), HLT ends the run.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

MASK = (1 << 64) - 1
NUM_REGS = 256

# fault codes (ISA.md)
ILLEGAL, PC_RANGE, PC_ALIGN, MEM_RANGE, MEM_ALIGN = 1, 2, 3, 4, 5

IoHandler = Callable[[int, int, int, bool, int], "int | None"]


def s64(v: int) -> int:
    v &= MASK
    return v - (1 << 64) if v >> 63 else v


def sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


@dataclass(frozen=True)
class Fault:
    code: int
    pc: int
    addr: int
    insn: int


@dataclass
class RefResult:
    reason: str  # "halt", "steps" or "fault"
    pc: int
    regs: list[int]
    retired: int
    fault: Fault | None = None


@dataclass
class RefCpu:
    ram: bytearray
    entry: int
    index: int = 0
    regs: list[int] = field(default_factory=lambda: [0] * NUM_REGS)
    retired: int = 0

    def __post_init__(self) -> None:
        self.pc = self.entry
        self.size = len(self.ram)

    # -- memory -------------------------------------------------------------------------------

    def _ea(self, base: int, imm: int, n: int, pc: int, word: int) -> int | Fault:
        addr = (self.regs[base] + imm) & MASK
        if addr > self.size - n:
            return Fault(MEM_RANGE, pc, addr, word)
        if addr % n:
            return Fault(MEM_ALIGN, pc, addr, word)
        return addr

    def _load(self, addr: int, n: int) -> int:
        return int.from_bytes(self.ram[addr : addr + n], "little")

    def _store(self, addr: int, n: int, value: int) -> None:
        self.ram[addr : addr + n] = (value & ((1 << (8 * n)) - 1)).to_bytes(n, "little")

    # -- execution ----------------------------------------------------------------------------

    def run(self, max_steps: int | None = None, on_io: IoHandler | None = None) -> RefResult:
        r = self.regs
        steps = 0
        while True:
            if max_steps is not None and steps == max_steps:
                return RefResult("steps", self.pc, list(r), self.retired)
            steps += 1
            pc = self.pc
            if pc >= self.size:
                return self._fault(Fault(PC_RANGE, pc, pc, 0))
            if pc % 8:
                return self._fault(Fault(PC_ALIGN, pc, pc, 0))
            raw = bytes(self.ram[pc : pc + 8])
            word = int.from_bytes(raw, "little")
            op, a, b, c = raw[0], raw[1], raw[2], raw[3]
            imm = struct.unpack_from("<i", raw, 4)[0]
            uimm = imm & 0xFFFF_FFFF
            off = struct.unpack_from("<h", raw, 4)[0]
            nxt = pc + 8
            new_pc = nxt

            if op == 0x01 or op == 0x03 or op == 0x04:  # nop, pause, fence
                pass
            elif op == 0x02:  # hlt (nothing is ever pending here)
                return RefResult("halt", pc, list(r), self.retired)
            elif op == 0x05:
                r[a] = self.index
            elif op == 0x06:
                r[a] = 0
            elif op in (0x07, 0x08):
                if c not in (1, 2, 4, 8) or uimm > 0xFFFF:
                    return self._fault(Fault(ILLEGAL, pc, pc, word))
                mask = (1 << (8 * c)) - 1
                is_write = op == 0x08
                value = r[a] & mask if is_write else 0
                result = on_io(self.index, uimm, c, is_write, value) if on_io else None
                if not is_write:
                    r[a] = mask if result is None else result & mask
            elif 0x10 <= op <= 0x1E:
                x, y = r[b], r[c]
                r[a] = self._alu(op, x, y)
            elif 0x20 <= op <= 0x29:
                x, y = r[b], imm & MASK
                if op == 0x20:
                    r[a] = (x + y) & MASK
                elif op == 0x21:
                    r[a] = (x * y) & MASK
                elif op == 0x22:
                    r[a] = x & y
                elif op == 0x23:
                    r[a] = x | y
                elif op == 0x24:
                    r[a] = x ^ y
                elif op == 0x25:
                    r[a] = (x << (imm & 63)) & MASK
                elif op == 0x26:
                    r[a] = x >> (imm & 63)
                elif op == 0x27:
                    r[a] = (s64(x) >> (imm & 63)) & MASK
                elif op == 0x28:
                    r[a] = int(s64(x) < imm)
                else:
                    r[a] = int(x < y)
            elif op == 0x2A:
                r[a] = imm & MASK
            elif op == 0x2B:
                r[a] = (r[a] & 0xFFFF_FFFF) | (uimm << 32)
            elif 0x30 <= op <= 0x37:
                x, y = r[a], r[b]
                taken = {
                    0x30: x == y,
                    0x31: x != y,
                    0x32: s64(x) < s64(y),
                    0x33: s64(x) >= s64(y),
                    0x34: x < y,
                    0x35: x >= y,
                    0x36: x == 0,
                    0x37: x != 0,
                }[op]
                if taken:
                    new_pc = (nxt + 8 * off) & MASK
            elif op == 0x38:
                new_pc = (nxt + 8 * off) & MASK
            elif op == 0x39:
                r[a] = nxt
                new_pc = (nxt + 8 * off) & MASK
            elif op == 0x3A:
                new_pc = r[a]
            elif op == 0x3B:
                t = r[b]
                r[a] = nxt
                new_pc = t
            elif op in (0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46):
                n = {0x40: 1, 0x41: 2, 0x42: 4, 0x43: 8, 0x44: 1, 0x45: 2, 0x46: 4}[op]
                addr = self._ea(b, imm, n, pc, word)
                if isinstance(addr, Fault):
                    return self._fault(addr)
                v = self._load(addr, n)
                r[a] = sext(v, 8 * n) & MASK if op >= 0x44 else v
            elif op in (0x48, 0x49, 0x4A, 0x4B):
                n = {0x48: 1, 0x49: 2, 0x4A: 4, 0x4B: 8}[op]
                addr = self._ea(b, imm, n, pc, word)
                if isinstance(addr, Fault):
                    return self._fault(addr)
                self._store(addr, n, r[a])
            elif op in (0x50, 0x51, 0x52):
                addr = self._ea(b, imm, 8, pc, word)
                if isinstance(addr, Fault):
                    return self._fault(addr)
                old = self._load(addr, 8)
                if op == 0x50:
                    self._store(addr, 8, old + r[c])
                elif op == 0x51 or old == r[a]:  # xchg always, cas when it matches
                    self._store(addr, 8, r[c])
                r[a] = old
            else:
                return self._fault(Fault(ILLEGAL, pc, pc, word))

            self.retired += 1
            self.pc = new_pc

    def _fault(self, fault: Fault) -> RefResult:
        self.pc = fault.pc
        return RefResult("fault", fault.pc, list(self.regs), self.retired, fault)

    @staticmethod
    def _alu(op: int, x: int, y: int) -> int:
        if op == 0x10:
            return (x + y) & MASK
        if op == 0x11:
            return (x - y) & MASK
        if op == 0x12:
            return (x * y) & MASK
        if op == 0x13:
            return x // y if y else MASK
        if op == 0x14:
            return x % y if y else x
        if op == 0x15:
            sx, sy = s64(x), s64(y)
            if sy == 0:
                return MASK
            if sx == -(1 << 63) and sy == -1:
                return x
            q = abs(sx) // abs(sy)
            return (q if (sx < 0) == (sy < 0) else -q) & MASK
        if op == 0x16:
            sx, sy = s64(x), s64(y)
            if sy == 0:
                return x
            if sx == -(1 << 63) and sy == -1:
                return 0
            rem = abs(sx) % abs(sy)
            return (rem if sx >= 0 else -rem) & MASK
        if op == 0x17:
            return x & y
        if op == 0x18:
            return x | y
        if op == 0x19:
            return x ^ y
        if op == 0x1A:
            return (x << (y & 63)) & MASK
        if op == 0x1B:
            return x >> (y & 63)
        if op == 0x1C:
            return (s64(x) >> (y & 63)) & MASK
        if op == 0x1D:
            return int(s64(x) < s64(y))
        if op == 0x1E:
            return int(x < y)
        raise AssertionError(op)
