"""QEMU's two key=value syntaxes: QemuOpts (util/qemu-option.c) and keyval (util/keyval.c).

QemuOpts: `key=value,...`, an optional implied first key, ",," for a comma in a value, bare
flags ("server", "nowait"), typed keys checked as they are read.  keyval, the newer syntax of
-machine, -smp, -boot and -display: dotted keys building a tree, no bare flags, an implied
value that ends at the first comma.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import field
from typing import Literal

from vmd.cli.errors import CommandLineError, EarlyExit, Invalid
from vmd.records import dataclass
from vmd.syntax import BadValue, OutOfRange, parse_bool, qemu_strtoi64, qemu_strtosz, qemu_strtou64
from vmd.syntax import id_wellformed as is_identifier

__all__ = [
    "Keyval",
    "OptType",
    "Opts",
    "OptsSpec",
    "check_keyval_members",
    "check_opts_id",
    "is_help",
    "keyval_parse",
    "opts_help",
    "opts_items",
    "parse_opts",
]


def is_help(text: str | None) -> bool:
    return text in ("help", "?")


# ======================================================================================
# QemuOpts: key=value,...; an optional implied first key; ",," for a comma in a value
# ======================================================================================

OptType = Literal["str", "bool", "num", "size"]


@dataclass(frozen=True)
class OptsSpec:
    name: str  # as QEMU names the list in "Duplicate ID 'x' for <name>"
    implied: str | None = None
    desc: Mapping[str, OptType] | None = None  # None: any key is accepted
    merge: bool = False  # repeated options add to one set of keys, and take no id


@dataclass
class Opts:
    id: str | None
    items: list[tuple[str, str]]

    def get(self, key: str) -> str | None:
        """The last value given for `key`, as QEMU's lookups do."""
        for name, value in reversed(self.items):
            if name == key:
                return value
        return None

    def get_all(self, key: str) -> list[str]:
        return [value for name, value in self.items if name == key]

    def last_values(self, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
        """Each key once, at its first position, with its last value."""
        merged: dict[str, str] = {}
        for name, value in self.items:
            if name not in skip:
                merged[name] = value
        return merged


def _opts_params(text: str, implied: str | None) -> Iterator[tuple[str, str, bool]]:
    """Yield (key, value, was_bare_flag) for each parameter, in order.

    A first parameter without "=" is the value of `implied` when there is one; any other
    parameter without "=" is a boolean flag: "server" means server=on, "nowait" wait=off.
    """
    pos = 0
    while pos < len(text):
        name_end = _find_any(text, "=,", pos)
        if name_end < len(text) and text[name_end] == "=":
            name = text[pos:name_end]
            value, pos = _opts_value(text, name_end + 1)
            yield name, value, False
        elif implied is not None:
            value, pos = _opts_value(text, pos)
            yield implied, value, False
        else:
            name = text[pos:name_end]
            pos = name_end + 1
            if name.startswith("no"):
                yield name[2:], "off", True
            else:
                yield name, "on", True
        implied = None


def _find_any(text: str, chars: str, start: int) -> int:
    """Index of the first of `chars` at or after `start`, or len(text)."""
    for index in range(start, len(text)):
        if text[index] in chars:
            return index
    return len(text)


def _opts_value(text: str, pos: int) -> tuple[str, int]:
    """Read a value up to a lone comma (",," stands for ","); return it and where the next key starts."""
    out: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == ",":
            if text[pos + 1 : pos + 2] != ",":
                return "".join(out), pos + 1
            pos += 1
        out.append(char)
        pos += 1
    return "".join(out), pos


_TYPE_LABELS: Mapping[OptType, str] = {
    "str": "<str>",
    "bool": "<bool (on/off)>",
    "num": "<num>",
    "size": "<size>",
}


def opts_help(spec: OptsSpec) -> str:
    """What QEMU prints for `-name x,help`: the keys of the option and their types."""
    lines = [f"{spec.name} options:"]
    lines += [f"  {key}={_TYPE_LABELS[kind]}" for key, kind in sorted((spec.desc or {}).items())]
    return "\n".join(lines) + "\n"


def parse_opts(spec: OptsSpec, text: str, *, abbrev: bool = True, taken: set[str] | None = None) -> Opts:
    """Parse one QemuOpts string.  `taken` holds the ids used so far by this option.

    Raises Invalid, or EarlyExit when a bare `help` asks for the keys (only options
    with a fixed set of keys answer; the others pass help=on on to their consumer).
    """
    opts_id = next((value for key, value, _ in _opts_params(text, None) if key == "id"), None)
    if opts_id is not None:
        check_opts_id(spec, opts_id, taken)
    items = opts_items(spec, text, spec.implied if abbrev else None, help_allowed=True)
    if taken is not None and opts_id is not None:
        taken.add(opts_id)
    return Opts(opts_id, items)


def opts_items(
    spec: OptsSpec, text: str, implied: str | None, *, help_allowed: bool
) -> list[tuple[str, str]]:
    """The checked (key, value) pairs of `text`, "id" left out."""
    items: list[tuple[str, str]] = []
    for key, value, was_flag in _opts_params(text, implied):
        if help_allowed and was_flag and value == "on" and spec.desc is not None and is_help(key):
            raise EarlyExit("options", opts_help(spec), spec.name)
        if key == "id":
            continue
        _check_opt(spec, key, value)
        items.append((key, value))
    return items


def check_opts_id(spec: OptsSpec, opts_id: str, taken: set[str] | None) -> None:
    if spec.merge:
        raise Invalid("Invalid parameter 'id'")
    if not is_identifier(opts_id):
        raise Invalid("Parameter 'id' expects an identifier")
    if taken is not None and opts_id in taken:
        raise Invalid(f"Duplicate ID '{opts_id}' for {spec.name}")


def _check_opt(spec: OptsSpec, key: str, value: str) -> None:
    if spec.desc is None:
        return
    kind = spec.desc.get(key)
    if kind is None:
        raise Invalid(f"Invalid parameter '{key}'")
    if kind == "str":
        return
    try:
        if kind == "bool":
            parse_bool(value)
        elif kind == "num":
            qemu_strtou64(value)
        else:
            qemu_strtosz(value)
    except OutOfRange:
        if kind == "num":
            raise Invalid(f"Value '{value}' is too large for parameter '{key}'") from None
        raise Invalid(f"Value '{value}' is out of range for parameter '{key}'") from None
    except BadValue:
        raise Invalid(_expects(key, kind)) from None


def _expects(key: str, kind: OptType) -> str:
    # QEMU adds a second line about size suffixes; vmd keeps errors to one line.
    wanted = {"bool": "'on' or 'off'", "num": "a number", "size": "a non-negative number below 2^64"}
    return f"Parameter '{key}' expects {wanted[kind]}"


# ======================================================================================
# keyval: QEMU's newer key=value syntax (-machine, -smp, -boot, -display); dotted keys
# ======================================================================================

_QAPI_NAME = re.compile(r"(?:__[A-Za-z0-9.-]*_)?[A-Za-z][A-Za-z0-9_-]*")
_INDEX = re.compile(r"\d+")


@dataclass
class Keyval:
    """A keyval tree kept flat: "a.b" -> value, plus the inner nodes for conflict checks."""

    leaves: dict[str, str] = field(default_factory=dict)
    inner: set[str] = field(default_factory=set)

    def put(self, fragments: list[str], value: str) -> None:
        for depth in range(1, len(fragments)):
            prefix = ".".join(fragments[:depth])
            if prefix in self.leaves:
                raise Invalid(f"Parameters '{prefix}.*' used inconsistently")
        full = ".".join(fragments)
        if full in self.inner:
            raise Invalid(f"Parameters '{full}.*' used inconsistently")
        self.inner.update(".".join(fragments[:depth]) for depth in range(1, len(fragments)))
        self.leaves[full] = value


def keyval_parse(text: str, implied: str | None, into: Keyval) -> bool:
    """Parse `text` into `into`; return whether a bare `help` was given."""
    help_wanted = False
    pos = 0
    while pos < len(text):
        pos, wanted = _keyval_param(text, pos, implied, into)
        help_wanted = help_wanted or wanted
        implied = None
    return help_wanted


def _keyval_param(text: str, pos: int, implied: str | None, into: Keyval) -> tuple[int, bool]:
    key_end = _find_any(text, "=,", pos)
    has_equals = key_end < len(text) and text[key_end] == "="
    if key_end > pos and not has_equals:
        # Unlike QemuOpts, an implied value ends at the first comma: no ",," escape.
        if is_help(text[pos:key_end]):
            return key_end + 1, True
        if implied is not None:
            into.put([implied], text[pos:key_end])
            return key_end + 1, False
    key = text[pos:key_end]
    fragments = _key_fragments(key)
    if not has_equals:
        raise Invalid(f"Expected '=' after parameter '{key}'")
    value, next_pos = _opts_value(text, key_end + 1)
    into.put(fragments, value)
    return next_pos, False


def _key_fragments(key: str) -> list[str]:
    fragments: list[str] = []
    pos = 0
    while True:
        match = _INDEX.match(key, pos) if pos else None
        match = match or _QAPI_NAME.match(key, pos)
        length = match.end() - pos if match else 0
        if not length or (pos + length < len(key) and key[pos + length] != "."):
            raise Invalid(f"Invalid parameter '{key}'")
        if length >= 128:
            what = " fragment" if pos or pos + length != len(key) else ""
            raise Invalid(f"Parameter{what} '{key[pos : pos + length]}' is too long")
        fragments.append(key[pos : pos + length])
        pos += length
        if pos >= len(key):
            return fragments
        pos += 1  # the "."


def check_keyval_members(prefix: str, keyval: Keyval, members: Mapping[str, OptType]) -> None:
    """Type-check a keyval tree as QEMU's visitor does: members in order, then strangers."""
    for key, kind in members.items():
        value = keyval.leaves.get(key)
        if value is None or kind in ("str", "size"):
            continue
        try:
            parse_bool(value) if kind == "bool" else qemu_strtoi64(value)
        except (BadValue, OutOfRange):
            wanted = "'on' or 'off'" if kind == "bool" else "integer"
            raise CommandLineError(f"Parameter '{prefix}.{key}' expects {wanted}") from None
    for key in keyval.leaves:
        top = key.split(".")[0]
        if top not in members:
            raise CommandLineError(f"Parameter '{prefix}.{top}' is unexpected")
