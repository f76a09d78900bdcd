"""QMP input framing: an incremental JSON stream parser with QEMU 7.2's exact behaviour.

Why one module of ~900 lines: lexer, grouper, parser and the fast path that skips them for
ordinary requests share their state and must stay byte-for-byte equivalent; they are tested
as one (tests/unit/test_json_stream.py feeds the same inputs whole and byte by byte).

QEMU does not read QMP input as lines.  Its monitor pushes raw bytes through three stages,
and clients can observe each of them:

* a *lexer* cuts bytes into tokens.  A byte it cannot place becomes a "stray" token; it
  then skips input up to the next structural character or control byte (``\\t`` excepted).
  Clients rely on that to resynchronise after garbage;
* a *grouper* (QEMU's "streamer") counts brackets to decide where a top-level value ends.
  It also enforces the size, token-count and nesting limits, and after a stray token or a
  limit error it throws the partial value away and starts afresh with the next token;
* a *parser* turns each group into a value or into exactly one error.

Error texts, how many errors a bad input produces, and where the stream picks up again are
all part of what a client sees, so this module reproduces all three stages.  It does not
borrow QEMU's structure: values are built by a push parser as the tokens arrive (the first
error it meets is the one QEMU's recursive-descent parser would report), and the lexer eats
whole runs of string, digit or letter bytes with one regular-expression match each, so the
cost is linear in the input however it is split.

A fast path handles the common case, a complete ``{...}`` of ASCII at a clean point of the
stream.  Python's C JSON scanner parses it, and the result is kept only when nothing in it
can behave differently in QEMU (see `_FastScanner`).  Anything else takes the exact path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Final, TypeAlias

from vmd.records import dataclass

JsonValue: TypeAlias = dict[str, "JsonValue"] | list["JsonValue"] | str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class JsonParseError:
    """One input error, reported to the client as a GenericError with this ``desc``."""

    desc: str


JsonItem: TypeAlias = JsonValue | JsonParseError

# How input bytes quoted in an error message become text (`render_bytes` or `raw_text`).
Render: TypeAlias = Callable[[bytes], str]

PARSE_ERROR_PREFIX: Final = "JSON parse error, "
TOKEN_SIZE_EXCEEDED: Final = "JSON token size limit exceeded"
TOKEN_COUNT_EXCEEDED: Final = "JSON token count limit exceeded"
NESTING_EXCEEDED: Final = "JSON nesting depth limit exceeded"

# QEMU formats parser messages (not the prefix) into a 1024-byte buffer, so a long
# "invalid keyword '...'" is cut to 1023 bytes.  Seen live with a 2000-letter keyword.
_MESSAGE_BUFFER_LIMIT: Final = 1023

# QEMU's limits on one value (qobject/json-streamer.c): MAX_TOKEN_SIZE, MAX_TOKEN_COUNT, MAX_NESTING.
MAX_TOKEN_SIZE: Final = 64 << 20
MAX_TOKEN_COUNT: Final = 2 << 20
MAX_NESTING: Final = 1024

_INT_MIN: Final = -(1 << 63)
_INT_MAX: Final = (1 << 64) - 1  # QEMU keeps non-negative integers up to UINT64_MAX exact
_INT_MAX_DIGITS: Final = 20  # longer digit strings are out of range; skips int()'s digit limit

# ---------------------------------------------------------------------------------------------
# Tokens (lexer -> grouper)

LCURLY, RCURLY, LSQUARE, RSQUARE, COMMA, COLON, STRING, INTEGER, FLOAT, KEYWORD = range(10)

_STRUCTURAL_TEXT: Final = {LCURLY: b"{", RCURLY: b"}", LSQUARE: b"[", RSQUARE: b"]", COMMA: b",", COLON: b":"}

# ---------------------------------------------------------------------------------------------
# Lexer

# Lexer states.  START and RECOVERY are between tokens; the others are inside one.
(
    _START,
    _RECOVERY,
    _DQ_STRING,
    _DQ_ESCAPE,
    _SQ_STRING,
    _SQ_ESCAPE,
    _ZERO,
    _SIGN,
    _DIGITS,
    _MANTISSA,
    _MANTISSA_DIGITS,
    _EXP,
    _EXP_SIGN,
    _EXP_DIGITS,
    _WORD,
) = range(15)

_WHITESPACE_RUN: Final = re.compile(rb"[ \t\r\n]*")
_WHITESPACE_BYTES: Final = b" \t\r\n"
# String bodies: any byte from 0x20 to 0xFD except the closing quote and the backslash.
# Control bytes and the impossible UTF-8 bytes 0xFE/0xFF end the token as stray.
_DQ_RUN: Final = re.compile(rb'[^"\\\x00-\x1f\xfe\xff]*')
_SQ_RUN: Final = re.compile(rb"[^'\\\x00-\x1f\xfe\xff]*")
_DIGIT_RUN: Final = re.compile(rb"[0-9]*")
_WORD_RUN: Final = re.compile(rb"[a-z]*")
# After a stray token QEMU skips everything except structural characters, control bytes
# other than TAB, and 0xFE/0xFF; those are lexed afresh.
_SKIPPED_RUN: Final = re.compile(rb"[^\x00-\x08\x0a-\x1f\xfe\xff\[\]{}:,]*")


def _byte_table(default: int, entries: dict[bytes, int]) -> tuple[int, ...]:
    table = [default] * 256
    for chars, value in entries.items():
        for byte in chars:
            table[byte] = value
    return tuple(table)


_NOTHING: Final = -1
_DIGIT_BYTES: Final = b"0123456789"

# What a byte does in START: a one-byte token, or a state that begins a longer token.
# Everything else (upper case, '+', '.', '%', control bytes, non-ASCII) is stray.
_START_TOKEN: Final = _byte_table(
    _NOTHING, {b"{": LCURLY, b"}": RCURLY, b"[": LSQUARE, b"]": RSQUARE, b",": COMMA, b":": COLON}
)
_START_STATE: Final = _byte_table(
    _NOTHING,
    {
        b'"': _DQ_STRING,
        b"'": _SQ_STRING,
        b"0": _ZERO,
        b"123456789": _DIGITS,
        b"-": _SIGN,
        b"abcdefghijklmnopqrstuvwxyz": _WORD,
    },
)


@dataclass(frozen=True, slots=True)
class _ScalarRule:
    """How a number or keyword state treats the next byte.

    ``run`` swallows a run of bytes that keep the state; ``moves`` maps a byte to the next
    state (or to `_STRAY`); any other byte either ends the token as ``ends_as`` without
    being consumed (QEMU's lookahead), or, when ``ends_as`` is None, makes the token stray.
    """

    run: re.Pattern[bytes] | None
    moves: dict[int, int]
    ends_as: int | None


_STRAY: Final = -2


def _moves(entries: dict[bytes, int]) -> dict[int, int]:
    return {byte: state for chars, state in entries.items() for byte in chars}


# QEMU's number grammar, with two quirks seen live: a leading zero followed by a digit is
# stray ("01"), and a zero takes no exponent ("0e5" lexes as 0, keyword "e", 5).
_SCALAR_RULES: Final = {
    _ZERO: _ScalarRule(None, _moves({b".": _MANTISSA, _DIGIT_BYTES: _STRAY}), INTEGER),
    _SIGN: _ScalarRule(None, _moves({b"0": _ZERO, b"123456789": _DIGITS}), None),
    _DIGITS: _ScalarRule(_DIGIT_RUN, _moves({b"eE": _EXP, b".": _MANTISSA}), INTEGER),
    _MANTISSA: _ScalarRule(None, _moves({_DIGIT_BYTES: _MANTISSA_DIGITS}), None),
    _MANTISSA_DIGITS: _ScalarRule(_DIGIT_RUN, _moves({b"eE": _EXP}), FLOAT),
    _EXP: _ScalarRule(None, _moves({b"+-": _EXP_SIGN, _DIGIT_BYTES: _EXP_DIGITS}), None),
    _EXP_SIGN: _ScalarRule(None, _moves({_DIGIT_BYTES: _EXP_DIGITS}), None),
    _EXP_DIGITS: _ScalarRule(_DIGIT_RUN, {}, FLOAT),
    _WORD: _ScalarRule(_WORD_RUN, {}, KEYWORD),
}


class _TokenSink:
    """What the lexer reports to (implemented by `_Grouper`)."""

    def token(self, kind: int, text: bytes) -> None:
        raise NotImplementedError

    def stray(self, text: bytes) -> None:
        raise NotImplementedError

    def oversized(self) -> None:
        raise NotImplementedError


class _Lexer:
    """Byte-level tokenizer.  Keeps the partial token across feeds."""

    def __init__(self, sink: _TokenSink, max_token_size: int) -> None:
        self._sink = sink
        self._max_token_size = max_token_size
        self.state = _START
        self.partial = bytearray()
        handlers: dict[int, Callable[[bytes, int], int]] = {
            _START: self._between_tokens,
            _RECOVERY: self._skip_after_stray,
            _DQ_STRING: self._in_string,
            _SQ_STRING: self._in_string,
            _DQ_ESCAPE: self._in_escape,
            _SQ_ESCAPE: self._in_escape,
        }
        handlers.update(dict.fromkeys(_SCALAR_RULES, self._in_scalar))
        self._handlers = tuple(handlers[state] for state in range(len(handlers)))

    def reset(self) -> None:
        self.state = _START
        self.partial.clear()

    def step(self, data: bytes, pos: int) -> int:
        """Advance by at least one byte or one state change; return the new position."""
        return self._handlers[self.state](data, pos)

    def _between_tokens(self, data: bytes, pos: int) -> int:
        pos = _WHITESPACE_RUN.match(data, pos).end()  # type: ignore[union-attr]  # '*' always matches
        if pos == len(data):
            return pos
        byte = data[pos]
        kind = _START_TOKEN[byte]
        if kind != _NOTHING:
            self._sink.token(kind, _STRUCTURAL_TEXT[kind])
            return pos + 1
        state = _START_STATE[byte]
        if state == _NOTHING:
            self.partial.append(byte)
            self._stray()
            return pos + 1
        self.state = state
        return self._extend(data, pos, pos + 1)

    def _skip_after_stray(self, data: bytes, pos: int) -> int:
        pos = _SKIPPED_RUN.match(data, pos).end()  # type: ignore[union-attr]
        if pos < len(data):
            self.state = _START  # the byte that stopped the skip is lexed afresh
        return pos

    def _in_string(self, data: bytes, pos: int) -> int:
        double = self.state == _DQ_STRING
        pos = self._extend_run(_DQ_RUN if double else _SQ_RUN, data, pos)
        if pos == len(data) or self.state == _START:
            return pos
        byte = data[pos]
        if byte == (0x22 if double else 0x27):
            self.partial.append(byte)
            self._finish(STRING)
        elif byte == 0x5C:
            self.state = _DQ_ESCAPE if double else _SQ_ESCAPE
            return self._extend(data, pos, pos + 1)
        else:
            self.partial.append(byte)
            self._stray()
        return pos + 1

    def _in_escape(self, data: bytes, pos: int) -> int:
        # Any byte 0x20..0xFD may follow a backslash; the parser judges the escape later.
        byte = data[pos]
        if 0x20 <= byte <= 0xFD:
            self.state = _DQ_STRING if self.state == _DQ_ESCAPE else _SQ_STRING
            return self._extend(data, pos, pos + 1)
        self.partial.append(byte)
        self._stray()
        return pos + 1

    def _in_scalar(self, data: bytes, pos: int) -> int:
        rule = _SCALAR_RULES[self.state]
        if rule.run is not None:
            pos = self._extend_run(rule.run, data, pos)
            if pos == len(data) or self.state == _START:
                return pos
        byte = data[pos]
        state = rule.moves.get(byte, _NOTHING)
        if state == _NOTHING and rule.ends_as is not None:
            self._finish(rule.ends_as)
            return pos  # lookahead: this byte starts whatever comes next
        if state in (_NOTHING, _STRAY):
            self.partial.append(byte)  # the offending byte is part of the stray token
            self._stray()
            return pos + 1
        self.state = state
        return self._extend(data, pos, pos + 1)

    def end_of_input(self) -> None:
        """The input is over (QEMU's json_lexer_flush): a number or keyword in progress ends
        as a token, any other partial token is stray, and the lexer is clean again."""
        state = self.state
        if state == _RECOVERY:
            self.state = _START
        elif state in _SCALAR_RULES and (kind := _SCALAR_RULES[state].ends_as) is not None:
            self._finish(kind)
        elif state != _START:
            self._stray()
            self.state = _START

    def _extend_run(self, run: re.Pattern[bytes], data: bytes, pos: int) -> int:
        end = run.match(data, pos).end()  # type: ignore[union-attr]
        return self._extend(data, pos, end) if end > pos else pos

    def _extend(self, data: bytes, start: int, stop: int) -> int:
        """Append data[start:stop] to the partial token, unless it outgrows the size limit.

        QEMU checks after every byte and, once the partial token is longer than the limit,
        reports it as oversized and restarts in START with the *next* byte; so the rest of
        an overlong string is lexed as fresh input.
        """
        room = self._max_token_size + 1 - len(self.partial)
        if stop - start < room:
            self.partial += data[start:stop]
            return stop
        self.partial.clear()
        self.state = _START
        self._sink.oversized()
        return start + room

    def _finish(self, kind: int) -> None:
        text = bytes(self.partial)
        self.partial.clear()
        self.state = _START
        self._sink.token(kind, text)

    def _stray(self) -> None:
        text = bytes(self.partial)
        self.partial.clear()
        self.state = _RECOVERY
        self._sink.stray(text)


# ---------------------------------------------------------------------------------------------
# Strings and numbers, the way QEMU's parser reads them

# QEMU rejects Unicode noncharacters, in raw UTF-8 and in \u escapes alike.
_NONCHARACTER: Final = re.compile(
    "[\ufdd0-\ufdef"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]"
)
_HEX4: Final = re.compile(rb"[0-9A-Fa-f]{4}")
_SIMPLE_ESCAPES: Final = {
    ord('"'): '"',
    ord("'"): "'",
    ord("\\"): "\\",
    ord("/"): "/",
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
}


class _Rejected(Exception):
    """A token the parser rejects; carries QEMU's message (without the common prefix)."""


def _is_valid_codepoint(cp: int) -> bool:
    return (
        0 <= cp <= 0x10FFFF
        and not 0xD800 <= cp <= 0xDFFF
        and not (0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE)
    )


def _decode_utf8(raw: bytes) -> str:
    """Decode unescaped string bytes; QEMU accepts "modified UTF-8" minus noncharacters."""
    if raw.isascii():
        return raw.decode("ascii")
    # C0 80 is modified UTF-8's U+0000.  0xC0 is never a continuation byte, so replacing
    # the pair cannot change how any other sequence is read.
    try:
        text = raw.replace(b"\xc0\x80", b"\x00").decode("utf-8")
    except UnicodeDecodeError:
        raise _Rejected("invalid UTF-8 sequence in string") from None
    if _NONCHARACTER.search(text):
        raise _Rejected("invalid UTF-8 sequence in string")
    return text


def _hex4(body: bytes, pos: int) -> int:
    digits = body[pos : pos + 4]
    return int(digits, 16) if _HEX4.fullmatch(digits) else -1


def _decode_unicode_escape(body: bytes, slash: int, quote: bytes, render: Render) -> tuple[str, int]:
    """Decode the \\uXXXX escape (or surrogate pair) at body[slash]; return it and the next position."""
    end = slash + 6
    cp = _hex4(body, slash + 2)
    if 0xD800 <= cp <= 0xDBFF and body[end : end + 2] == b"\\u":
        low = _hex4(body, end + 2)
        if 0xDC00 <= low <= 0xDFFF:
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
            end += 6
        else:
            cp = -1
    if not _is_valid_codepoint(cp):
        # QEMU quotes the escape as it read it: 6 (or 12) bytes, which for a short escape
        # include the closing quote ("\u12"" -> \u12").
        shown = (body + quote)[slash:end]
        raise _Rejected(f"{render(shown)} is not a valid Unicode character")
    return chr(cp), end


def decode_string_token(token: bytes, render: Render | None = None) -> str:
    """The value of a complete string token (quotes included); raises `_Rejected`.

    `render` shows input bytes in an error message (`render_bytes`, as QMP shows them, by
    default).
    """
    body = token[1:-1]
    if b"\\" not in body:
        return _decode_utf8(body)
    quote = token[-1:]
    parts: list[str] = []
    pos = 0
    while (slash := body.find(b"\\", pos)) >= 0:
        parts.append(_decode_utf8(body[pos:slash]))  # left-to-right: earlier errors win
        code = body[slash + 1]  # the lexer guarantees a byte after every backslash
        simple = _SIMPLE_ESCAPES.get(code)
        if simple is not None:
            parts.append(simple)
            pos = slash + 2
        elif code == 0x75:  # 'u'
            char, pos = _decode_unicode_escape(body, slash, quote, render or render_bytes)
            parts.append(char)
        else:
            raise _Rejected("invalid escape sequence in string")
    parts.append(_decode_utf8(body[pos:]))
    return "".join(parts)


def integer_value(text: bytes) -> int | float:
    """QEMU keeps integers in [-2**63, 2**64-1] exact and turns others into doubles."""
    digits = len(text) - (text[0] == 0x2D)
    if digits <= _INT_MAX_DIGITS:
        value = int(text)
        if _INT_MIN <= value <= _INT_MAX:
            return value
    return float(text)


def _utf8_sequence(raw: bytes, pos: int) -> tuple[int, int]:
    """Read one modified-UTF-8 sequence as QEMU does; return (codepoint or -1, next position).

    Unlike Python's decoder, an invalid but well-formed sequence (overlong, surrogate,
    noncharacter, 5- and 6-byte forms) counts as one unit, and a truncated one ends before
    the first byte that is not a continuation byte.
    """
    lead = raw[pos]
    if lead < 0x80:
        return lead, pos + 1
    if lead >= 0xFE or not lead & 0x40:
        return -1, pos + 1
    length = 8 - (lead ^ 0xFF).bit_length()  # count of leading one bits, 2..6
    cp = lead & (0x7F >> length)
    end = pos + 1
    for _ in range(length - 1):
        if end >= len(raw) or raw[end] & 0xC0 != 0x80:
            return -1, end
        cp = cp << 6 | raw[end] & 0x3F
        end += 1
    shortest = (0x80, 0x800, 0x10000, 0x200000, 0x4000000)[length - 2]
    if not _is_valid_codepoint(cp) or (cp < shortest and not (cp == 0 and length == 2)):
        return -1, end
    return cp, end


def raw_text(raw: bytes) -> str:
    """Raw input bytes as they come out in a QEMU error message printed to a terminal: as they
    are, up to a NUL byte ("%s"); bytes that are not UTF-8 stay as Python keeps them in argv
    (lone surrogates: `surrogateescape`), so encoding the message gives QEMU's bytes."""
    nul = raw.find(0)
    if nul >= 0:
        raw = raw[:nul]
    return raw.decode("utf-8", "surrogateescape")


def render_bytes(raw: bytes) -> str:
    """Raw input bytes as they come out in a QEMU error message.

    QEMU formats them with "%s" (so a NUL byte ends them) and its JSON writer then shows
    every invalid sequence as one U+FFFD.
    """
    nul = raw.find(0)
    if nul >= 0:
        raw = raw[:nul]
    if raw.isascii():
        return raw.decode("ascii")
    chars = []
    pos = 0
    while pos < len(raw):
        cp, pos = _utf8_sequence(raw, pos)
        chars.append(chr(cp) if cp >= 0 else "\ufffd")
    return "".join(chars)


# ---------------------------------------------------------------------------------------------
# Parser: builds one value from the tokens of a group, as they arrive


class _Open:
    """An array or object being built, and what it expects next."""

    __slots__ = ("container", "expect", "key")

    def __init__(self, container: dict[str, JsonValue] | list[JsonValue], expect: int) -> None:
        self.container = container
        self.expect = expect
        self.key = ""


# What an open container expects next.
_FIRST_MEMBER, _MEMBER_KEY, _MEMBER_COLON, _MEMBER_VALUE, _FIRST_ELEMENT, _ELEMENT, _SEPARATOR = range(7)

_KEYWORDS: Final[dict[bytes, JsonValue]] = {b"true": True, b"false": False, b"null": None}


class _ValueBuilder:
    """Push parser reporting the first error QEMU's recursive-descent parser would report.

    QEMU parses a group only once it is complete, but its parser reads left to right with
    one token of lookahead, so the first error depends only on the tokens before it.
    """

    def __init__(self, render: Render) -> None:
        self._render = render
        self._open: list[_Open] = []
        self.error: str | None = None
        self.done = False
        self.value: JsonValue = None

    def reset(self) -> None:
        self._open.clear()
        self.error = None
        self.done = False
        self.value = None

    def token(self, kind: int, text: bytes) -> None:
        try:
            self._token(kind, text)
        except _Rejected as rejected:
            self.error = str(rejected)

    def _token(self, kind: int, text: bytes) -> None:
        if not self._open:
            self._begin_value(kind, text)
            return
        top = self._open[-1]
        expect = top.expect
        if expect == _SEPARATOR:
            self._after_item(top, kind)
        elif expect == _MEMBER_COLON:
            if kind != COLON:
                raise _Rejected("missing : in object pair")
            top.expect = _MEMBER_VALUE
        elif (expect == _FIRST_MEMBER and kind == RCURLY) or (expect == _FIRST_ELEMENT and kind == RSQUARE):
            self._close()
        else:  # a value: array element, member key (parsed as any value first) or member value
            self._begin_value(kind, text)

    def _after_item(self, top: _Open, kind: int) -> None:
        is_object = type(top.container) is dict
        if kind == COMMA:
            top.expect = _MEMBER_KEY if is_object else _ELEMENT
        elif kind == (RCURLY if is_object else RSQUARE):
            self._close()
        else:
            raise _Rejected("expected separator in dict" if is_object else "expected separator in list")

    def _begin_value(self, kind: int, text: bytes) -> None:
        if kind == STRING:
            self._deliver(decode_string_token(text, self._render))
        elif kind == LCURLY:
            self._open.append(_Open({}, _FIRST_MEMBER))
        elif kind == LSQUARE:
            self._open.append(_Open([], _FIRST_ELEMENT))
        elif kind == INTEGER:
            self._deliver(integer_value(text))
        elif kind == FLOAT:
            self._deliver(float(text))
        elif kind == KEYWORD:
            if text not in _KEYWORDS:
                raise _Rejected(f"invalid keyword '{text.decode('ascii')}'"[:_MESSAGE_BUFFER_LIMIT])
            self._deliver(_KEYWORDS[text])
        else:
            raise _Rejected("expecting value")

    def _close(self) -> None:
        self._deliver(self._open.pop().container)

    def _deliver(self, value: JsonValue) -> None:
        if not self._open:
            self.value = value
            self.done = True
            return
        top = self._open[-1]
        container = top.container
        if type(container) is list:
            container.append(value)
            top.expect = _SEPARATOR
        elif top.expect == _MEMBER_VALUE:
            assert type(container) is dict
            # QEMU checks for a duplicate only after parsing the value, so errors inside
            # the value win.
            if top.key in container:
                raise _Rejected("duplicate key")
            container[top.key] = value
            top.expect = _SEPARATOR
        elif type(value) is str:
            top.key = value
            top.expect = _MEMBER_COLON
        else:
            raise _Rejected("key is not a string in object")


# ---------------------------------------------------------------------------------------------
# Grouper: where values end, limits, and what gets reported


class _Grouper(_TokenSink):
    def __init__(
        self, max_token_size: int, max_token_count: int, max_nesting: int, render: Render = render_bytes
    ) -> None:
        self._render = render
        self._max_token_size = max_token_size
        self._max_token_count = max_token_count
        self._max_nesting = max_nesting
        self._builder = _ValueBuilder(render)
        self.out: list[JsonItem] = []
        self.tokens = 0
        self.token_bytes = 0
        self._braces = 0
        self._brackets = 0

    def reset(self) -> None:
        self.tokens = self.token_bytes = self._braces = self._brackets = 0
        self._builder.reset()

    def token(self, kind: int, text: bytes) -> None:
        if kind == LCURLY:
            self._braces += 1
        elif kind == RCURLY:
            self._braces -= 1
        elif kind == LSQUARE:
            self._brackets += 1
        elif kind == RSQUARE:
            self._brackets -= 1
        if self.token_bytes + len(text) + 1 > self._max_token_size:
            self._abandon(TOKEN_SIZE_EXCEEDED)
        elif self.tokens + 1 > self._max_token_count:
            self._abandon(TOKEN_COUNT_EXCEEDED)
        elif self._braces + self._brackets > self._max_nesting:
            self._abandon(NESTING_EXCEEDED)
        else:
            self._accept(kind, text)

    def _accept(self, kind: int, text: bytes) -> None:
        self.tokens += 1
        self.token_bytes += len(text)
        builder = self._builder
        if builder.error is None:
            builder.token(kind, text)
        # The group ends when no bracket is open, or as soon as either count goes negative
        # (a stray closer); mismatched kinds ("[}") do not end it.
        if (self._braces > 0 or self._brackets > 0) and self._braces >= 0 and self._brackets >= 0:
            return
        if builder.error is not None:
            self.out.append(JsonParseError(PARSE_ERROR_PREFIX + builder.error))
        elif builder.done:
            self.out.append(builder.value)
        else:  # unreachable with bracket counting; QEMU's parser would say this
            self.out.append(JsonParseError(PARSE_ERROR_PREFIX + "premature EOI"))
        self.reset()

    def stray(self, text: bytes) -> None:
        self._abandon(f"{PARSE_ERROR_PREFIX}stray '{self._render(text)}'")

    def oversized(self) -> None:
        self._abandon(TOKEN_SIZE_EXCEEDED)

    def end_of_input(self) -> None:
        """The input is over: a value still open is parsed as it is (QEMU's JSON_END_OF_INPUT)."""
        if not self.tokens:
            return
        error = self._builder.error
        self.out.append(
            JsonParseError(PARSE_ERROR_PREFIX + (error if error is not None else "premature EOI"))
        )
        self.reset()

    def _abandon(self, desc: str) -> None:
        """Report an error and drop the partial value; the offending token is not kept."""
        self.out.append(JsonParseError(desc))
        self.reset()


# ---------------------------------------------------------------------------------------------
# Fast path


class _NotFast(Exception):
    """Internal: the fast path declines this value."""


def _members_without_duplicates(pairs: list[tuple[str, JsonValue]]) -> dict[str, JsonValue]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _NotFast
    return members


def _reject_constant(name: str) -> JsonValue:
    raise _NotFast  # NaN, Infinity, -Infinity: not JSON to QEMU


# Integers of 19+ digits may be out of QEMU's range, and \u escapes of surrogates or of
# U+FDxx/U+FExx/U+FFxx may be invalid to QEMU.  Matches inside strings are false alarms that
# only cost a trip through the exact path.
_NEEDS_EXACT_PATH: Final = re.compile(r"[0-9]{19}|\\u(?:[dD][89a-fA-F]|[fF][dDeEfF])")
_HUGE_INT_DIGITS: Final = 19


def may_hold_huge_int(data: bytes) -> bool:
    """False when `data` has too few digits in all for any integer in it to leave QEMU's
    range (input or output): one C-speed scan instead of a pattern tried at every position."""
    return len(data) - len(data.translate(None, _DIGIT_BYTES)) >= _HUGE_INT_DIGITS


def _may_need_exact_path(data: bytes, text: str) -> bool:
    """Whether any value in this input could match `_NEEDS_EXACT_PATH`: most requests have
    neither a backslash-u nor 19 digits."""
    return "\\u" in text or may_hold_huge_int(data)


class _FastScanner:
    """Parses a complete ASCII array or object with the C JSON scanner, when that is safe.

    Safe means the exact path would produce the same value: plain ASCII (so byte and
    character offsets agree), no duplicate keys, no NaN/Infinity, nothing that
    `_NEEDS_EXACT_PATH` flags, and within the limits.  On ASCII input the C scanner accepts
    a subset of what QEMU accepts, with the same end of value and the same
    values; everything it refuses goes to the exact path.
    """

    def __init__(self, max_token_size: int, max_token_count: int, max_nesting: int) -> None:
        decoder = json.JSONDecoder(
            object_pairs_hook=_members_without_duplicates, parse_constant=_reject_constant
        )
        # scan_once (the C scanner) rather than raw_decode: one Python frame less per request.
        self._scan: Callable[[str, int], tuple[JsonValue, int]] = decoder.scan_once  # type: ignore[attr-defined]
        self._max_token_size = max_token_size
        self._max_token_count = max_token_count
        self._max_nesting = max_nesting
        # A span this short cannot break any limit: it has no more tokens, token bytes or
        # open brackets than characters.
        self._always_within_limits = min(max_token_size - 1, max_token_count, max_nesting)

    def scan(
        self, text: str, pos: int, data: bytes, ascii_data: bool, suspect: bool
    ) -> tuple[JsonValue, int] | None:
        """Parse the value at text[pos] ('{' or '['); return it and its end, or None.

        ``text`` is ``data`` decoded as Latin-1 (one character per byte), ``ascii_data``
        whether all of ``data`` is ASCII, ``suspect`` what `_may_need_exact_path` says of
        it (both computed once per feed, not once per value).
        """
        try:
            value, end = self._scan(text, pos)
        except (StopIteration, ValueError, RecursionError, _NotFast):
            return None
        if suspect and _NEEDS_EXACT_PATH.search(text, pos, end):
            return None
        if end - pos > self._always_within_limits and not self._within_limits(text, pos, end):
            return None
        if not ascii_data and not data[pos:end].isascii():
            return None
        return value, end

    def _within_limits(self, text: str, pos: int, end: int) -> bool:
        span = end - pos
        if span + 1 > self._max_token_size or span > self._max_token_count:
            return False
        return text.count("{", pos, end) + text.count("[", pos, end) <= self._max_nesting


# ---------------------------------------------------------------------------------------------


class JsonStreamParser:
    """Turns a QMP byte stream into top-level JSON values and parse errors, as QEMU 7.2 does."""

    def __init__(
        self,
        *,
        max_token_size: int = MAX_TOKEN_SIZE,
        max_token_count: int = MAX_TOKEN_COUNT,
        max_nesting: int = MAX_NESTING,
    ) -> None:
        self._grouper = _Grouper(max_token_size, max_token_count, max_nesting)
        self._lexer = _Lexer(self._grouper, max_token_size)
        self._fast = _FastScanner(max_token_size, max_token_count, max_nesting)

    def feed(self, data: bytes) -> list[JsonValue | JsonParseError]:
        """Feed raw bytes; return every top-level value completed by them, and every error, in input order."""
        out: list[JsonItem] = []
        self._grouper.out = out
        lexer = self._lexer
        grouper = self._grouper
        text: str | None = None
        ascii_data = suspect = False
        pos = 0
        size = len(data)
        while pos < size:
            if lexer.state == _START and not grouper.tokens:
                if data[pos] in _WHITESPACE_BYTES:
                    if pos + 1 == size:
                        break  # the usual line end after a request
                    pos = _WHITESPACE_RUN.match(data, pos).end()  # type: ignore[union-attr]
                    if pos == size:
                        break
                if data[pos] in b"{[":
                    if text is None:
                        text = data.decode("latin-1")  # one char per byte: offsets agree
                        ascii_data = data.isascii()
                        suspect = _may_need_exact_path(data, text)
                    fast = self._fast.scan(text, pos, data, ascii_data, suspect)
                    if fast is not None:
                        out.append(fast[0])
                        pos = fast[1]
                        continue
            pos = self._exact(data, pos, out)
        return out

    def _exact(self, data: bytes, pos: int, out: list[JsonItem]) -> int:
        """Run the lexer until it has reported something and is clean again, or input ends."""
        lexer = self._lexer
        grouper = self._grouper
        reported = len(out)
        size = len(data)
        while pos < size:
            pos = lexer.step(data, pos)
            if len(out) != reported and lexer.state == _START and not grouper.tokens:
                break
        return pos

    def reset(self) -> None:
        """Forget all buffered input (QEMU does this when a client connects)."""
        self._lexer.reset()
        self._grouper.reset()

    @property
    def at_rest(self) -> bool:
        """Between two values: nothing of an incomplete one is buffered."""
        return self._lexer.state == _START and not self._grouper.tokens

    @property
    def pending(self) -> int:
        """Bytes of token text buffered for an incomplete value (whitespace not counted)."""
        return self._grouper.token_bytes + len(self._lexer.partial)


# ---------------------------------------------------------------------------------------------
# One value from a complete text

AT_MOST_ONE_VALUE: Final = "Expecting at most one JSON value"
NO_VALUE: Final = "Expecting a JSON value"


def parse_one(data: bytes) -> JsonItem:
    """One JSON value from a whole text, as QEMU's qobject_from_json reads it (the command
    line's -device/-object JSON): the value, or the error QEMU reports for the text.

    The text goes through the same lexer, grouper and parser as QMP input, then the input
    ends (a partial value is an error: "premature EOI", a stray partial token).  The first
    thing the text yields decides: an error is the answer; a value is, unless anything but
    white space follows it ("Expecting at most one JSON value").  Bytes quoted in errors are
    rendered raw (`raw_text`): on the command line QEMU prints them as they are, where QMP's
    writer would show U+FFFD.
    """
    out: list[JsonItem] = []
    grouper = _Grouper(MAX_TOKEN_SIZE, MAX_TOKEN_COUNT, MAX_NESTING, raw_text)
    grouper.out = out
    lexer = _Lexer(grouper, MAX_TOKEN_SIZE)
    pos = 0
    while pos < len(data):
        pos = lexer.step(data, pos)
    lexer.end_of_input()
    grouper.end_of_input()
    if not out:
        return JsonParseError(NO_VALUE)
    if isinstance(out[0], JsonParseError) or len(out) == 1:
        return out[0]
    return JsonParseError(AT_MOST_ONE_VALUE)
