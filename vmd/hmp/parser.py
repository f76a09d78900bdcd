"""A command line as QEMU 7.2's monitor reads it (monitor/hmp.c): the command, its arguments, and
what the monitor prints when it cannot run the line.

The command name ends at a space or `/`; `info` takes its sub-command from the rest of the line.
Arguments follow the command's types (vmd.hmp.table).  Every text is QEMU's, including its
quirks: the unknown-command text quotes the line from its very start (leading spaces too),
"Try \"help ...\"" names the command as typed, a QemuOpts error prints nothing but that line
(QEMU reports it on its stderr, outside the monitor), a string keeps its first 1023 characters,
integers are C expressions of int64 values.  Output uses "\n"; the monitor turns each into
"\r\n" (vmd.hmp.text.monitor_output).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from vmd.cli.errors import Invalid
from vmd.cli.qemuopts import OptsSpec, is_help, parse_opts
from vmd.cli.specs import DEVICE
from vmd.hmp.table import COMMANDS, HmpCommand
from vmd.records import dataclass

log = logging.getLogger(__name__)

SPACES = " \t\n\v\f\r"  # C's isspace
_STRING_MAX = 1023  # QEMU reads a string argument into a 1024-byte buffer
_NAME_MAX = 255  # and a command name into 256 bytes
_MAX_ARGS = 16  # help's own split of its argument
_OPTS_LISTS: Mapping[str, OptsSpec] = {"device": DEVICE}  # the QemuOpts lists `O` arguments name
_U64 = (1 << 64) - 1


class HmpFailure(Exception):
    """The line did not run; `text` is what the monitor printed instead."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@dataclass(frozen=True, slots=True)
class Invocation:
    """A command ready to run: `path` names it ("stop", "info cpus"), `args` are its arguments
    by key (an `O` argument's keys are merged in, as QEMU merges its QemuOpts)."""

    command: HmpCommand
    path: str
    args: Mapping[str, Any]


def parse(line: str) -> Invocation | None:
    """The command `line` runs, None for a blank line; raises HmpFailure with the monitor's text."""
    found = _command(line, 0, COMMANDS, "")
    if found is None:
        return None
    command, path, pos = found
    try:
        args = _arguments(line, pos, command)
    except _BadArgument as error:
        typed = line[:pos].rstrip(SPACES)
        raise HmpFailure(f'{error.text}Try "help {typed}" for more information\n') from None
    return Invocation(command, path, args)


# -- the command ---------------------------------------------------------------------------------


def _skip(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] in SPACES:
        pos += 1
    return pos


def _command(
    line: str, pos: int, table: Sequence[HmpCommand], prefix: str
) -> tuple[HmpCommand, str, int] | None:
    """monitor_parse_command: the command (or sub-command) at `pos`, its path, and where its
    arguments start."""
    start = _skip(line, pos)
    if start == len(line):
        return None
    end = start
    while end < len(line) and line[end] != "/" and line[end] not in SPACES:
        end += 1
    name = line[start:end][:_NAME_MAX]
    command = next((entry for entry in table if entry.is_called(name)), None)
    if command is None:
        raise HmpFailure(f"unknown command: '{line[:end]}'\n")
    pos = _skip(line, end)
    path = prefix + command.primary
    if command.sub_table is not None and pos < len(line):
        return _command(line, pos, command.sub_table, path + " ")
    return command, path, pos


# -- the arguments -------------------------------------------------------------------------------


class _BadArgument(Exception):
    """The arguments do not parse; `text` is what the monitor printed about it (maybe nothing)."""

    def __init__(self, text: str = "") -> None:
        super().__init__(text)
        self.text = text


def _arguments(line: str, pos: int, command: HmpCommand) -> dict[str, Any]:
    """monitor_parse_arguments, for the argument types vmd's commands use."""
    args: dict[str, Any] = {}
    for spec in filter(None, command.args_type.split(",")):
        key, kind = spec.split(":")
        optional = kind.endswith("?")
        pos = _skip(line, pos)
        at_end = pos == len(line)
        if kind[0] == "s":
            if optional and at_end:
                continue
            try:
                args[key], pos = read_string(line, pos)
            except ValueError:
                raise _BadArgument(f"{command.name}: string expected\n") from None
        elif kind[0] == "S":
            if optional and at_end:
                continue
            if at_end:
                raise _BadArgument(f"{command.name}: string expected\n")
            args[key], pos = line[pos:], len(line)
        elif kind[0] == "O":
            if at_end:
                continue
            try:
                text, pos = read_string(line, pos)
            except ValueError:
                raise _BadArgument() from None
            args.update(_opts_qdict(_OPTS_LISTS[key], text))
        elif kind[0] == "i":
            value, pos = _Expression(line, pos).evaluate()
            if (value >> 32) & 0xFFFFFFFF:
                raise _BadArgument(f"'{command.name}' has failed: integer is for 32-bit values\n")
            args[key] = value
        else:
            raise ValueError(f"{command.name}: argument type {kind!r} is not one vmd parses")
    if _skip(line, pos) < len(line):
        raise _BadArgument(f"{command.name}: extraneous characters at the end of line\n")
    return args


def read_string(line: str, pos: int) -> tuple[str, int]:
    """QEMU's get_str: a word up to a space, or a double-quoted string with the escapes \\n \\r
    \\\\ \\' \\"; the string and where the line goes on.  ValueError when there is none."""
    pos = _skip(line, pos)
    if pos == len(line):
        raise ValueError("nothing")
    out: list[str] = []
    if line[pos] == '"':
        pos += 1
        while pos < len(line) and line[pos] != '"':
            char = line[pos]
            pos += 1
            if char == "\\":
                escape = line[pos] if pos < len(line) else ""
                pos += 1
                char = {"n": "\n", "r": "\r", "\\": "\\", "'": "'", '"': '"'}.get(escape, "")
                if not char:
                    raise ValueError(f"unsupported escape code: '\\{escape}'")
            out.append(char)
        if pos >= len(line):
            raise ValueError("unterminated string")
        pos += 1
    else:
        while pos < len(line) and line[pos] not in SPACES:
            out.append(line[pos])
            pos += 1
    return "".join(out[:_STRING_MAX]), pos


def _opts_qdict(spec: OptsSpec, text: str) -> dict[str, str]:
    """qemu_opts_parse_noisily then qemu_opts_to_qdict: the id first, then each key once with
    its last value.  A parse error prints nothing on the monitor."""
    try:
        opts = parse_opts(spec, text)
    except Invalid as error:
        log.info("human monitor: %s: %s", spec.name, error)
        raise _BadArgument() from None
    qdict = {} if opts.id is None else {"id": opts.id}
    qdict.update(opts.last_values())
    return qdict


class _Expression:
    """QEMU's get_expr: + - * / % & | ^ ~ and parentheses over int64, C integer constants and
    character constants.  `$register` is always unknown: vmd's vCPUs are no x86 CPUs."""

    def __init__(self, line: str, pos: int) -> None:
        self.line = line
        self.pos = _skip(line, pos)

    def evaluate(self) -> tuple[int, int]:
        return self._sum(), self.pos

    def _char(self) -> str:
        return self.line[self.pos] if self.pos < len(self.line) else ""

    def _next(self) -> None:
        if self.pos < len(self.line):
            self.pos = _skip(self.line, self.pos + 1)

    @staticmethod
    def _fail(message: str) -> _BadArgument:
        return _BadArgument(message + "\n")

    def _sum(self) -> int:
        value = self._logic()
        while (op := self._char()) in ("+", "-"):
            self._next()
            other = self._logic()
            value = _int64(value + other if op == "+" else value - other)
        return value

    def _logic(self) -> int:
        value = self._product()
        while (op := self._char()) in ("&", "|", "^"):
            self._next()
            other = self._product()
            value = value & other if op == "&" else value | other if op == "|" else value ^ other
        return value

    def _product(self) -> int:
        value = self._unary()
        while (op := self._char()) in ("*", "/", "%"):
            self._next()
            other = self._unary()
            if op == "*":
                value = _int64(value * other)
                continue
            if other == 0:
                raise self._fail("division by zero")
            quotient = abs(value) // abs(other) * (1 if (value < 0) == (other < 0) else -1)  # C truncates
            value = _int64(quotient) if op == "/" else _int64(value - other * quotient)
        return value

    def _unary(self) -> int:
        char = self._char()
        if char in ("+", "-", "~"):
            self._next()
            value = self._unary()
            return value if char == "+" else _int64(-value) if char == "-" else ~value
        if char == "(":
            self._next()
            value = self._sum()
            if self._char() != ")":
                raise self._fail("')' expected")
            self._next()
            return value
        if char == "'":
            self.pos += 1
            constant = self._char()
            if not constant:
                raise self._fail("character constant expected")
            self.pos += 1
            # A character past ASCII is several bytes in QEMU's C string: the quote is not next.
            if ord(constant) > 0x7F or self._char() != "'":
                raise self._fail("missing terminating ' character")
            self._next()
            return ord(constant)
        if char == "$":
            raise self._fail("unknown register")
        if not char:
            raise self._fail("unexpected end of expression")
        return self._number()

    def _number(self) -> int:
        """strtoull(..., 0): hexadecimal after 0x, octal after 0, else decimal."""
        line, start = self.line, self.pos
        base, pos = 10, start
        if line.startswith(("0x", "0X"), start) and start + 2 < len(line) and line[start + 2] in _DIGITS[16]:
            base, pos = 16, start + 2
        elif line.startswith("0", start):
            base = 8
        end = pos
        while end < len(line) and line[end] in _DIGITS[base]:
            end += 1
        if end == start:
            raise self._fail(f"invalid char '{line[start]}' in expression")
        value = int(line[pos:end], base)
        if value > _U64:
            raise self._fail("number too large")
        self.pos = _skip(line, end)
        return _int64(value)


_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def _int64(value: int) -> int:
    value &= _U64
    return value - (1 << 64) if value >> 63 else value


# -- help ----------------------------------------------------------------------------------------


def help_text(name: str | None) -> str:
    """`help [cmd]` (and `info` alone, which is `help info`): QEMU's help_cmd over vmd's table."""
    words: list[str] = []
    if name is not None:
        pos = _skip(name, 0)
        while pos < len(name):
            if len(words) >= _MAX_ARGS:
                return ""  # QEMU gives up without a word
            try:
                word, pos = read_string(name, pos)
            except ValueError:
                return ""
            words.append(word)
            pos = _skip(name, pos)
    return _help_dump(COMMANDS, words, 0)


def _help_dump(table: Sequence[HmpCommand], words: list[str], index: int) -> str:
    if index >= len(words):
        return "".join(_help_line(command, words[:index]) for command in table)
    for command in table:
        if command.is_called(words[index]):
            if command.sub_table is not None:
                return _help_dump(command.sub_table, words, index + 1)
            return _help_line(command, words[:index])
    return "unknown command: '" + " ".join(words[: index + 1]) + "'\n"


def _help_line(command: HmpCommand, prefix: list[str]) -> str:
    return "".join(f"{word} " for word in prefix) + f"{command.name} {command.params} -- {command.help}\n"


# -- device_add's help ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceHelp:
    """`device_add help` (driver None: every device) or `device_add DRIVER,help`."""

    driver: str | None


def device_help(args: Mapping[str, str]) -> DeviceHelp | None:
    """What qdev_device_help asks for: the driver `help` or `?`, or a key `help` or `?` (whatever
    its value) next to a driver; None when the arguments ask for a device."""
    driver = args.get("driver")
    if driver is not None and is_help(driver):
        return DeviceHelp(None)
    if driver is None or not any(is_help(key) for key in args):
        return None
    return DeviceHelp(driver)
