"""The standard guest program ("firmware") and the guest-RAM layout it uses.

Every vCPU starts at ``FIRMWARE_BASE``.  CPU 0 first prints ``BANNER`` on the
serial port.  Then each CPU looks up its bit in the online bitmap:

* online: it reports ``CPU_STATE_ONLINE`` (its per-CPU ``state`` word and an
  ``OUT`` to ``CPU_STATE_PORT``); then, while ``WORK_ENABLE`` is non-zero, it
  loops, incrementing its per-CPU progress counter (plain load/add/store) and
  the shared counter (atomic ``aadd``), re-reading the enable word and its
  online bit on every iteration; while the word is zero it rests in HLT, as an
  idle kernel does, and re-reads both at every wake-up;
* offline (never online, or its bit was cleared): it reports
  ``CPU_STATE_OFFLINE`` the same way and halts.  Every wake-up clears the
  pending interrupts (``irq``), counts itself in ``wakeups`` and re-reads the
  online bit; an offline CPU woken with its bit still clear reports
  ``CPU_STATE_OFFLINE`` again, so that every wake-up of an offline CPU is
  answered (the guest model waits for an answer to each change it asks for).

So the VMM (or the guest model) brings a CPU online or offline by changing
its bit in the online bitmap and then posting an interrupt (``IRQ_WAKE``) to
it; the guest acknowledges on ``CPU_STATE_PORT`` (value = the new state, from
the vCPU itself).  Only the VMM writes the bitmap and the enable word (which
sets how busy the guest is: the guest model's `load` policy); after setting
the word it wakes the online CPUs.

Layout (guest physical addresses)::

    0x00000  (unused, zero: a jump to 0 faults at once)
    0x01000  FIRMWARE_BASE: code, then the banner
    0x08000  ONLINE_MASK: 16384 bits, bit (cpu % 64) of u64 word (cpu // 64)
    0x09000  SHARED_COUNTER: u64, incremented atomically by every online CPU
    0x09008  WORK_ENABLE: u64, non-zero while online CPUs work (zero: they rest in HLT)
    0x10000  PERCPU_BASE: 64 bytes per CPU (a cache line each):
               +0 progress (u64)  +8 state (u64)  +16 wakeups (u64)
    0x110000 MIN_RAM_BYTES: the layout's end (RAM must be at least this big)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import field
from typing import Final, Protocol

from vmd.firmware.asm import Program, assemble
from vmd.records import dataclass

SERIAL_PORT: Final = 0x3F8  # COM1: OUTB writes one byte
CPU_STATE_PORT: Final = 0x0CC0  # OUTB: the CPU's new state (from the CPU itself)
IRQ_WAKE: Final = 0  # the vector that tells a CPU to re-read the online bitmap

FIRMWARE_BASE: Final = 0x1000
ONLINE_MASK: Final = 0x8000
SHARED_COUNTER: Final = 0x9000
WORK_ENABLE: Final = 0x9008
PERCPU_BASE: Final = 0x10000
PERCPU_STRIDE: Final = 64
PERCPU_PROGRESS: Final = 0
PERCPU_STATE: Final = 8
PERCPU_WAKEUPS: Final = 16
MAX_CPUS: Final = 16384
MIN_RAM_BYTES: Final = PERCPU_BASE + MAX_CPUS * PERCPU_STRIDE

CPU_STATE_NONE: Final = 0  # never ran
CPU_STATE_ONLINE: Final = 1
CPU_STATE_OFFLINE: Final = 2

BANNER: Final = b"vmd firmware 1: cpu0 up\n"


@dataclass(frozen=True)
class FirmwareLayout:
    """Where the firmware keeps things in guest RAM (see the module docstring)."""

    base: int = FIRMWARE_BASE
    online_mask: int = ONLINE_MASK
    shared_counter: int = SHARED_COUNTER
    percpu_base: int = PERCPU_BASE
    percpu_stride: int = PERCPU_STRIDE
    max_cpus: int = MAX_CPUS
    min_ram_bytes: int = MIN_RAM_BYTES
    serial_port: int = SERIAL_PORT
    cpu_state_port: int = CPU_STATE_PORT
    irq_wake: int = IRQ_WAKE

    def _cpu(self, cpu: int) -> int:
        if not 0 <= cpu < self.max_cpus:
            raise ValueError(f"CPU {cpu} is outside the firmware's range 0..{self.max_cpus - 1}")
        return cpu

    def progress_addr(self, cpu: int) -> int:
        return self.percpu_base + self._cpu(cpu) * self.percpu_stride + PERCPU_PROGRESS

    def state_addr(self, cpu: int) -> int:
        return self.percpu_base + self._cpu(cpu) * self.percpu_stride + PERCPU_STATE

    def wakeups_addr(self, cpu: int) -> int:
        return self.percpu_base + self._cpu(cpu) * self.percpu_stride + PERCPU_WAKEUPS

    def online_word_addr(self, cpu: int) -> int:
        return self.online_mask + self._cpu(cpu) // 64 * 8

    @staticmethod
    def online_bit(cpu: int) -> int:
        return 1 << (cpu % 64)


LAYOUT: Final = FirmwareLayout()


@dataclass(frozen=True)
class Firmware:
    """The assembled firmware: load `image` at `entry` and start every vCPU there."""

    image: bytes
    entry: int
    layout: FirmwareLayout
    symbols: dict[str, int] = field(default_factory=dict)


_BODY: Final = r"""
entry:
        cpuid   r1                      ; r1 = my index
        shli    r2, r1, PERCPU_SHIFT
        li      r3, PERCPU_BASE
        add     r2, r2, r3              ; r2 = my per-CPU block
        shri    r3, r1, 6
        shli    r3, r3, 3
        li      r4, ONLINE_MASK
        add     r3, r3, r4              ; r3 = my word of the online bitmap
        andi    r4, r1, 63
        li      r5, 1
        shl     r5, r5, r4              ; r5 = my bit in it
        li      r6, SHARED_COUNTER
        li      r7, 1
        li      r15, WORK_ENABLE
        bnez    r1, check               ; only CPU 0 prints the banner
        li      r8, banner
print:
        ld8     r9, [r8]
        beqz    r9, check
        outb    SERIAL_PORT, r9
        addi    r8, r8, 1
        jmp     print

check:                                  ; online or offline?
        ld64    r9, [r3]
        and     r9, r9, r5
        beqz    r9, offline
        li      r10, CPU_STATE_ONLINE
        st64    r10, [r2 + PERCPU_STATE]
        outb    CPU_STATE_PORT, r10
work:                                   ; the work loop: 9 instructions
        ld64    r14, [r15]
        beqz    r14, rest               ; no work wanted: rest, online
        ld64    r11, [r2 + PERCPU_PROGRESS]
        addi    r11, r11, 1
        st64    r11, [r2 + PERCPU_PROGRESS]
        aadd    r12, [r6], r7
        ld64    r9, [r3]
        and     r9, r9, r5
        bnez    r9, work

offline:
        li      r10, CPU_STATE_OFFLINE
        st64    r10, [r2 + PERCPU_STATE]
        outb    CPU_STATE_PORT, r10
sleep:
        hlt                             ; until an interrupt is posted
        irq     r12                     ; clear them all
        ld64    r13, [r2 + PERCPU_WAKEUPS]
        addi    r13, r13, 1
        st64    r13, [r2 + PERCPU_WAKEUPS]
        ld64    r9, [r3]
        and     r9, r9, r5
        beqz    r9, offline             ; still offline: say so again (the guest may be asking)
        jmp     check

rest:                                   ; online and idle: the idle loop of a kernel
        hlt
        irq     r12
        ld64    r13, [r2 + PERCPU_WAKEUPS]
        addi    r13, r13, 1
        st64    r13, [r2 + PERCPU_WAKEUPS]
        ld64    r9, [r3]
        and     r9, r9, r5
        beqz    r9, offline
        jmp     work

banner:
        .ascii  BANNER_TEXT
        .byte   0
"""


def _asm_string(data: bytes) -> str:
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02x}" for b in data) + '"'


def source() -> str:
    """The firmware's assembly text, with the layout constants as ``.equ`` lines."""
    equs = {
        "SERIAL_PORT": SERIAL_PORT,
        "CPU_STATE_PORT": CPU_STATE_PORT,
        "ONLINE_MASK": ONLINE_MASK,
        "SHARED_COUNTER": SHARED_COUNTER,
        "WORK_ENABLE": WORK_ENABLE,
        "PERCPU_BASE": PERCPU_BASE,
        "PERCPU_SHIFT": PERCPU_STRIDE.bit_length() - 1,
        "PERCPU_PROGRESS": PERCPU_PROGRESS,
        "PERCPU_STATE": PERCPU_STATE,
        "PERCPU_WAKEUPS": PERCPU_WAKEUPS,
        "CPU_STATE_ONLINE": CPU_STATE_ONLINE,
        "CPU_STATE_OFFLINE": CPU_STATE_OFFLINE,
    }
    header = "; vmd standard firmware (vmd/firmware/standard.py)\n"
    header += "".join(f".equ {name}, {value:#x}\n" for name, value in equs.items())
    return header + _BODY.replace("BANNER_TEXT", _asm_string(BANNER))


@functools.cache
def _program() -> Program:
    assert 1 << (PERCPU_STRIDE.bit_length() - 1) == PERCPU_STRIDE
    return assemble(source(), base=FIRMWARE_BASE)


def firmware() -> Firmware:
    """The assembled firmware image, its entry point and the RAM layout."""
    prog = _program()
    assert prog.end <= ONLINE_MASK, "the firmware outgrew its place"
    return Firmware(prog.image, prog.address("entry"), LAYOUT, dict(prog.symbols))


class GuestMemory(Protocol):
    """What the helpers below need from guest RAM (vmd.vcpu.GuestRam has it)."""

    def read_u64(self, addr: int) -> int: ...

    def write_u64(self, addr: int, value: int) -> None: ...


def set_online(ram: GuestMemory, cpu: int, online: bool) -> None:
    """Set or clear `cpu`'s bit in the online bitmap.  The VMM is the only writer
    of the bitmap (one thread): afterwards post ``IRQ_WAKE`` to the CPU."""
    addr, bit = LAYOUT.online_word_addr(cpu), LAYOUT.online_bit(cpu)
    word = ram.read_u64(addr)
    ram.write_u64(addr, word | bit if online else word & ~bit)


def set_online_many(ram: GuestMemory, cpus: Sequence[int], online: Sequence[bool]) -> None:
    """:func:`set_online` of each of `cpus` (to the matching `online`), one load per bitmap
    word and a store only where the word changes (a hot-added core's bits are clear already)."""
    was: dict[int, int] = {}
    words: dict[int, int] = {}
    for cpu, value in zip(cpus, online, strict=True):
        addr, bit = LAYOUT.online_word_addr(cpu), LAYOUT.online_bit(cpu)
        if addr not in words:
            was[addr] = words[addr] = ram.read_u64(addr)
        words[addr] = words[addr] | bit if value else words[addr] & ~bit
    for addr, word in words.items():
        if word != was[addr]:
            ram.write_u64(addr, word)


def is_online(ram: GuestMemory, cpu: int) -> bool:
    return bool(ram.read_u64(LAYOUT.online_word_addr(cpu)) & LAYOUT.online_bit(cpu))


def progress(ram: GuestMemory, cpu: int) -> int:
    """How many work-loop iterations `cpu` has done (all its plugs together)."""
    return ram.read_u64(LAYOUT.progress_addr(cpu))


def cpu_state(ram: GuestMemory, cpu: int) -> int:
    """CPU_STATE_NONE, CPU_STATE_ONLINE or CPU_STATE_OFFLINE, as the guest last wrote it."""
    return ram.read_u64(LAYOUT.state_addr(cpu))


def shared_counter(ram: GuestMemory) -> int:
    return ram.read_u64(SHARED_COUNTER)


def set_work(ram: GuestMemory, enabled: bool) -> None:
    """Let online CPUs work (or rest); afterwards post ``IRQ_WAKE`` to the resting ones."""
    ram.write_u64(WORK_ENABLE, 1 if enabled else 0)
