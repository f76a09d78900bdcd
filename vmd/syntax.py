"""QEMU's scalar syntaxes: how QEMU 7.2 reads a number, a size, a boolean or an id from text.

The command line needs them (QemuOpts and keyval values), and so does device_add, whose
properties QEMU reads with the same functions.  Each function is named after the QEMU
function whose behaviour it reproduces; each raises `BadValue` for text QEMU refuses as
malformed and `OutOfRange` for a well-formed number that does not fit (QEMU reports the two
with different words).  The callers choose the message.
"""

from __future__ import annotations

import re

__all__ = [
    "C_SPACE",
    "FALSE_WORDS",
    "TRUE_WORDS",
    "BadValue",
    "OutOfRange",
    "id_wellformed",
    "parse_bool",
    "qemu_strtoi64",
    "qemu_strtosz",
    "qemu_strtou64",
]


class BadValue(ValueError):
    """The text is malformed (the exception's argument is the text)."""


class OutOfRange(ValueError):
    """The text is a well-formed number that does not fit (the argument is the text)."""


C_SPACE = " \t\n\v\f\r"  # C's isspace() in the C locale
_U64 = 1 << 64

# C's strtoull/strtoll with base 0 over a whole string: white space, a sign, then hex
# (0x..), octal (0..) or decimal digits.
_C_INTEGER = re.compile(r"[ \t\n\v\f\r]*([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))\Z")


def _c_integer(text: str) -> int:
    match = _C_INTEGER.match(text)
    if not match:
        raise BadValue(text)
    sign, hex_digits, octal_digits, decimal_digits = match.groups()
    if hex_digits:
        value = int(hex_digits, 16)
    elif octal_digits:
        value = int(octal_digits, 8)
    else:
        value = int(decimal_digits)
    return -value if sign == "-" else value


def qemu_strtou64(text: str) -> int:
    """What QEMU's qemu_strtou64(base 0) accepts; a minus wraps modulo 2**64 as in C."""
    value = _c_integer(text)
    if abs(value) >= _U64:
        raise OutOfRange(text)
    return value % _U64


def qemu_strtoi64(text: str) -> int:
    """What QEMU's qemu_strtoi64(base 0) accepts."""
    value = _c_integer(text)
    if not -(1 << 63) <= value < (1 << 63):
        raise OutOfRange(text)
    return value


_SIZE_SUFFIXES = "bkmgtpe"  # powers of 1024, case-insensitive


def qemu_strtosz(text: str, default_suffix: str = "b") -> int:
    """QEMU's qemu_strtosz: "128", "1.5G", "0x1000", with an optional suffix b/k/M/G/T/P/E.

    A fraction needs a suffix other than b.  QEMU 7.2 still accepts a suffix after a hex
    number (with a deprecation warning we do not repeat).
    """
    match = re.match(r"[ \t\n\v\f\r]*(\+?)(\d+)", text)
    if not match:
        raise BadValue(text)
    whole = int(match.group(2))
    if whole >= _U64:
        raise OutOfRange(text)
    rest = text[match.end() :]
    fraction = 0.0
    if whole == 0 and rest[:1] in ("x", "X"):
        hex_match = re.match(r"[xX]([0-9a-fA-F]+)", rest)
        if not hex_match:
            raise BadValue(text)
        whole = int(hex_match.group(1), 16)
        if whole >= _U64:
            raise OutOfRange(text)
        rest = rest[hex_match.end() :]
        if rest.startswith("."):
            raise BadValue(text)
    elif rest.startswith("."):
        fraction, rest = _size_fraction(text, rest)
    suffix = rest[:1].lower()
    if suffix and suffix in _SIZE_SUFFIXES:
        rest = rest[1:]
    else:
        suffix = default_suffix
    if rest:
        raise BadValue(text)
    return _scale_size(text, whole, fraction, 1024 ** _SIZE_SUFFIXES.index(suffix))


def _size_fraction(text: str, rest: str) -> tuple[float, str]:
    """The ".5" of "1.5G"; a lone "." counts as no fraction, as strtod failing does in QEMU."""
    match = re.match(r"\.(\d*)", rest)
    assert match is not None
    digits = match.group(1)
    if not digits:
        return 0.0, rest[1:]
    after = rest[match.end() :]
    if re.match(r"[eE][+-]?\d", after):  # strtod would read an exponent: refused
        raise BadValue(text)
    return float("0." + digits), after


def _scale_size(text: str, whole: int, fraction: float, unit: int) -> int:
    # QEMU multiplies in 64.64 fixed point and rounds the fractional bytes half up.
    fixed = min(int(fraction * _U64), _U64 - 1)
    if unit == 1 and fixed:
        raise BadValue(text)
    product = fixed * unit
    total = whole * unit + (product >> 64) + ((product >> 63) & 1)
    if total >= _U64:
        raise OutOfRange(text)
    return total


# QEMU's qapi_bool_parse.
TRUE_WORDS = ("on", "yes", "true", "y")
FALSE_WORDS = ("off", "no", "false", "n")


def parse_bool(text: str) -> bool:
    """QEMU's qapi_bool_parse: on/yes/true/y and off/no/false/n, exactly these spellings."""
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise BadValue(text)


_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9._-]*\Z")


def id_wellformed(text: str) -> bool:
    """QEMU's id_wellformed: a letter, then letters, digits, '.', '_' or '-'."""
    return _IDENTIFIER.match(text) is not None
