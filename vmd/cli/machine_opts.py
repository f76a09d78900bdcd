"""The values of -m, -smp, -machine (its property names), -cpu, -numa, -display and -g.

Each function checks what QEMU checks while it reads the option, with QEMU's words, and
gives the frozen value of `vmd.config`.  What the numbers mean for a board (the default RAM
size, the -smp rules, the NUMA layout) is decided later, by the machine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from vmd.cli.errors import CommandLineError, Invalid
from vmd.cli.qemuopts import Keyval, Opts, keyval_parse
from vmd.cli.specs import SMP_KEYS
from vmd.config import (
    DEFAULT_RAM_SIZE,
    Display,
    MemoryConfig,
    NumaConfig,
    NumaCpuConfig,
    NumaDistConfig,
    NumaNodeConfig,
    NumaRawConfig,
    SmpConfig,
)
from vmd.syntax import C_SPACE, BadValue, OutOfRange, qemu_strtoi64, qemu_strtosz, qemu_strtou64

__all__ = ["check_graphic_mode", "cpu", "dashify", "display_type", "memory", "numa", "smp"]

_DIGITS = "0123456789"


def memory(items: list[tuple[str, str]]) -> MemoryConfig:
    opts = Opts(None, items)
    size = DEFAULT_RAM_SIZE
    text = opts.get("size")
    given = text is not None and qemu_strtosz(text) != 0  # QEMU reads -m 0 as "not given"
    if given:
        assert text is not None
        # A number without a suffix is MiB, as it always was for -m.
        legacy = text + "M" if text[-1] in _DIGITS else text
        try:
            size = qemu_strtosz(legacy)
        except (BadValue, OutOfRange):
            raise CommandLineError("Parameter 'memory.size' expects size") from None
    slots = opts.get("slots")
    maxmem = opts.get("maxmem")
    return MemoryConfig(
        size_bytes=size,
        size_given=given,
        slots=None if slots is None else qemu_strtou64(slots),
        maxmem_bytes=None if maxmem is None else qemu_strtosz(maxmem),
    )


def smp(keyval: Keyval) -> SmpConfig:
    """-smp numbers as QEMU's machine property "smp" takes them: integers, C syntax."""
    numbers: dict[str, int] = {}
    for key in SMP_KEYS:  # QEMU checks the members in this order
        if key in keyval.inner:
            raise CommandLineError(f"Parameters 'smp.{key}.*' are unexpected")
        if key in keyval.leaves:
            try:
                numbers[key] = qemu_strtoi64(keyval.leaves[key])
            except (BadValue, OutOfRange):
                raise CommandLineError(f"Parameter 'smp.{key}' expects integer") from None
    for key in keyval.leaves:
        top = key.split(".")[0]
        if top not in SMP_KEYS:
            raise CommandLineError(f"Parameter 'smp.{top}' is unexpected")
    return SmpConfig(**numbers)


def dashify(machine: dict[str, str]) -> dict[str, str]:
    """QEMU accepts machine properties spelled with underscores: kernel_irqchip is kernel-irqchip."""
    result: dict[str, str] = {}
    for key, value in machine.items():
        top, dot, rest = key.partition(".")
        dashed = top.replace("_", "-")
        if dashed != top and any(other.partition(".")[0] == dashed for other in machine):
            raise CommandLineError(f"Conflict between '{top}' and '{dashed}'")
        result[dashed + dot + rest] = value
    return result


def cpu(option: str | None) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """Split -cpu MODEL,features.  "+f"/"-f" outrank "f=v" in QEMU, so they go last, "-" after "+"."""
    if option is None:
        return None, ()
    model, _, rest = option.partition(",")
    plain: list[tuple[str, str]] = []
    plus: list[tuple[str, str]] = []
    minus: list[tuple[str, str]] = []
    for token in rest.split(","):
        if not token:
            continue
        if token[0] == "+":
            plus.append((token[1:].replace("_", "-"), "on"))
        elif token[0] == "-":
            minus.append((token[1:].replace("_", "-"), "off"))
        else:
            name, equals, value = token.partition("=")
            plain.append((name.replace("_", "-"), value if equals else "on"))
    return model, tuple(plain + plus + minus)


# --- -numa ------------------------------------------------------------------------------

_NUMA_TYPES = ("node", "dist", "cpu", "hmat-lb", "hmat-cache")


def numa(opts: Opts) -> NumaConfig:
    """One -numa, checked as QEMU's visitor does: members in order, then unknown keys."""
    kind = opts.get("type")
    if kind is None:
        raise Invalid("Parameter 'type' is missing")
    if kind not in _NUMA_TYPES:
        raise Invalid(f"Parameter 'type' does not accept value '{kind}'")
    values = opts.last_values(skip=("type",))
    config: NumaConfig
    if kind == "node":
        config = NumaNodeConfig(
            nodeid=_numa_uint(values, "nodeid", 16),
            cpus=tuple(_numa_cpu_range(text) for text in opts.get_all("cpus")),
            mem=_numa_mem(values.get("mem")),
            memdev=values.get("memdev"),
            initiator=_numa_uint(values, "initiator", 16),
        )
        known = frozenset({"nodeid", "cpus", "mem", "memdev", "initiator"})
    elif kind == "dist":
        src, dst, val = (
            _numa_required(values, key, bits) for key, bits in (("src", 16), ("dst", 16), ("val", 8))
        )
        config = NumaDistConfig(src, dst, val)
        known = frozenset({"src", "dst", "val"})
    elif kind == "cpu":
        ids = ("node-id", "socket-id", "die-id", "cluster-id", "core-id", "thread-id")
        numbers = {key.replace("-", "_"): _numa_int(values, key) for key in ids}
        config = NumaCpuConfig(**numbers)
        known = frozenset(ids)
    else:
        members = _HMAT_LB if kind == "hmat-lb" else _HMAT_CACHE
        for key, member_type, required in members:
            _numa_check_member(values, key, member_type, required)
        config = NumaRawConfig(kind, MappingProxyType(values))
        known = frozenset(key for key, _, _ in members)
    strangers = [key for key in values if key not in known]
    if opts.id is not None:
        strangers.append("id")  # QEMU's visitor sees the id as one more unknown key
    if strangers:
        raise Invalid(f"Invalid parameter '{strangers[0]}'")
    return config


# (member, type, required): a type is a width in bits, "size", or the accepted words.
_NumaMember = tuple[str, int | str | tuple[str, ...], bool]
_HMAT_LB: tuple[_NumaMember, ...] = (
    ("initiator", 16, True),
    ("target", 16, True),
    ("hierarchy", ("memory", "first-level", "second-level", "third-level"), True),
    ("data-type", ("access-latency", "read-latency", "write-latency", "access-bandwidth", "read-bandwidth",
                   "write-bandwidth"), True),
    ("latency", 64, False),
    ("bandwidth", "size", False),
)  # fmt: skip
_HMAT_CACHE: tuple[_NumaMember, ...] = (
    ("node-id", 32, True),
    ("size", "size", True),
    ("level", 8, True),
    ("associativity", ("none", "direct", "complex"), True),
    ("policy", ("none", "write-back", "write-through"), True),
    ("line", 16, True),
)


def _numa_check_member(
    values: Mapping[str, str], key: str, member_type: int | str | tuple[str, ...], required: bool
) -> None:
    text = values.get(key)
    if text is None:
        if required:
            raise Invalid(f"Parameter '{key}' is missing")
    elif isinstance(member_type, int):
        _numa_uint(values, key, member_type)
    elif isinstance(member_type, tuple):
        if text not in member_type:
            raise Invalid(f"Parameter '{key}' does not accept value '{text}'")
    else:
        try:
            qemu_strtosz(text)
        except (BadValue, OutOfRange):
            raise Invalid(f"Parameter '{key}' expects a size value") from None


def _numa_unsigned(text: str, key: str) -> int:
    if text.lstrip(C_SPACE).startswith("-"):
        raise Invalid(f"Parameter '{key}' expects a uint64 value")
    try:
        return qemu_strtou64(text)
    except (BadValue, OutOfRange):
        raise Invalid(f"Parameter '{key}' expects a uint64 value") from None


def _numa_uint(values: Mapping[str, str], key: str, bits: int) -> int | None:
    text = values.get(key)
    if text is None:
        return None
    number = _numa_unsigned(text, key)
    if bits < 64 and number >= 1 << bits:
        raise Invalid(f"Parameter '{key}' expects uint{bits}_t")
    return number


def _numa_required(values: Mapping[str, str], key: str, bits: int) -> int:
    number = _numa_uint(values, key, bits)
    if number is None:
        raise Invalid(f"Parameter '{key}' is missing")
    return number


def _numa_int(values: Mapping[str, str], key: str) -> int | None:
    text = values.get(key)
    if text is None:
        return None
    try:
        return qemu_strtoi64(text)
    except (BadValue, OutOfRange):
        raise Invalid(f"Parameter '{key}' expects an int64 value") from None


_RANGE_MAX = 65536  # QEMU's options visitor refuses wider ranges


def _numa_cpu_range(text: str) -> tuple[int, int]:
    wrong = Invalid("Parameter 'cpus' expects a uint64 value or range")
    first_text, dash, last_text = text.partition("-")
    try:
        first = _numa_unsigned(first_text, "cpus")
        last = _numa_unsigned(last_text, "cpus") if dash else first
    except Invalid:
        raise wrong from None
    if last < first or last - first >= _RANGE_MAX:
        raise wrong
    if last > 0xFFFF:
        # Sic: QEMU 7.2 names no parameter here.
        raise Invalid("Parameter 'null' expects uint16_t")
    return first, last


def _numa_mem(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        qemu_strtosz(text)
        # Like -m, a number without a suffix is MiB.
        return qemu_strtosz(text, "m" if text[-1] in _DIGITS else "b")
    except (BadValue, OutOfRange):
        raise Invalid("Parameter 'mem' expects a size value") from None


# --- -display -------------------------------------------------------------------------

_DISPLAY_TYPES: tuple[Display, ...] = (
    "default",
    "none",
    "gtk",
    "sdl",
    "egl-headless",
    "curses",
    "spice-app",
    "dbus",
)
_DISPLAY_COMMON_KEYS = frozenset({"type", "full-screen", "window-close", "show-cursor", "gl"})


def display_type(text: str) -> Display:
    keyval = Keyval()
    if keyval_parse(text, "type", keyval):
        raise Invalid("Help is not available for this option")
    kind = keyval.leaves.get("type")
    if kind is None:
        raise Invalid("Parameter 'type' is missing")
    if kind not in _DISPLAY_TYPES:
        raise Invalid(f"Parameter 'type' does not accept value '{kind}'")
    if kind == "none":
        for key in keyval.leaves:
            if key.split(".")[0] not in _DISPLAY_COMMON_KEYS:
                raise Invalid(f"Parameter '{key.split('.')[0]}' is unexpected")
    return kind


# --- -g (ppc64's OpenBIOS graphic mode) -----------------------------------------------

_GRAPHIC_DEPTHS = (1, 2, 4, 8, 15, 16, 24, 32)
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_STRTOL = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")


def _c_int_strtol(text: str, pos: int) -> tuple[int, int]:
    """`int n = strtol(text + pos, &end, 10)`: the number (clamped to a long, then cut to a
    C int) and where it ends; no digits give 0 and leave the position where it was."""
    match = _STRTOL.match(text, pos)
    if not match:
        return 0, pos
    number = max(_LONG_MIN, min(_LONG_MAX, int(match[1])))
    number &= 0xFFFFFFFF
    return (number - (1 << 32) if number >> 31 else number), match.end()


def check_graphic_mode(text: str) -> None:
    """-g WIDTHxHEIGHT[xDEPTH] as QEMU's vl.c reads it (with strtol: blanks and a sign pass)."""
    wrong = Invalid("invalid resolution or depth")
    width, pos = _c_int_strtol(text, 0)
    if width <= 0 or text[pos : pos + 1] != "x":
        raise wrong
    height, pos = _c_int_strtol(text, pos + 1)
    if height <= 0:
        raise wrong
    if text[pos : pos + 1] == "x":
        depth, pos = _c_int_strtol(text, pos + 1)
        if depth not in _GRAPHIC_DEPTHS:
            raise wrong
    elif pos != len(text):
        raise wrong
