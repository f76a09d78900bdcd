"""The parser's fast path must never change what a client sees.

`JsonStreamParser` hands complete ASCII objects to the C JSON scanner when nothing in the
input could behave differently in QEMU, and otherwise lexes them itself (the exact path,
which the differential suite checks against QEMU).  Every input here is parsed twice, once
as it comes and once with the fast path switched off, and both must give the same values
and errors in the same order, whole or fed a byte at a time.
"""

from __future__ import annotations

import json
import math

import pytest

from vmd.json.stream import JsonItem, JsonStreamParser

INPUTS = [
    b'{"execute":"query-status"}\n',
    b'{"execute": "query-status", "id": "__qmp#00012"}',
    b'{"execute":"query-status"}\r\n{"execute":"query-name","id":1}\n',
    b'  \t\r\n{"execute":"stop"}  \n\n',
    b'{"execute":"device_add","arguments":{"driver":"qemu64-x86_64-cpu","socket-id":0,"id":"c1"}}',
    # Integers at and past the edges of QEMU's range (int64 / uint64, then a double).
    b'{"execute":"x","id":9223372036854775807}',
    b'{"execute":"x","id":-9223372036854775808}',
    b'{"execute":"x","id":18446744073709551615}',
    b'{"execute":"x","id":18446744073709551616}',
    b'{"execute":"x","id":-9223372036854775809}',
    b'{"execute":"x","id":123456789012345678901234567890}',
    b'{"execute":"x","id":"1234567890123456789"}',  # 19 digits in a string: a false alarm
    b'{"execute":"x","id":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}',
    b'{"execute":"x","id":1.5e300}',
    b'{"execute":"x","id":1e999}',
    # Escapes: plain, surrogate pairs, lone surrogates, noncharacters.
    b'{"execute":"x","id":"\\u00e9\\u0041"}',
    b'{"execute":"x","id":"\\ud83d\\ude00"}',
    b'{"execute":"x","id":"\\ud800"}',
    b'{"execute":"x","id":"\\udc00x"}',
    b'{"execute":"x","id":"\\ufdd0\\uffff\\ufffe"}',
    b'{"execute":"x","id":"\\\\u"}',
    # What the C scanner refuses or reads differently.
    b'{"execute":"x","execute":"y"}',
    b'{"execute":"x","id":NaN}',
    b'{"execute":"x","id":Infinity}',
    b"{'execute':'query-status'}",
    b'{"execute":"x","id":"caf\xc3\xa9"}',
    b'{"execute":"x",}',
    b'{"execute" "x"}',
    b"[1,2,3]",
    b"[]",
    b"{}",
    b'}{"execute":"query-status"}',
    b'\x00{"execute":"query-status"}',
    b'{"execute":"query-status"',
]


def _exact_only() -> JsonStreamParser:
    parser = JsonStreamParser()
    parser._fast.scan = lambda *args: None  # type: ignore[method-assign]  # the fast path, switched off
    return parser


def _same(items: list[JsonItem]) -> list[str]:
    # NaN never equals itself and -0.0 equals 0.0: compare exact text forms instead.
    def form(item: JsonItem) -> str:
        if isinstance(item, float) and math.isnan(item):
            return "nan"
        return repr(item) if not isinstance(item, dict | list) else json.dumps(item, default=repr)

    return [form(item) for item in items]


@pytest.mark.parametrize("data", INPUTS, ids=[repr(d)[:60] for d in INPUTS])
def test_fast_path_agrees_with_exact_path(data: bytes) -> None:
    expected = _exact_only().feed(data)
    assert _same(JsonStreamParser().feed(data)) == _same(expected)

    one_by_one = JsonStreamParser()
    got: list[JsonItem] = []
    for i in range(len(data)):
        got += one_by_one.feed(data[i : i + 1])
    assert _same(got) == _same(expected)


def test_all_inputs_in_one_feed() -> None:
    """Values of different kinds side by side: each is judged on its own."""
    data = b"\n".join(INPUTS[:-1]) + b"\n"
    assert _same(JsonStreamParser().feed(data)) == _same(_exact_only().feed(data))


def test_the_usual_request_takes_the_fast_path() -> None:
    """The point of the fast path: a plain request never reaches the lexer."""
    parser = JsonStreamParser()
    lexed: list[int] = []
    original = parser._lexer.step

    def counting_step(data: bytes, pos: int) -> int:
        lexed.append(pos)
        return original(data, pos)

    parser._lexer.step = counting_step  # type: ignore[method-assign]  # the lexer, watched
    assert parser.feed(b'{"execute":"query-status","id":"__qmp#00012"}\n') == [
        {"execute": "query-status", "id": "__qmp#00012"}
    ]
    assert lexed == []
