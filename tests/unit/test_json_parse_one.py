"""`parse_one`: one JSON value from a complete text, as QEMU's qobject_from_json reads it.

The command line reads -device/-object JSON with it (tests/unit/cli compares those errors
with qemu-system-x86_64); these tests pin the end-of-input rules and the rendering of bytes.
"""

from __future__ import annotations

import pytest

from vmd.json.stream import JsonParseError, JsonStreamParser, parse_one


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b'{"a":1}', {"a": 1}),
        (b' {"a":[1,2.5,"x",null,true]} \n\t', {"a": [1, 2.5, "x", None, True]}),
        (b"{'a':'b'}", {"a": "b"}),
        (b"12", 12),  # a number the input ends is complete
        (b"true", True),
        (b'"\xc0\x80"', "\x00"),  # modified UTF-8's NUL
        (b'"\\ud83d\\ude00"', "\U0001f600"),
    ],
)
def test_values(data: bytes, value: object) -> None:
    assert parse_one(data) == value


@pytest.mark.parametrize(
    ("data", "desc"),
    [
        (b"", "Expecting a JSON value"),
        (b" \n", "Expecting a JSON value"),
        (b'{"a":1} x', "Expecting at most one JSON value"),
        (b"1 2", "Expecting at most one JSON value"),
        (b'{"a":1}}', "Expecting at most one JSON value"),
        (b'@ {"a":1}', "JSON parse error, stray '@'"),  # the first thing decides
        (b'{"a":1', "JSON parse error, premature EOI"),
        (b'{"a" 1', "JSON parse error, missing : in object pair"),
        (b'{"a":"x', "JSON parse error, stray '\"x'"),
        (b'{"a":"x\\', "JSON parse error, stray '\"x\\'"),
        (b'{"a":-', "JSON parse error, stray '-'"),
        (b'{"a":1.', "JSON parse error, stray '1.'"),
        (b'{"a":1e+', "JSON parse error, stray '1e+'"),
        (b'{"a":tru', "JSON parse error, invalid keyword 'tru'"),
        (b"[" * 1025, "JSON nesting depth limit exceeded"),
    ],
)
def test_errors(data: bytes, desc: str) -> None:
    assert parse_one(data) == JsonParseError(desc)


def test_errors_quote_raw_bytes_where_qmp_shows_replacement_characters() -> None:
    assert parse_one(b'{"a":\xc3\xa9}') == JsonParseError("JSON parse error, stray '\udcc3'")
    # QEMU quotes six bytes of a bad \u escape: here they cut a euro sign (three bytes) in two.
    euro = b'"\\u12\xe2\x82\xac"'
    assert parse_one(euro) == JsonParseError(
        "JSON parse error, \\u12\udce2\udc82 is not a valid Unicode character"
    )
    # QMP is unchanged: its writer shows an invalid sequence as U+FFFD.
    assert JsonStreamParser().feed(b'{"a":\xc3\xa9}')[0] == JsonParseError("JSON parse error, stray '\ufffd'")
    assert JsonStreamParser().feed(euro) == [
        JsonParseError("JSON parse error, \\u12\ufffd is not a valid Unicode character")
    ]
