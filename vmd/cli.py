"""The QEMU-compatible command line: `parse_command_line(argv) -> Config`.

libvirt and scripts start vmd exactly as they start qemu-system-x86_64, so vmd accepts
QEMU 7.2's options with QEMU's value syntaxes (QemuOpts `key=val,...`, keyval, JSON) and
reports mistakes with QEMU's words.  Errors are `CommandLineError`: the caller prints
`vmd: <message>` to stderr and exits 1.  Requests for information (-help, -version,
`-machine help`, ...) are `EarlyExit`: the caller prints `text` (or, when `text` is empty,
renders `topic` from its own model) to stdout and exits 0.

Parsing runs like QEMU's: first every option name is looked up (unknown options and
missing arguments win over everything else), then each option is parsed in order, then
the checks QEMU makes only once the whole line is known (monitors naming chardevs defined
later, -append without -kernel, -smp numbers, ...).

The file has four parts: the public interface, the scalar and record syntaxes (numbers,
sizes, QemuOpts, keyval, QEMU's JSON dialect), the option table, and the options.
"""

from __future__ import annotations

import dataclasses
import fcntl
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, NoReturn, cast

from vmd.config import (
    DEFAULT_RAM_SIZE,
    AccelConfig,
    AddFdConfig,
    ChardevConfig,
    Config,
    DeviceConfig,
    Display,
    GlobalConfig,
    InheritedFd,
    JsonValue,
    MemoryConfig,
    MonitorConfig,
    MonitorEndpoint,
    NumaConfig,
    NumaCpuConfig,
    NumaDistConfig,
    NumaNodeConfig,
    NumaRawConfig,
    ObjectConfig,
    SerialConfig,
    SmpConfig,
    UnixPath,
)
from vmd.machine.user_objects import ObjectError, check_option
from vmd.syntax import C_SPACE as _C_SPACE
from vmd.syntax import BadValue as _BadValue
from vmd.syntax import OutOfRange as _OutOfRange
from vmd.syntax import id_wellformed as _is_identifier
from vmd.syntax import parse_bool as _parse_bool
from vmd.syntax import qemu_strtoi64 as _c_strtoi64
from vmd.syntax import qemu_strtosz as _parse_size
from vmd.syntax import qemu_strtou64 as _c_strtou64
from vmd.version import QEMU_COMPAT, VMD_VERSION

__all__ = ["CommandLineError", "EarlyExit", "HelpTopic", "parse_command_line", "usage_text", "version_text"]


# ======================================================================================
# Public interface
# ======================================================================================


class CommandLineError(Exception):
    """The command line is wrong; `message` is the one line to print after `vmd: `."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


HelpTopic = Literal[
    "help",
    "version",
    "options",
    "machine",
    "accel",
    "cpu",
    "device",
    "object",
    "display",
    "vga",
    "audiodev",
    "log",
]


class EarlyExit(Exception):
    """The command line asks for information instead of a VM: print it and exit 0.

    `text` is complete for "help", "version" and "options" (the keys of one option, as
    `-m 1G,help` asks).  For the other topics `text` is empty and the caller lists what
    its model has: machine types (`detail` is a machine type whose properties are wanted,
    or None), accelerators, CPU models, device types (`detail`: a driver whose properties
    are wanted), object types (`detail`: a type), display types, VGA types, audio drivers,
    log items.
    """

    def __init__(self, topic: HelpTopic, text: str = "", detail: str | None = None) -> None:
        super().__init__(topic)
        self.topic: HelpTopic = topic
        self.text = text
        self.detail = detail


def version_text() -> str:
    # Scripts match "QEMU emulator version X.Y.Z"; the parenthesis says who answers,
    # where QEMU puts its package name.
    major, minor, micro = QEMU_COMPAT
    return (
        f"QEMU emulator version {major}.{minor}.{micro} (vmd {VMD_VERSION})\n"
        "vmd speaks QEMU's QMP and command line; it is not QEMU.\n"
    )


def parse_command_line(argv: list[str]) -> Config:
    """Parse `argv` (without the program name) into a Config.

    Raises CommandLineError for a mistake and EarlyExit for -help, -version and the
    `help` values QEMU accepts.
    """
    builder = _Builder()
    for arg in _scan(argv):
        try:
            arg.option.handle(builder, arg)
        except _Invalid as exc:
            raise arg.error(str(exc)) from None
    return builder.finish()


# ======================================================================================
# Scalar syntaxes
# ======================================================================================


class _Invalid(Exception):
    """A value breaks QEMU's rules; the message is QEMU's, without the option's location."""


_U64 = 1 << 64


def _is_help(text: str | None) -> bool:
    return text in ("help", "?")


# ======================================================================================
# QemuOpts: key=value,...; an optional implied first key; ",," for a comma in a value
# ======================================================================================

_OptType = Literal["str", "bool", "num", "size"]


@dataclass(frozen=True)
class _OptsSpec:
    name: str  # as QEMU names the list in "Duplicate ID 'x' for <name>"
    implied: str | None = None
    desc: Mapping[str, _OptType] | None = None  # None: any key is accepted
    merge: bool = False  # repeated options add to one set of keys, and take no id


@dataclass
class _Opts:
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


_TYPE_LABELS: Mapping[_OptType, str] = {
    "str": "<str>",
    "bool": "<bool (on/off)>",
    "num": "<num>",
    "size": "<size>",
}


def _opts_help(spec: _OptsSpec) -> str:
    """What QEMU prints for `-name x,help`: the keys of the option and their types."""
    lines = [f"{spec.name} options:"]
    lines += [f"  {key}={_TYPE_LABELS[kind]}" for key, kind in sorted((spec.desc or {}).items())]
    return "\n".join(lines) + "\n"


def _parse_opts(spec: _OptsSpec, text: str, *, abbrev: bool = True, taken: set[str] | None = None) -> _Opts:
    """Parse one QemuOpts string.  `taken` holds the ids used so far by this option.

    Raises _Invalid, or EarlyExit when a bare `help` asks for the keys (only options
    with a fixed set of keys answer; the others pass help=on on to their consumer).
    """
    opts_id = next((value for key, value, _ in _opts_params(text, None) if key == "id"), None)
    if opts_id is not None:
        _check_opts_id(spec, opts_id, taken)
    items = _opts_items(spec, text, spec.implied if abbrev else None, help_allowed=True)
    if taken is not None and opts_id is not None:
        taken.add(opts_id)
    return _Opts(opts_id, items)


def _opts_items(
    spec: _OptsSpec, text: str, implied: str | None, *, help_allowed: bool
) -> list[tuple[str, str]]:
    """The checked (key, value) pairs of `text`, "id" left out."""
    items: list[tuple[str, str]] = []
    for key, value, was_flag in _opts_params(text, implied):
        if help_allowed and was_flag and value == "on" and spec.desc is not None and _is_help(key):
            raise EarlyExit("options", _opts_help(spec), spec.name)
        if key == "id":
            continue
        _check_opt(spec, key, value)
        items.append((key, value))
    return items


def _check_opts_id(spec: _OptsSpec, opts_id: str, taken: set[str] | None) -> None:
    if spec.merge:
        raise _Invalid("Invalid parameter 'id'")
    if not _is_identifier(opts_id):
        raise _Invalid("Parameter 'id' expects an identifier")
    if taken is not None and opts_id in taken:
        raise _Invalid(f"Duplicate ID '{opts_id}' for {spec.name}")


def _check_opt(spec: _OptsSpec, key: str, value: str) -> None:
    if spec.desc is None:
        return
    kind = spec.desc.get(key)
    if kind is None:
        raise _Invalid(f"Invalid parameter '{key}'")
    if kind == "str":
        return
    try:
        if kind == "bool":
            _parse_bool(value)
        elif kind == "num":
            _c_strtou64(value)
        else:
            _parse_size(value)
    except _OutOfRange:
        if kind == "num":
            raise _Invalid(f"Value '{value}' is too large for parameter '{key}'") from None
        raise _Invalid(f"Value '{value}' is out of range for parameter '{key}'") from None
    except _BadValue:
        raise _Invalid(_expects(key, kind)) from None


def _expects(key: str, kind: _OptType) -> str:
    # QEMU adds a second line about size suffixes; vmd keeps errors to one line.
    wanted = {"bool": "'on' or 'off'", "num": "a number", "size": "a non-negative number below 2^64"}
    return f"Parameter '{key}' expects {wanted[kind]}"


# ======================================================================================
# keyval: QEMU's newer key=value syntax (-machine, -smp, -boot, -display); dotted keys
# ======================================================================================

_QAPI_NAME = re.compile(r"(?:__[A-Za-z0-9.-]*_)?[A-Za-z][A-Za-z0-9_-]*")
_INDEX = re.compile(r"\d+")


@dataclass
class _Keyval:
    """A keyval tree kept flat: "a.b" -> value, plus the inner nodes for conflict checks."""

    leaves: dict[str, str] = field(default_factory=dict)
    inner: set[str] = field(default_factory=set)

    def put(self, fragments: list[str], value: str) -> None:
        for depth in range(1, len(fragments)):
            prefix = ".".join(fragments[:depth])
            if prefix in self.leaves:
                raise _Invalid(f"Parameters '{prefix}.*' used inconsistently")
        full = ".".join(fragments)
        if full in self.inner:
            raise _Invalid(f"Parameters '{full}.*' used inconsistently")
        self.inner.update(".".join(fragments[:depth]) for depth in range(1, len(fragments)))
        self.leaves[full] = value


def _keyval_parse(text: str, implied: str | None, into: _Keyval) -> bool:
    """Parse `text` into `into`; return whether a bare `help` was given."""
    help_wanted = False
    pos = 0
    while pos < len(text):
        pos, wanted = _keyval_param(text, pos, implied, into)
        help_wanted = help_wanted or wanted
        implied = None
    return help_wanted


def _keyval_param(text: str, pos: int, implied: str | None, into: _Keyval) -> tuple[int, bool]:
    key_end = _find_any(text, "=,", pos)
    has_equals = key_end < len(text) and text[key_end] == "="
    if key_end > pos and not has_equals:
        # Unlike QemuOpts, an implied value ends at the first comma: no ",," escape.
        if _is_help(text[pos:key_end]):
            return key_end + 1, True
        if implied is not None:
            into.put([implied], text[pos:key_end])
            return key_end + 1, False
    key = text[pos:key_end]
    fragments = _key_fragments(key)
    if not has_equals:
        raise _Invalid(f"Expected '=' after parameter '{key}'")
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
            raise _Invalid(f"Invalid parameter '{key}'")
        if length >= 128:
            what = " fragment" if pos or pos + length != len(key) else ""
            raise _Invalid(f"Parameter{what} '{key[pos : pos + length]}' is too long")
        fragments.append(key[pos : pos + length])
        pos += length
        if pos >= len(key):
            return fragments
        pos += 1  # the "."


# ======================================================================================
# JSON as QEMU reads it (-device '{...}', -object '{...}'), with QEMU's error messages
# ======================================================================================
#
# QEMU's reader is a lexer feeding a streamer that counts brackets and hands a complete
# value to a parser.  Its dialect adds single-quoted strings; its errors are specific
# ("stray 'x'" from the lexer, "premature EOI" when the text ends inside a value, ...).
# To say the same things we read the same way: lex until the first value is complete,
# then parse its tokens, then refuse anything after it.

_JSON_MAX_NESTING = 1024
_JSON_SPACE = " \t\r\n"
_DIGITS = "0123456789"
# Bytes QEMU's lexer refuses inside a string (they never occur in UTF-8); argv reaches
# Python with undecodable bytes as lone surrogates U+DC80..U+DCFF.
_JSON_BAD_BYTES = frozenset(chr(0xDC00 + byte) for byte in (0xC0, 0xC1, *range(0xF5, 0x100)))


@dataclass(frozen=True)
class _Token:
    kind: str  # one of "{}[],:" or "string", "integer", "float", "keyword"
    text: str


def _json_error(message: str) -> _Invalid:
    return _Invalid(f"JSON parse error, {message}")


def _parse_qemu_json(text: str) -> object:
    tokens, end = _json_first_value_tokens(text)
    parser = _JsonParser(tokens)
    value = parser.value()
    if text[end:].strip(_JSON_SPACE):
        raise _Invalid("Expecting at most one JSON value")
    return value


def _json_first_value_tokens(text: str) -> tuple[list[_Token], int]:
    tokens: list[_Token] = []
    braces = brackets = 0
    pos = 0
    while True:
        token, pos = _json_lex(text, pos)
        if token is None:
            return tokens, pos
        tokens.append(token)
        braces += {"{": 1, "}": -1}.get(token.kind, 0)
        brackets += {"[": 1, "]": -1}.get(token.kind, 0)
        if braces + brackets > _JSON_MAX_NESTING:
            raise _Invalid("JSON nesting depth limit exceeded")
        if braces < 0 or brackets < 0 or (braces == 0 and brackets == 0):
            return tokens, pos


def _json_lex(text: str, pos: int) -> tuple[_Token | None, int]:
    while pos < len(text) and text[pos] in _JSON_SPACE:
        pos += 1
    if pos == len(text):
        return None, pos
    char = text[pos]
    if char in "{}[],:":
        return _Token(char, char), pos + 1
    if char in "\"'":
        return _json_lex_string(text, pos)
    if char == "-" or char in _DIGITS:
        return _json_lex_number(text, pos)
    if "a" <= char <= "z":
        end = pos
        while end < len(text) and "a" <= text[end] <= "z":
            end += 1
        return _Token("keyword", text[pos:end]), end
    raise _json_error(f"stray '{char}'")


def _json_lex_string(text: str, start: int) -> tuple[_Token, int]:
    quote = text[start]
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            if ord(text[pos + 1]) < 0x20:
                raise _json_error(f"stray '{text[start : pos + 2]}'")
            pos += 2
            continue
        if ord(char) < 0x20 or char in _JSON_BAD_BYTES:
            raise _json_error(f"stray '{text[start : pos + 1]}'")
        if char == quote:
            return _Token("string", text[start : pos + 1]), pos + 1
        pos += 1
    raise _json_error(f"stray '{text[start:]}'")


def _json_lex_number(text: str, start: int) -> tuple[_Token, int]:
    """Lex -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; a malformed one is stray up to the bad character."""
    pos = start

    def digit_at(index: int) -> bool:
        return index < len(text) and text[index] in _DIGITS

    def stray(index: int) -> NoReturn:
        raise _json_error(f"stray '{text[start : index + 1]}'")

    if text[pos] == "-":
        pos += 1
        if not digit_at(pos):
            stray(pos)
    if text[pos] == "0":
        pos += 1
        if digit_at(pos):
            stray(pos)
    while digit_at(pos):
        pos += 1
    kind = "integer"
    if pos < len(text) and text[pos] == ".":
        kind = "float"
        pos += 1
        if not digit_at(pos):
            stray(pos)
        while digit_at(pos):
            pos += 1
    if pos < len(text) and text[pos] in "eE":
        kind = "float"
        pos += 1
        if pos < len(text) and text[pos] in "+-":
            pos += 1
        if not digit_at(pos):
            stray(pos)
        while digit_at(pos):
            pos += 1
    return _Token(kind, text[start:pos]), pos


class _JsonParser:
    """Recursive descent over the tokens of one value; the first error wins, as in QEMU."""

    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._next = 0

    def _peek(self) -> _Token:
        if self._next >= len(self._tokens):
            raise _json_error("premature EOI")
        return self._tokens[self._next]

    def _pop(self) -> _Token:
        token = self._peek()
        self._next += 1
        return token

    def value(self) -> object:
        token = self._peek()
        if token.kind == "{":
            return self._object()
        if token.kind == "[":
            return self._array()
        self._next += 1
        if token.kind == "string":
            return _json_string(token.text)
        if token.kind == "integer":
            number = int(token.text)
            # Like QEMU's QNum: int64, else uint64, else a double.
            return number if -(1 << 63) <= number < _U64 else float(token.text)
        if token.kind == "float":
            return float(token.text)
        if token.kind == "keyword":
            return _json_keyword(token.text)
        raise _json_error("expecting value")

    def _object(self) -> dict[str, object]:
        self._pop()
        members: dict[str, object] = {}
        if self._peek().kind == "}":
            self._pop()
            return members
        while True:
            self._pair(members)
            separator = self._pop()
            if separator.kind == "}":
                return members
            if separator.kind != ",":
                raise _json_error("expected separator in dict")

    def _pair(self, members: dict[str, object]) -> None:
        key = self.value()
        if not isinstance(key, str):
            raise _json_error("key is not a string in object")
        if self._pop().kind != ":":
            raise _json_error("missing : in object pair")
        value = self.value()
        if key in members:
            raise _json_error("duplicate key")
        members[key] = value

    def _array(self) -> list[object]:
        self._pop()
        items: list[object] = []
        if self._peek().kind == "]":
            self._pop()
            return items
        while True:
            items.append(self.value())
            separator = self._pop()
            if separator.kind == "]":
                return items
            if separator.kind != ",":
                raise _json_error("expected separator in list")


def _json_keyword(word: str) -> object:
    keywords: dict[str, object] = {"true": True, "false": False, "null": None}
    if word not in keywords:
        raise _json_error(f"invalid keyword '{word}'")
    return keywords[word]


_JSON_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def _json_string(token: str) -> str:
    """Decode a string token (quotes included)."""
    out: list[str] = []
    pos = 1
    end = len(token) - 1
    while pos < end:
        char = token[pos]
        if char != "\\":
            if 0xDC80 <= ord(char) <= 0xDCFF:
                raise _json_error("invalid UTF-8 sequence in string")
            out.append(char)
            pos += 1
            continue
        escape = token[pos + 1]
        if escape == "u":
            code_point, length = _json_unicode_escape(token, pos)
            out.append(chr(code_point))
            pos += length
        elif escape in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[escape])
            pos += 2
        else:
            raise _json_error("invalid escape sequence in string")
    return "".join(out)


def _json_unicode_escape(token: str, pos: int) -> tuple[int, int]:
    """Decode \\uXXXX (or a surrogate pair) at `pos`; return (code point, characters used)."""
    code_point = _hex4(token[pos + 2 : pos + 6])
    length = 6
    if 0xD800 <= code_point <= 0xDBFF and token[pos + 6 : pos + 8] == "\\u":
        trailing = _hex4(token[pos + 8 : pos + 12])
        if 0xDC00 <= trailing <= 0xDFFF:
            code_point = 0x10000 + ((code_point & 0x3FF) << 10) + (trailing & 0x3FF)
            length = 12
        else:
            code_point = -1
    if not _is_valid_code_point(code_point):
        # QEMU quotes the six characters from the backslash (fewer at the end of the string).
        raise _json_error(f"{token[pos : pos + 6]} is not a valid Unicode character")
    return code_point, length


def _hex4(text: str) -> int:
    if len(text) == 4 and all(char in "0123456789abcdefABCDEF" for char in text):
        return int(text, 16)
    return -1


def _is_valid_code_point(code_point: int) -> bool:
    if code_point < 0 or code_point > 0x10FFFF or 0xD800 <= code_point <= 0xDFFF:
        return False
    # Noncharacters are refused too.
    return not (0xFDD0 <= code_point <= 0xFDEF or (code_point & 0xFFFE) == 0xFFFE)


def _freeze_json(value: object) -> JsonValue:
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze_json(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze_json(item) for item in value)
    return cast(JsonValue, value)


# ======================================================================================
# The options QEMU's lists declare (types decide the checks and the error wording)
# ======================================================================================

_B: _OptType = "bool"
_S: _OptType = "str"
_N: _OptType = "num"
_Z: _OptType = "size"

_CHARDEV_KEYS: dict[str, _OptType] = {
    "abstract": _B, "append": _B, "backend": _S, "chardev": _S, "clipboard": _B, "cols": _N,
    "debug": _N, "delay": _B, "fd": _S, "height": _N, "host": _S, "ipv4": _B, "ipv6": _B,
    "localaddr": _S, "localport": _S, "logappend": _B, "logfile": _S, "mouse": _B, "mux": _B,
    "name": _S, "nodelay": _B, "path": _S, "port": _S, "reconnect": _N, "rows": _N, "server": _B,
    "signal": _B, "size": _Z, "telnet": _B, "tight": _B, "tls-authz": _S, "tls-creds": _S,
    "tn3270": _B, "to": _N, "wait": _B, "websocket": _B, "width": _N,
    "mode": _S,  # vmd's own: permissions of a unix socket vmd creates (checked below)
}  # fmt: skip

_CHARDEV = _OptsSpec("chardev", "backend", _CHARDEV_KEYS)
_MON = _OptsSpec("mon", "chardev", {"mode": _S, "chardev": _S, "pretty": _B})
_MEMORY = _OptsSpec("memory", "size", {"size": _Z, "slots": _N, "maxmem": _Z}, merge=True)
_NAME = _OptsSpec("name", "guest", {"guest": _S, "process": _S, "debug-threads": _B}, merge=True)
_DEVICE = _OptsSpec("device", "driver")
_OBJECT = _OptsSpec("object", "qom-type")
_NUMA = _OptsSpec("numa", "type")
_ACCEL = _OptsSpec("accel", "accel")
_ADD_FD = _OptsSpec("add-fd", None, {"fd": _N, "set": _N, "opaque": _S})
_GLOBAL = _OptsSpec("global", None, {"driver": _S, "property": _S, "value": _S})
_RTC = _OptsSpec("rtc", None, {"base": _S, "clock": _S, "driftfix": _S}, merge=True)
_MSG = _OptsSpec("msg", None, {"timestamp": _B, "guest-name": _B})
_OVERCOMMIT = _OptsSpec("overcommit", None, {"mem-lock": _B, "cpu-pm": _B})
# -vmd-limits keys: the fields of vmd.qmp.limits.SessionLimits, dashed.
_LIMIT_KEYS = ("max-message", "max-nesting", "queue-depth", "write-high-water", "max-output")

_ACTION = _OptsSpec("action", None, {"shutdown": _S, "reboot": _S, "panic": _S, "watchdog": _S}, merge=True)
_SANDBOX = _OptsSpec(
    "sandbox",
    "enable",
    {"enable": _B, "obsolete": _S, "elevateprivileges": _S, "spawn": _S, "resourcecontrol": _S},
    merge=True,
)
# Only for `-smp 2,help` and `-boot help`: the keys, as QEMU lists them.
_SMP_KEYS = ("cpus", "sockets", "dies", "clusters", "cores", "threads", "maxcpus")  # QAPI member order
_SMP_HELP = _OptsSpec("smp-opts", "cpus", dict.fromkeys(_SMP_KEYS, _N))
_BOOT_KEYS: dict[str, _OptType] = {
    "order": _S, "once": _S, "menu": _B, "splash": _S, "splash-time": _N, "reboot-timeout": _N, "strict": _B,
}  # fmt: skip
_BOOT_HELP = _OptsSpec("boot-opts", "order", _BOOT_KEYS)

_ACTION_VALUES: Mapping[str, tuple[str, ...]] = {
    "shutdown": ("poweroff", "pause"),
    "reboot": ("reset", "shutdown"),
    "panic": ("pause", "shutdown", "exit-failure", "none"),
    "watchdog": ("reset", "shutdown", "poweroff", "pause", "debug", "none", "inject-nmi"),
}
_SANDBOX_VALUES: Mapping[str, tuple[str, ...]] = {
    "obsolete": ("allow", "deny"),
    "elevateprivileges": ("allow", "deny", "children"),
    "spawn": ("allow", "deny"),
    "resourcecontrol": ("allow", "deny"),
}

# The chardev backends of QEMU 7.2 as Debian builds it, and the deprecated aliases.
_CHARDEV_BACKENDS = frozenset({
    "stdio", "ringbuf", "mux", "pipe", "qemu-vdagent", "null", "msmouse", "socket", "vc", "parallel", "udp",
    "memory", "file", "serial", "wctablet", "pty", "testdev",
})  # fmt: skip
_CHARDEV_ALIASES = {"tty": "serial", "parport": "parallel"}
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
_NUMA_TYPES = ("node", "dist", "cpu", "hmat-lb", "hmat-cache")
_MIGRATION_SCHEMES = ("tcp:", "rdma:", "exec:", "unix:", "fd:")
_VGA = re.compile(r"(none|std|cirrus|vmware|virtio|qxl|tcx|cg3|xenfb)(,retrace=(dumb|precise))*\Z")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_SUN_PATH_MAX = 108  # sizeof(sockaddr_un.sun_path) on Linux, terminating NUL included

_HMP_REFUSED = "vmd implements only QMP monitors (mode=control); the human monitor (HMP) is not supported"
_MONITOR_SOCKETS_ONLY = "vmd serves QMP only on unix sockets (path=PATH or an inherited fd=N)"
_UNSUPPORTED = "not supported by vmd"
_NOT_FOR_TARGET = "Option not supported for this target"


# ======================================================================================
# Reading argv: options and their arguments
# ======================================================================================

_Handler = Callable[["_Builder", "_Arg"], None]


@dataclass(frozen=True)
class _Option:
    has_arg: bool
    handle: _Handler


@dataclass(frozen=True)
class _Arg:
    """One option as typed: `spelled` keeps the dashes ("--m") for error locations."""

    option: _Option
    spelled: str
    value: str = ""

    @property
    def location(self) -> str:
        # QEMU prefixes errors with the option and its argument as they appear in argv.
        return f"{self.spelled} {self.value}" if self.option.has_arg else self.spelled

    def error(self, message: str) -> CommandLineError:
        return CommandLineError(f"{self.location}: {message}")


def _scan(argv: list[str]) -> list[_Arg]:
    """Split argv into options before looking at any value, as QEMU's first pass does."""
    args: list[_Arg] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        index += 1
        if not word.startswith("-"):
            args.append(_Arg(_POSITIONAL, word))
            continue
        option = _OPTIONS.get(word[2:] if word.startswith("--") else word[1:])
        if option is None:
            raise CommandLineError(f"{word}: invalid option")
        if not option.has_arg:
            args.append(_Arg(option, word))
            continue
        if index >= len(argv):
            raise CommandLineError(f"{word}: requires an argument")
        args.append(_Arg(option, word, argv[index]))
        index += 1
    return args


# ======================================================================================
# The options
# ======================================================================================


@dataclass(frozen=True)
class _MonitorRequest:
    """A monitor as asked for; it is resolved once every chardev is known."""

    arg: _Arg
    chardev_id: str | None
    mode: str | None
    pretty: bool
    id: str | None = None


@dataclass(frozen=True)
class _SerialRequest:
    arg: _Arg
    chardev_id: str | None = None  # `-serial chardev:ID`
    backend: tuple[str, dict[str, str]] | None = None  # `-serial file:x` and the like


def _name(arg: _Arg) -> str:
    """The option as "-name", however many dashes were typed."""
    return "-" + arg.spelled.lstrip("-")


class _Builder:
    """Collects the options in command-line order; `finish` makes QEMU's late checks and freezes."""

    def __init__(self) -> None:
        self.machine = _Keyval()
        self.accel: list[AccelConfig] = []
        self.cpu_option: str | None = None
        self.smp = _Keyval()
        self.memory: list[tuple[str, str]] = []
        self.numa: list[NumaConfig] = []
        self.numa_texts: list[str] = []
        self.start_paused = False
        self.name: list[tuple[str, str]] = []
        self.uuid: str | None = None
        self.daemonize = False
        self.pidfile: str | None = None
        self.nodefaults = False
        self.no_user_config = False
        self.nographic = False
        self.display: Display | None = None
        self.actions: dict[str, str] = {}
        self.chardevs: dict[str, ChardevConfig] = {}
        self.monitor_requests: list[_MonitorRequest] = []
        self.compat_monitors = 0
        self.serial_requests: list[_SerialRequest] = []
        self.devices: list[DeviceConfig] = []
        self.device_ids: set[str] = set()
        self.objects: list[ObjectConfig] = []
        self.object_ids: set[str] = set()
        self.globals: list[GlobalConfig] = []
        self.add_fds: list[tuple[_Arg, _Opts]] = []
        self.incoming: str | None = None
        self.guest_policy = _Keyval()
        self.limits: dict[str, int] = {}
        self.log_file: str | None = None
        self.ignored: list[tuple[str, str]] = []
        self.device_help: EarlyExit | None = None
        # ids each QemuOpts list has handed out ("Duplicate ID 'x' for chardev")
        self.opts_ids: dict[str, set[str]] = {}

    def opts(self, spec: _OptsSpec, text: str, *, abbrev: bool = True) -> _Opts:
        return _parse_opts(spec, text, abbrev=abbrev, taken=self.opts_ids.setdefault(spec.name, set()))

    def ignore(self, arg: _Arg) -> None:
        """Accepted for compatibility, no effect in vmd: listed so the daemon can say so."""
        self.ignored.append((_name(arg), arg.value))

    # --- machine, accelerators, CPUs, memory ---------------------------------------

    def opt_machine(self, arg: _Arg) -> None:
        if _keyval_parse(arg.value, "type", self.machine):
            raise EarlyExit("machine", detail=self.machine.leaves.get("type"))

    def opt_accel(self, arg: _Arg) -> None:
        opts = self.opts(_ACCEL, arg.value)
        name = opts.get("accel")
        if name is None or _is_help(name):
            raise EarlyExit("accel")
        self.accel.append(AccelConfig(name, MappingProxyType(opts.last_values(skip=("accel",)))))

    def opt_enable_kvm(self, arg: _Arg) -> None:
        self.machine.put(["accel"], "kvm")  # what QEMU makes of it: -machine accel=kvm

    def opt_cpu(self, arg: _Arg) -> None:
        self.cpu_option = arg.value

    def opt_smp(self, arg: _Arg) -> None:
        if _keyval_parse(arg.value, "cpus", self.smp):
            raise EarlyExit("options", _opts_help(_SMP_HELP), _SMP_HELP.name)

    def opt_m(self, arg: _Arg) -> None:
        self.memory += self.opts(_MEMORY, arg.value).items

    def opt_numa(self, arg: _Arg) -> None:
        self.numa.append(_numa(self.opts(_NUMA, arg.value)))
        self.numa_texts.append(arg.value)

    # --- identity and life cycle ------------------------------------------------------

    def opt_S(self, arg: _Arg) -> None:
        self.start_paused = True

    def opt_name(self, arg: _Arg) -> None:
        self.name += self.opts(_NAME, arg.value).items

    def opt_uuid(self, arg: _Arg) -> None:
        if not _UUID.match(arg.value):
            raise _Invalid("failed to parse UUID string: wrong format")
        self.uuid = arg.value.lower()

    def opt_daemonize(self, arg: _Arg) -> None:
        self.daemonize = True

    def opt_pidfile(self, arg: _Arg) -> None:
        self.pidfile = arg.value

    def opt_nodefaults(self, arg: _Arg) -> None:
        self.nodefaults = True

    def opt_no_user_config(self, arg: _Arg) -> None:
        self.no_user_config = True

    def opt_nographic(self, arg: _Arg) -> None:
        self.nographic = True
        self.display = "none"
        self.machine.put(["graphics"], "off")

    def opt_display(self, arg: _Arg) -> None:
        if _is_help(arg.value):
            raise EarlyExit("display")
        if arg.value.startswith("vnc"):
            if not arg.value.startswith("vnc="):
                raise _Invalid("VNC requires a display argument vnc=<display>")
            self.ignore(arg)
            return
        self.display = _display_type(arg.value)
        if self.display != "none":
            self.ignore(arg)

    def opt_no_shutdown(self, arg: _Arg) -> None:
        self.actions["shutdown"] = "pause"

    def opt_no_reboot(self, arg: _Arg) -> None:
        self.actions["reboot"] = "shutdown"

    def opt_action(self, arg: _Arg) -> None:
        items = self.opts(_ACTION, arg.value, abbrev=False).items
        for key, value in items:
            if value not in _ACTION_VALUES[key]:
                raise _Invalid(f"Parameter '{key}' does not accept value '{value}'")
            self.actions[key] = value
        if any(key in ("panic", "watchdog") for key, _ in items):  # vmd has no panic device or watchdog
            self.ignore(arg)

    def opt_incoming(self, arg: _Arg) -> None:
        if arg.value != "defer" and not arg.value.startswith(_MIGRATION_SCHEMES):
            # QEMU reports this once the machine exists, quoting the option itself.
            raise CommandLineError(f"-incoming {arg.value}: unknown migration protocol: {arg.value}")
        self.incoming = arg.value

    def opt_log_file(self, arg: _Arg) -> None:
        self.log_file = arg.value

    def opt_vmd_limits(self, arg: _Arg) -> None:
        into = _Keyval()
        if _keyval_parse(arg.value, None, into):
            raise _Invalid(f"Help: -vmd-limits {','.join(f'{key}=SIZE' for key in _LIMIT_KEYS)}")
        for key, value in into.leaves.items():
            if key not in _LIMIT_KEYS:
                raise _Invalid(f"Invalid parameter '{key}'")
            try:
                self.limits[key] = _parse_size(value)
            except (_BadValue, _OutOfRange):
                raise _Invalid(f"Parameter '{key}' expects a size") from None
            if self.limits[key] <= 0:
                raise _Invalid(f"Parameter '{key}' must be positive")

    def opt_vmd_guest(self, arg: _Arg) -> None:
        if _keyval_parse(arg.value, None, self.guest_policy):
            raise _Invalid("Help is not available for this option")

    # --- monitors, chardevs, serial ports ------------------------------------------------

    def opt_chardev(self, arg: _Arg) -> None:
        opts = self.opts(_CHARDEV, arg.value)
        if opts.id is None:
            raise _Invalid("chardev: no id specified")
        backend = opts.get("backend")
        if backend is None:
            raise _Invalid(f'chardev: "{opts.id}" missing backend')
        self.add_chardev(opts.id, backend, _chardev_props(opts))

    def add_chardev(self, chardev_id: str, backend: str, props: dict[str, str]) -> None:
        backend = _CHARDEV_ALIASES.get(backend, backend)
        if backend not in _CHARDEV_BACKENDS:
            raise _Invalid(f"'{backend}' is not a valid char driver name")
        _check_chardev(backend, props)
        self.chardevs[chardev_id] = ChardevConfig(chardev_id, backend, MappingProxyType(props))

    def opt_qmp(self, arg: _Arg) -> None:
        self.monitor_parse(arg, pretty=False)

    def opt_qmp_pretty(self, arg: _Arg) -> None:
        self.monitor_parse(arg, pretty=True)

    def opt_monitor(self, arg: _Arg) -> None:
        if not arg.value.startswith("none"):  # QEMU compares only the first four characters
            raise _Invalid(f"{_HMP_REFUSED}: use -qmp")

    def monitor_parse(self, arg: _Arg, *, pretty: bool) -> None:
        """-qmp/-qmp-pretty: "chardev:ID" or QEMU's legacy backend syntax ("unix:PATH,server=on")."""
        mon_ids = self.opts_ids.setdefault("mon", set())
        if arg.value.startswith("chardev:"):
            label = arg.value.removeprefix("chardev:")
            _check_opts_id(_MON, label, mon_ids)  # the chardev's id becomes the monitor's id
        else:
            # QEMU names these chardevs compat_monitor0, 1, ... and query-chardev shows them.
            label = f"compat_monitor{self.compat_monitors}"
            if label in self.opts_ids.setdefault("chardev", set()):
                raise _Invalid(f"Duplicate ID '{label}' for chardev")
            try:
                backend, props = _legacy_chardev(arg.value)
            except _LegacySyntax:
                raise _Invalid(f"parse error: {arg.value}") from None
            if backend != "socket" or props.get("mux") == "on":
                raise _Invalid(f"{_MONITOR_SOCKETS_ONLY}, not '{arg.value}'")
            self.add_chardev(label, backend, props)
            self.opts_ids["chardev"].add(label)
        mon_ids.add(label)
        self.compat_monitors += 1
        self.monitor_requests.append(_MonitorRequest(arg, label, "control", pretty, label))

    def opt_mon(self, arg: _Arg) -> None:
        opts = self.opts(_MON, arg.value)
        pretty = _parse_bool(opts.get("pretty") or "off")
        self.monitor_requests.append(
            _MonitorRequest(arg, opts.get("chardev"), opts.get("mode"), pretty, opts.id)
        )

    def opt_serial(self, arg: _Arg) -> None:
        if arg.value == "none":
            return
        if arg.value.startswith("chardev:"):
            self.serial_requests.append(_SerialRequest(arg, chardev_id=arg.value.removeprefix("chardev:")))
            return
        try:
            backend, props = _legacy_chardev(arg.value)
        except _LegacySyntax:
            raise _Invalid(f"could not connect serial device to character backend '{arg.value}'") from None
        if props.get("mux") == "on":  # "mon:..." shares the port with a human monitor
            raise _Invalid(_HMP_REFUSED)
        self.serial_requests.append(_SerialRequest(arg, backend=(backend, props)))

    # --- devices, objects, globals, fds ---------------------------------------------------

    def opt_device(self, arg: _Arg) -> None:
        if arg.value.startswith("{"):
            self.add_device(dataclasses.replace(_json_device(arg.value), text=arg.value))
            return
        opts = self.opts(_DEVICE, arg.value)
        driver = opts.get("driver")
        if self.device_help is None and (_is_help(driver) or opts.get("help") == "on"):
            # QEMU answers the first of these once the whole line is read.
            self.device_help = EarlyExit("device", detail=None if _is_help(driver) else driver)
        if driver is None:
            raise _Invalid("Parameter 'driver' is missing")
        props = MappingProxyType(opts.last_values(skip=("driver",)))
        self.add_device(DeviceConfig(driver, opts.id, props, text=arg.value))

    def add_device(self, device: DeviceConfig) -> None:
        if device.id is not None:
            if device.id in self.device_ids:
                raise _Invalid(f"Duplicate device ID '{device.id}'")
            self.device_ids.add(device.id)
        self.devices.append(device)

    def opt_object(self, arg: _Arg) -> None:
        if arg.value.startswith("{"):
            obj = _json_object(arg.value)
        else:
            obj = _opts_object(self.opts(_OBJECT, arg.value))  # refuses an id used by an earlier one
        try:
            check_option(obj)
        except ObjectError as error:
            raise _Invalid(str(error)) from None
        if obj.id in self.object_ids:
            # QEMU finds this clash only when it creates the object, and names no option.
            raise CommandLineError(
                f"attempt to add duplicate property '{obj.id}' to object (type 'container')"
            )
        self.object_ids.add(obj.id)
        self.objects.append(obj)

    def opt_global(self, arg: _Arg) -> None:
        self.globals.append(_global(self, arg.value))

    def opt_add_fd(self, arg: _Arg) -> None:
        self.add_fds.append((arg, self.opts(_ADD_FD, arg.value, abbrev=False)))

    # --- accepted and ignored, after QEMU's checks ------------------------------------

    def opt_boot(self, arg: _Arg) -> None:
        boot = _Keyval()
        if _keyval_parse(arg.value, "order", boot):
            raise EarlyExit("options", _opts_help(_BOOT_HELP), _BOOT_HELP.name)
        _check_keyval_members("boot", boot, _BOOT_KEYS)
        self.ignore(arg)

    def opt_rtc(self, arg: _Arg) -> None:
        self.opts(_RTC, arg.value, abbrev=False)
        self.ignore(arg)

    def opt_msg(self, arg: _Arg) -> None:
        self.opts(_MSG, arg.value, abbrev=False)
        self.ignore(arg)

    def opt_overcommit(self, arg: _Arg) -> None:
        opts = self.opts(_OVERCOMMIT, arg.value, abbrev=False)
        for key, value in opts.items:
            if _parse_bool(value):
                # QEMU locks all its memory (mlockall) or passes CPU power management to a KVM
                # guest; vmd does neither, so asking for it must not look as if it were done.
                raise _Invalid(f"vmd cannot honour {key}=on")
        self.ignore(arg)

    def opt_sandbox(self, arg: _Arg) -> None:
        for key, value in self.opts(_SANDBOX, arg.value).items:
            if key in _SANDBOX_VALUES and value not in _SANDBOX_VALUES[key]:
                raise _Invalid(f"invalid argument for {key}")
        self.ignore(arg)

    def opt_audiodev(self, arg: _Arg) -> None:
        if arg.value.startswith("{"):
            settings = {key: str(value) for key, value in _json_members(arg.value).items()}
        else:
            keyval = _Keyval()
            if _keyval_parse(arg.value, "driver", keyval):
                raise EarlyExit("audiodev")
            settings = keyval.leaves
        if _is_help(settings.get("driver")):
            raise EarlyExit("audiodev")
        if "id" not in settings:
            raise _Invalid("Parameter 'id' is missing")
        self.ignore(arg)

    def opt_vga(self, arg: _Arg) -> None:
        if _is_help(arg.value):
            raise EarlyExit("vga")
        if not _VGA.match(arg.value):
            raise CommandLineError(f"unknown vga type: {arg.value}")  # QEMU says it without a location
        if arg.value != "none":
            self.ignore(arg)

    def opt_seed(self, arg: _Arg) -> None:
        try:
            _c_strtou64(arg.value)
        except (_BadValue, _OutOfRange):
            raise _Invalid(f"Invalid seed number: {arg.value}") from None
        self.ignore(arg)

    def opt_d(self, arg: _Arg) -> None:
        if _is_help(arg.value):
            raise EarlyExit("log")
        self.ignore(arg)

    def opt_ignored(self, arg: _Arg) -> None:
        self.ignore(arg)

    def opt_none_or_unsupported(self, arg: _Arg) -> None:
        """-net/-nic/-parallel: "none" is what vmd does anyway; anything else it cannot do."""
        if arg.value != "none":
            raise _Invalid(_UNSUPPORTED)

    def opt_unsupported(self, arg: _Arg) -> None:
        raise _Invalid(_UNSUPPORTED)

    def opt_not_for_target(self, arg: _Arg) -> None:
        raise _Invalid(_NOT_FOR_TARGET)

    def opt_positional(self, arg: _Arg) -> None:
        raise _Invalid("disk images are not supported by vmd")

    def opt_help(self, arg: _Arg) -> None:
        raise EarlyExit("help", usage_text())

    def opt_version(self, arg: _Arg) -> None:
        raise EarlyExit("version", version_text())

    # --- the end of the line ----------------------------------------------------------

    def finish(self) -> Config:
        """QEMU's checks after the loop, in QEMU's order, then the frozen Config."""
        machine = dict(self.machine.leaves)
        kernel, initrd, append = (machine.pop(key, None) for key in ("kernel", "initrd", "append"))
        if kernel is None and append is not None:
            raise CommandLineError("-append only allowed with -kernel option")
        if kernel is None and initrd is not None:
            raise CommandLineError("-initrd only allowed with -kernel option")
        if kernel is not None:
            # The guest vmd runs is its own firmware (or a vmd-ISA image given with -bios).
            raise CommandLineError(f"-kernel {kernel}: vmd cannot boot a Linux kernel")
        if self.incoming is not None:
            # Parsed and checked as QEMU does (the last one counts), then refused: vmd has no
            # migration stream yet, and a management stack must not believe it is restoring.
            raise CommandLineError(f"-incoming {self.incoming}: vmd cannot receive a migration")
        add_fds = tuple(_add_fd(arg, opts) for arg, opts in self.add_fds)
        if _is_help(self.cpu_option):
            raise EarlyExit("cpu")
        if self.device_help is not None:
            raise self.device_help
        memory = _memory(self.memory)
        machine = _dashify(machine)
        machine_type = machine.pop("type", None)
        smp = _smp(self.smp)
        accel = self.accelerators(machine.pop("accel", None))
        monitors = self.monitors()
        serials = self.serials()  # adds the chardevs of `-serial file:x` and the like
        cpu_model, cpu_features = _cpu(self.cpu_option)
        name = _Opts(None, self.name)
        debug_threads = name.get("debug-threads")
        return Config(
            machine_type=machine_type,
            machine_props=MappingProxyType(machine),
            accel=accel,
            cpu_model=cpu_model,
            cpu_features=cpu_features,
            smp=smp,
            memory=memory,
            numa=tuple(self.numa),
            numa_texts=tuple(self.numa_texts),
            start_paused=self.start_paused,
            name=name.get("guest"),
            process_name=name.get("process"),
            debug_threads=None if debug_threads is None else _parse_bool(debug_threads),
            uuid=self.uuid,
            daemonize=self.daemonize,
            pidfile=self.pidfile,
            nodefaults=self.nodefaults,
            no_user_config=self.no_user_config,
            nographic=self.nographic,
            display=self.display,
            no_shutdown=self.actions.get("shutdown") == "pause",
            no_reboot=self.actions.get("reboot") == "shutdown",
            monitors=monitors,
            chardevs=MappingProxyType(dict(self.chardevs)),
            serials=serials,
            devices=tuple(self.devices),
            objects=tuple(self.objects),
            globals=tuple(self.globals),
            add_fds=add_fds,
            kernel=kernel,
            initrd=initrd,
            append=append,
            guest_policy=MappingProxyType(dict(self.guest_policy.leaves)),
            limits=MappingProxyType(dict(self.limits)),
            log_file=self.log_file,
            ignored_options=tuple(self.ignored),
        )

    def accelerators(self, legacy: str | None) -> tuple[AccelConfig, ...]:
        if legacy is None:
            return tuple(self.accel)
        if self.accel:
            raise CommandLineError('The -accel and "-machine accel=" options are incompatible')
        return tuple(AccelConfig(name) for name in legacy.split(":"))

    def monitors(self) -> tuple[MonitorConfig, ...]:
        in_use: set[str] = set()
        return tuple(self.monitor(request, in_use) for request in self.monitor_requests)

    def monitor(self, request: _MonitorRequest, in_use: set[str]) -> MonitorConfig:
        arg = request.arg
        mode = request.mode or "readline"  # QEMU's default for -mon
        if mode not in ("readline", "control"):
            raise arg.error(f"Parameter 'mode' does not accept value '{mode}'")
        if request.chardev_id is None:
            raise arg.error("Parameter 'chardev' is missing")
        chardev = self.chardevs.get(request.chardev_id)
        if chardev is None:
            raise arg.error(f'chardev "{request.chardev_id}" not found')
        if mode == "readline":
            raise arg.error(f"{_HMP_REFUSED}: add mode=control")
        if chardev.id in in_use:
            raise arg.error(f"Device '{chardev.id}' is in use")
        in_use.add(chardev.id)
        try:
            endpoint, wait, socket_mode = _monitor_socket(chardev)
        except _Invalid as exc:
            raise arg.error(str(exc)) from None
        return MonitorConfig(
            endpoint=endpoint,
            chardev_id=chardev.id,
            wait=wait,
            pretty=request.pretty,
            socket_mode=socket_mode,
            id=request.id,
        )

    def serials(self) -> tuple[SerialConfig, ...]:
        """Connect the -serial ports; an inline backend becomes chardev "serialN" as in QEMU."""
        serials: list[SerialConfig] = []
        for request in self.serial_requests:
            index = len(serials)
            if request.backend is not None:
                chardev_id = f"serial{index}"
                if chardev_id in self.chardevs:
                    raise request.arg.error(f"Duplicate ID '{chardev_id}' for chardev")
                try:
                    self.add_chardev(chardev_id, *request.backend)
                except _Invalid as exc:
                    raise request.arg.error(str(exc)) from None
            else:
                assert request.chardev_id is not None
                chardev_id = request.chardev_id
                if chardev_id not in self.chardevs:
                    raise request.arg.error(
                        f"could not connect serial device to character backend '{request.arg.value}'"
                    )
            serials.append(SerialConfig(index, chardev_id))
        return tuple(serials)


# --- helpers of the options, in the order of the options above --------------------------


def _machine_sugar(key: str, value: str | None = None) -> _Handler:
    """An option QEMU turns into a -machine property (-usb is usb=on, -bios X is firmware=X)."""

    def handle(builder: _Builder, arg: _Arg) -> None:
        builder.machine.put([key], arg.value if value is None else value)

    return handle


def _memory(items: list[tuple[str, str]]) -> MemoryConfig:
    opts = _Opts(None, items)
    size = DEFAULT_RAM_SIZE
    text = opts.get("size")
    if text is not None and _parse_size(text) != 0:  # QEMU reads -m 0 as "not given"
        # A number without a suffix is MiB, as it always was for -m.
        legacy = text + "M" if text[-1] in _DIGITS else text
        try:
            size = _parse_size(legacy)
        except (_BadValue, _OutOfRange):
            raise CommandLineError("Parameter 'memory.size' expects size") from None
    slots = opts.get("slots")
    maxmem = opts.get("maxmem")
    return MemoryConfig(
        size_bytes=size,
        slots=None if slots is None else _c_strtou64(slots),
        maxmem_bytes=None if maxmem is None else _parse_size(maxmem),
    )


def _smp(smp: _Keyval) -> SmpConfig:
    """-smp numbers as QEMU's machine property "smp" takes them: integers, C syntax."""
    numbers: dict[str, int] = {}
    for key in _SMP_KEYS:  # QEMU checks the members in this order
        if key in smp.inner:
            raise CommandLineError(f"Parameters 'smp.{key}.*' are unexpected")
        if key in smp.leaves:
            try:
                numbers[key] = _c_strtoi64(smp.leaves[key])
            except (_BadValue, _OutOfRange):
                raise CommandLineError(f"Parameter 'smp.{key}' expects integer") from None
    for key in smp.leaves:
        top = key.split(".")[0]
        if top not in _SMP_KEYS:
            raise CommandLineError(f"Parameter 'smp.{top}' is unexpected")
    return SmpConfig(**numbers)


def _check_keyval_members(prefix: str, keyval: _Keyval, members: Mapping[str, _OptType]) -> None:
    """Type-check a keyval tree as QEMU's visitor does: members in order, then strangers."""
    for key, kind in members.items():
        value = keyval.leaves.get(key)
        if value is None or kind in ("str", "size"):
            continue
        try:
            _parse_bool(value) if kind == "bool" else _c_strtoi64(value)
        except (_BadValue, _OutOfRange):
            wanted = "'on' or 'off'" if kind == "bool" else "integer"
            raise CommandLineError(f"Parameter '{prefix}.{key}' expects {wanted}") from None
    for key in keyval.leaves:
        top = key.split(".")[0]
        if top not in members:
            raise CommandLineError(f"Parameter '{prefix}.{top}' is unexpected")


def _dashify(machine: dict[str, str]) -> dict[str, str]:
    """QEMU accepts machine properties spelled with underscores: kernel_irqchip is kernel-irqchip."""
    result: dict[str, str] = {}
    for key, value in machine.items():
        top, dot, rest = key.partition(".")
        dashed = top.replace("_", "-")
        if dashed != top and any(other.partition(".")[0] == dashed for other in machine):
            raise CommandLineError(f"Conflict between '{top}' and '{dashed}'")
        result[dashed + dot + rest] = value
    return result


def _cpu(option: str | None) -> tuple[str | None, tuple[tuple[str, str], ...]]:
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


def _numa(opts: _Opts) -> NumaConfig:
    """One -numa, checked as QEMU's visitor does: members in order, then unknown keys."""
    kind = opts.get("type")
    if kind is None:
        raise _Invalid("Parameter 'type' is missing")
    if kind not in _NUMA_TYPES:
        raise _Invalid(f"Parameter 'type' does not accept value '{kind}'")
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
        raise _Invalid(f"Invalid parameter '{strangers[0]}'")
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
            raise _Invalid(f"Parameter '{key}' is missing")
    elif isinstance(member_type, int):
        _numa_uint(values, key, member_type)
    elif isinstance(member_type, tuple):
        if text not in member_type:
            raise _Invalid(f"Parameter '{key}' does not accept value '{text}'")
    else:
        try:
            _parse_size(text)
        except (_BadValue, _OutOfRange):
            raise _Invalid(f"Parameter '{key}' expects a size value") from None


def _numa_unsigned(text: str, key: str) -> int:
    if text.lstrip(_C_SPACE).startswith("-"):
        raise _Invalid(f"Parameter '{key}' expects a uint64 value")
    try:
        return _c_strtou64(text)
    except (_BadValue, _OutOfRange):
        raise _Invalid(f"Parameter '{key}' expects a uint64 value") from None


def _numa_uint(values: Mapping[str, str], key: str, bits: int) -> int | None:
    text = values.get(key)
    if text is None:
        return None
    number = _numa_unsigned(text, key)
    if bits < 64 and number >= 1 << bits:
        raise _Invalid(f"Parameter '{key}' expects uint{bits}_t")
    return number


def _numa_required(values: Mapping[str, str], key: str, bits: int) -> int:
    number = _numa_uint(values, key, bits)
    if number is None:
        raise _Invalid(f"Parameter '{key}' is missing")
    return number


def _numa_int(values: Mapping[str, str], key: str) -> int | None:
    text = values.get(key)
    if text is None:
        return None
    try:
        return _c_strtoi64(text)
    except (_BadValue, _OutOfRange):
        raise _Invalid(f"Parameter '{key}' expects an int64 value") from None


_RANGE_MAX = 65536  # QEMU's options visitor refuses wider ranges


def _numa_cpu_range(text: str) -> tuple[int, int]:
    wrong = _Invalid("Parameter 'cpus' expects a uint64 value or range")
    first_text, dash, last_text = text.partition("-")
    try:
        first = _numa_unsigned(first_text, "cpus")
        last = _numa_unsigned(last_text, "cpus") if dash else first
    except _Invalid:
        raise wrong from None
    if last < first or last - first >= _RANGE_MAX:
        raise wrong
    if last > 0xFFFF:
        # Sic: QEMU 7.2 names no parameter here.
        raise _Invalid("Parameter 'null' expects uint16_t")
    return first, last


def _numa_mem(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        _parse_size(text)
        # Like -m, a number without a suffix is MiB.
        return _parse_size(text, "m" if text[-1] in _DIGITS else "b")
    except (_BadValue, _OutOfRange):
        raise _Invalid("Parameter 'mem' expects a size value") from None


def _display_type(text: str) -> Display:
    keyval = _Keyval()
    if _keyval_parse(text, "type", keyval):
        raise _Invalid("Help is not available for this option")
    kind = keyval.leaves.get("type")
    if kind is None:
        raise _Invalid("Parameter 'type' is missing")
    if kind not in _DISPLAY_TYPES:
        raise _Invalid(f"Parameter 'type' does not accept value '{kind}'")
    if kind == "none":
        for key in keyval.leaves:
            if key.split(".")[0] not in _DISPLAY_COMMON_KEYS:
                raise _Invalid(f"Parameter '{key.split('.')[0]}' is unexpected")
    return kind


# --- chardevs and monitors --------------------------------------------------------------

_LEGACY_PATH_BACKENDS = (("file:", "file"), ("pipe:", "pipe"))
_LEGACY_TCP_PREFIXES = {"tcp:": None, "telnet:": "telnet", "tn3270:": "tn3270", "websocket:": "websocket"}
_LEGACY_SIMPLE = frozenset({"null", "pty", "msmouse", "wctablet", "braille", "testdev", "stdio"})
_TCP_HOST_PORT = re.compile(r"([^:]{1,64}):([^,]{1,32})|():([^,]{1,32})")
_UDP_HOST_PORT = re.compile(r"([^:]{1,64}):([^@,]{1,32})|():([^@,]{1,32})")


def _normalized(items: list[tuple[str, str]]) -> dict[str, str]:
    """Each key once (its last value); booleans as "on"/"off" whatever the spelling was."""
    props: dict[str, str] = {}
    for key, value in items:
        props[key] = ("on" if _parse_bool(value) else "off") if _CHARDEV_KEYS.get(key) == "bool" else value
    return props


def _chardev_props(opts: _Opts) -> dict[str, str]:
    return _normalized([(key, value) for key, value in opts.items if key != "backend"])


def _check_chardev(backend: str, props: Mapping[str, str]) -> None:
    """QEMU's checks when it creates the chardev."""
    needs_path = {
        "file": "chardev: file: no filename given",
        "pipe": "chardev: pipe: no device path given",
        "serial": "chardev: serial/tty: no device path given",
        "parallel": "chardev: parallel: no device path given",
    }
    if backend in needs_path and "path" not in props:
        raise _Invalid(needs_path[backend])
    if backend == "socket":
        _check_socket(props)
    if "mode" in props:
        if backend != "socket":
            raise _Invalid("Invalid parameter 'mode'")
        _socket_mode(props["mode"])


def _check_socket(props: Mapping[str, str]) -> None:
    where = [key for key in ("path", "fd", "host") if key in props]
    if len(where) > 1:
        raise _Invalid("None or one of 'path', 'fd' or 'host' option required.")
    if not where:
        raise _Invalid("Unable to parse FD number ")  # sic, QEMU 7.2's words when none is given
    if "host" in props and "port" not in props:
        raise _Invalid("chardev: socket: no port given")
    if "delay" in props and "nodelay" in props:
        raise _Invalid("'delay' and 'nodelay' are mutually exclusive")
    server = props.get("server") == "on"
    if not server and "wait" in props:
        raise _Invalid("'wait' option is incompatible with socket in client connect mode")
    if server and "reconnect" in props:
        raise _Invalid("'reconnect' option is incompatible with socket in server listen mode")
    if "fd" in props:
        _socket_fd(props["fd"])
    path = props.get("path")
    if path is not None and len(path.encode("utf-8", "surrogateescape")) >= _SUN_PATH_MAX:
        # QEMU finds out when it binds or connects; the first line of its message.
        raise _Invalid(f"UNIX socket path '{path}' is too long")


def _socket_fd(text: str) -> int:
    # QEMU reads it with qemu_strtoi (base 10, into a C int).
    if not re.fullmatch(r"[ \t\n\v\f\r]*[+-]?[0-9]+", text):
        raise _Invalid(f"Unable to parse FD number {text}")
    fd = int(text)
    if not -(1 << 31) <= fd < 1 << 31:
        raise _Invalid(f"Unable to parse FD number {text}: Numerical result out of range")
    if fd < 0:
        raise _Invalid(f"File descriptor '{text}' is not a socket")
    return fd


def _socket_mode(text: str) -> int:
    """vmd's mode=0660: the permissions of a socket file vmd creates."""
    if not re.fullmatch(r"0?[0-7]{1,3}", text):
        raise _Invalid(f"Parameter 'mode' expects octal permissions such as 0660, not '{text}'")
    return int(text, 8)


def _monitor_socket(chardev: ChardevConfig) -> tuple[MonitorEndpoint, bool, int]:
    """Where a QMP monitor listens: (endpoint, wait for a first client, socket file mode)."""
    props = chardev.props
    if chardev.backend != "socket" or props.get("mux") == "on":
        raise _Invalid(f"{_MONITOR_SOCKETS_ONLY}, not on a '{chardev.backend}' chardev")
    if "host" in props:
        raise _Invalid(f"{_MONITOR_SOCKETS_ONLY}, not on TCP (host={props['host']})")
    if props.get("server") != "on":
        raise _Invalid("vmd does not support client-mode monitor sockets (server=off); use server=on")
    for key in ("telnet", "tn3270", "websocket"):
        if props.get(key) == "on":
            raise _Invalid(f"vmd does not support {key}=on on a monitor socket")
    if "tls-creds" in props:
        raise _Invalid("vmd does not support TLS on monitor sockets")
    wait = props.get("wait", "on") == "on"  # QEMU's default: a server waits for its first client
    mode = _socket_mode(props["mode"]) if "mode" in props else 0o600
    path = props.get("path")
    if path is None:
        return InheritedFd(_socket_fd(props["fd"])), wait, mode
    if props.get("abstract") == "on":
        raise _Invalid("vmd does not support abstract unix sockets")
    return UnixPath(path), wait, mode


def _legacy_chardev(text: str) -> tuple[str, dict[str, str]]:
    """QEMU's old chardev syntax of -qmp and -serial ("unix:PATH,server=on", "file:x", "stdio", ...)."""
    props: dict[str, str] = {}
    if text.startswith("mon:"):
        text = text.removeprefix("mon:")
        props["mux"] = "on"
    if text in _LEGACY_SIMPLE:
        return text, props
    if text.startswith("vc"):
        return "vc", props | _legacy_vc(text.removeprefix("vc"))
    for prefix, backend in _LEGACY_PATH_BACKENDS:
        if text.startswith(prefix):
            return backend, props | {"path": text.removeprefix(prefix)}
    if text.startswith("COM"):
        return "serial", props | {"path": text}
    for prefix, flag in _LEGACY_TCP_PREFIXES.items():
        if text.startswith(prefix):
            return "socket", props | _legacy_tcp(text, text.removeprefix(prefix), flag)
    if text.startswith("udp:"):
        return "udp", props | _legacy_udp(text, text.removeprefix("udp:"))
    if text.startswith("unix:"):
        spec = _OptsSpec("chardev", "path", _CHARDEV_KEYS)
        return "socket", props | _normalized(
            _opts_items(spec, text.removeprefix("unix:"), "path", help_allowed=False)
        )
    if text.startswith(("/dev/parport", "/dev/ppi")):
        return "parallel", props | {"path": text}
    if text.startswith("/dev/"):
        return "serial", props | {"path": text}
    raise _Invalid(f"'{text}' is not a valid char driver")


class _LegacySyntax(_Invalid):
    """QEMU fails these silently and reports only that the whole string did not work."""


def _legacy_vc(rest: str) -> dict[str, str]:
    if not rest.startswith(":"):
        return {}
    if match := re.match(r"(\d{1,7})x(\d{1,7})", rest[1:]):
        return {"width": match[1], "height": match[2]}
    if match := re.match(r"(\d{1,7})Cx(\d{1,7})", rest[1:]):
        return {"cols": match[1], "rows": match[2]}
    raise _LegacySyntax(rest)


def _legacy_tcp(text: str, rest: str, flag: str | None) -> dict[str, str]:
    match = _TCP_HOST_PORT.match(rest)
    if not match:
        raise _LegacySyntax(text)
    props = {"host": match[1] or "", "port": match[2] or match[4]}
    after = rest[match.end() :]
    if after.startswith(","):
        props |= _normalized(_opts_items(_CHARDEV, after[1:], None, help_allowed=False))
    if flag is not None:
        props[flag] = "on"
    return props


def _legacy_udp(text: str, rest: str) -> dict[str, str]:
    match = _UDP_HOST_PORT.match(rest)
    if not match:
        raise _LegacySyntax(text)
    props = {"host": match[1] or "", "port": match[2] or match[4]}
    after = rest[match.end() :]
    if after.startswith("@"):
        local = _TCP_HOST_PORT.match(after[1:])
        if not local:
            raise _LegacySyntax(text)
        props |= {"localaddr": local[1] or "", "localport": local[2] or local[4]}
    return props


# --- devices, objects, globals, fds -------------------------------------------------------


def _json_members(text: str) -> dict[str, object]:
    value = _parse_qemu_json(text)
    assert isinstance(value, dict)  # the text starts with "{"
    return cast(dict[str, object], value)


def _json_device(text: str) -> DeviceConfig:
    members = _json_members(text)
    driver = members.get("driver")
    if not isinstance(driver, str):
        raise _Invalid("Parameter 'driver' is missing")
    device_id = members.get("id")
    if not isinstance(device_id, str):
        device_id = None  # QEMU quietly treats an id that is not a string as no id
    props = {key: _freeze_json(value) for key, value in members.items() if key not in ("driver", "id")}
    return DeviceConfig(driver, device_id, MappingProxyType(props), from_json=True)


def _json_object(text: str) -> ObjectConfig:
    members = _json_members(text)
    for key in ("qom-type", "id"):
        if key not in members:
            raise _Invalid(f"Parameter '{key}' is missing")
        if not isinstance(members[key], str):
            raise _Invalid(f"Invalid parameter type for '{key}', expected: string")
    qom_type, object_id = cast(str, members["qom-type"]), cast(str, members["id"])
    if not _is_identifier(object_id):
        raise CommandLineError("Parameter 'id' expects an identifier")  # QEMU says it without a location
    props = {key: _freeze_json(value) for key, value in members.items() if key not in ("qom-type", "id")}
    return ObjectConfig(qom_type, object_id, MappingProxyType(props), from_json=True)


def _opts_object(opts: _Opts) -> ObjectConfig:
    qom_type = opts.get("qom-type")
    if qom_type is None:
        raise _Invalid("Parameter 'qom-type' is missing")
    if _is_help(qom_type):
        raise EarlyExit("object")
    if opts.get("help") == "on":
        raise EarlyExit("object", detail=qom_type)
    if opts.id is None:
        raise _Invalid("Parameter 'id' is missing")
    return ObjectConfig(qom_type, opts.id, MappingProxyType(dict(opts.last_values(skip=("qom-type",)))))


_GLOBAL_SUGAR = re.compile(r"([^.=]{1,63})\.([^=]{1,63})=")


def _global(builder: _Builder, text: str) -> GlobalConfig:
    if match := _GLOBAL_SUGAR.match(text):
        return GlobalConfig(match[1], match[2], text[match.end() :])
    opts = builder.opts(_GLOBAL, text, abbrev=False)
    driver, prop, value = opts.get("driver"), opts.get("property"), opts.get("value")
    if driver is None or prop is None or value is None:
        raise _Invalid("options 'driver', 'property', and 'value' are required")
    return GlobalConfig(driver, prop, value)


def _as_signed(number: int, bits: int) -> int:
    """What C makes of a uint64 stored into a signed `bits`-wide integer."""
    number &= (1 << bits) - 1
    return number - (1 << bits) if number >> (bits - 1) else number


def _add_fd(arg: _Arg, opts: _Opts) -> AddFdConfig:
    """QEMU's checks of -add-fd (it also checks the fd is open; the daemon does that)."""
    fd_text, set_text = opts.get("fd"), opts.get("set")
    fd = -1 if fd_text is None else _as_signed(_c_strtou64(fd_text), 32)
    if fd < 0:
        raise arg.error("fd option is required and must be non-negative")
    if fd <= 2:
        raise arg.error("fd cannot be a standard I/O stream")
    fdset = -1 if set_text is None else _as_signed(_c_strtou64(set_text), 64)
    if fdset < 0:
        raise arg.error("set option is required and must be non-negative")
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        raise arg.error("fd is not valid or already in use") from None
    return AddFdConfig(fd, fdset, opts.get("opaque"))


# ======================================================================================
# The option table: every option of qemu-system-x86_64 7.2, and vmd's own
# ======================================================================================

_B_ = _Builder  # short alias for the table


def _table() -> dict[str, _Option]:
    handled: dict[str, tuple[bool, _Handler]] = {
        "machine": (True, _B_.opt_machine), "M": (True, _B_.opt_machine), "accel": (True, _B_.opt_accel),
        "enable-kvm": (False, _B_.opt_enable_kvm), "cpu": (True, _B_.opt_cpu), "smp": (True, _B_.opt_smp),
        "m": (True, _B_.opt_m), "numa": (True, _B_.opt_numa), "S": (False, _B_.opt_S),
        "name": (True, _B_.opt_name), "uuid": (True, _B_.opt_uuid), "daemonize": (False, _B_.opt_daemonize),
        "pidfile": (True, _B_.opt_pidfile), "nodefaults": (False, _B_.opt_nodefaults),
        "no-user-config": (False, _B_.opt_no_user_config), "nographic": (False, _B_.opt_nographic),
        "display": (True, _B_.opt_display), "no-shutdown": (False, _B_.opt_no_shutdown),
        "no-reboot": (False, _B_.opt_no_reboot), "action": (True, _B_.opt_action),
        "incoming": (True, _B_.opt_incoming), "chardev": (True, _B_.opt_chardev), "qmp": (True, _B_.opt_qmp),
        "qmp-pretty": (True, _B_.opt_qmp_pretty), "monitor": (True, _B_.opt_monitor),
        "mon": (True, _B_.opt_mon),
        "serial": (True, _B_.opt_serial), "device": (True, _B_.opt_device), "object": (True, _B_.opt_object),
        "global": (True, _B_.opt_global), "add-fd": (True, _B_.opt_add_fd), "boot": (True, _B_.opt_boot),
        "rtc": (True, _B_.opt_rtc), "msg": (True, _B_.opt_msg), "overcommit": (True, _B_.opt_overcommit),
        "sandbox": (True, _B_.opt_sandbox), "audiodev": (True, _B_.opt_audiodev), "vga": (True, _B_.opt_vga),
        "seed": (True, _B_.opt_seed), "d": (True, _B_.opt_d), "h": (False, _B_.opt_help),
        "help": (False, _B_.opt_help), "version": (False, _B_.opt_version),
        "net": (True, _B_.opt_none_or_unsupported), "nic": (True, _B_.opt_none_or_unsupported),
        "parallel": (True, _B_.opt_none_or_unsupported),
        # QEMU turns these into -machine properties
        "kernel": (True, _machine_sugar("kernel")), "initrd": (True, _machine_sugar("initrd")),
        "append": (True, _machine_sugar("append")), "bios": (True, _machine_sugar("firmware")),
        "dtb": (True, _machine_sugar("dtb")), "usb": (False, _machine_sugar("usb", "on")),
        "no-acpi": (False, _machine_sugar("acpi", "off")), "no-hpet": (False, _machine_sugar("hpet", "off")),
        # vmd's own (a name QEMU does not use): the guest model's policy, KEY=VALUE,...
        "vmd-guest": (True, _B_.opt_vmd_guest),
        # vmd's per-session protocol limits (vmd.qmp.limits), KEY=SIZE,...
        "vmd-limits": (True, _B_.opt_vmd_limits),
        # QEMU's log file; vmd writes its own log there.
        "D": (True, _B_.opt_log_file),
    }  # fmt: skip
    # Host-side or cosmetic: accepted, listed in Config.ignored_options.
    ignored_with_arg = (
        "L k trace vnc dfilter icount watchdog-action mem-path option-rom smbios acpitable fw_cfg compat "
        "audio echr g rotate"
    )
    ignored_flags = (
        "mem-prealloc singlestep snapshot only-migratable enable-sync-profile async-teardown full-screen "
        "portrait win2k-hack no-fd-bootchk"
    )
    # What vmd cannot do (disks, networks, debuggers, other front ends): refused, not ignored.
    unsupported_with_arg = (
        "drive blockdev hda hdb hdc hdd fda fdb cdrom mtdblock sd pflash iscsi netdev fsdev virtfs usbdevice "
        "tpmdev spice debugcon gdb loadvm plugin qtest qtest-log readconfig set dump-vmstate chroot runas"
    )
    unsupported_flags = "s preconfig audio-help"
    # Options of other targets or accelerators: QEMU refuses them on x86 without Xen.
    other_target_with_arg = "xen-domid semihosting-config prom-env"
    other_target_flags = "xen-attach xen-domid-restrict semihosting old-param"
    table = {name: _Option(has_arg, handle) for name, (has_arg, handle) in handled.items()}
    for names, has_arg, handle in (
        (ignored_with_arg, True, _B_.opt_ignored),
        (ignored_flags, False, _B_.opt_ignored),
        (unsupported_with_arg, True, _B_.opt_unsupported),
        (unsupported_flags, False, _B_.opt_unsupported),
        (other_target_with_arg, True, _B_.opt_not_for_target),
        (other_target_flags, False, _B_.opt_not_for_target),
    ):
        table.update({name: _Option(has_arg, handle) for name in names.split()})
    return table


_OPTIONS: Mapping[str, _Option] = MappingProxyType(_table())
_POSITIONAL = _Option(False, _B_.opt_positional)  # QEMU reads a bare argument as a disk image


def usage_text() -> str:
    return f"""{version_text()}usage: vmd [options]

vmd accepts qemu-system-x86_64's command line.  What it does with it:

Machine
  -machine [type=]NAME[,prop=value...]   (-M)   -accel NAME[,prop=value...]   -enable-kvm
  -cpu MODEL[,feature...]   -smp [cpus=]N[,maxcpus=N][,sockets=N][,dies=N][,clusters=N][,cores=N][,threads=N]
  -m [size=]SIZE[,slots=N][,maxmem=SIZE]   -numa node|cpu|dist,...   -device DRIVER[,prop=value...] or JSON
  -object TYPE,id=ID[,prop=value...] or JSON   -global DRIVER.PROP=VALUE
Run
  -S   -name [guest=]NAME[,process=NAME][,debug-threads=on|off]   -uuid UUID   -daemonize   -pidfile FILE
  -no-shutdown   -no-reboot   -action shutdown=...,reboot=...   -add-fd fd=N,set=N
  -nodefaults   -no-user-config   -nographic   -display none
Monitors (QMP only, on unix sockets)
  -qmp unix:PATH,server=on,wait=off[,mode=0660]   -qmp-pretty ...   -qmp chardev:ID
  -chardev socket,id=ID,path=PATH|fd=N,server=on[,wait=off][,mode=0660]
  -mon chardev=ID,mode=control[,pretty=on]
Serial ports
  -chardev file|null|socket|...,id=ID,...   -serial chardev:ID|file:PATH|null|stdio|none
vmd's own
  -vmd-guest KEY=VALUE,...   the guest model's policy

Accepted and ignored (listed at start-up): -rtc -boot -sandbox -msg -overcommit -audiodev -vga -vnc -k -D -d
-trace -seed and other host-side options.  Disks, networks, -gdb, HMP monitors, -readconfig, -kernel and
-incoming (no migration yet) are refused.
  -h, -help   this text        -version   the version
"""
