"""-device/-object/-audiodev JSON as QEMU reads it, with QEMU's error messages.

QEMU's reader is a lexer feeding a streamer that counts brackets and hands a complete
value to a parser.  Its dialect adds single-quoted strings; its errors are specific
("stray 'x'" from the lexer, "premature EOI" when the text ends inside a value, ...).
To say the same things we read the same way: lex until the first value is complete,
then parse its tokens, then refuse anything after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import NoReturn, cast

from vmd.cli.errors import Invalid
from vmd.config import JsonValue

__all__ = ["freeze_json", "json_members"]

_U64 = 1 << 64

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


def _json_error(message: str) -> Invalid:
    return Invalid(f"JSON parse error, {message}")


def _parse_qemu_json(text: str) -> object:
    tokens, end = _json_first_value_tokens(text)
    parser = _JsonParser(tokens)
    value = parser.value()
    if text[end:].strip(_JSON_SPACE):
        raise Invalid("Expecting at most one JSON value")
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
            raise Invalid("JSON nesting depth limit exceeded")
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


def freeze_json(value: object) -> JsonValue:
    if isinstance(value, dict):
        return MappingProxyType({key: freeze_json(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(freeze_json(item) for item in value)
    return cast(JsonValue, value)


def json_members(text: str) -> dict[str, object]:
    """The members of the JSON object `text` (which starts with "{")."""
    value = _parse_qemu_json(text)
    assert isinstance(value, dict)  # the text starts with "{"
    return cast(dict[str, object], value)
