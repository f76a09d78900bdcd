"""QEMU's scalar syntaxes (vmd.syntax), read directly; the command-line tests reach them through options."""

from __future__ import annotations

import pytest

from vmd.syntax import (
    BadValue,
    OutOfRange,
    id_wellformed,
    parse_bool,
    qemu_strtoi64,
    qemu_strtosz,
    qemu_strtou64,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("010", 8),
        ("0x1F", 31),
        (" \t+7", 7),
        ("-1", (1 << 64) - 1),
        ("18446744073709551615", (1 << 64) - 1),
    ],
)
def test_strtou64_reads_c_integers(text: str, value: int) -> None:
    assert qemu_strtou64(text) == value


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", BadValue),
        ("1 ", BadValue),
        ("08", BadValue),
        ("0x", BadValue),
        ("18446744073709551616", OutOfRange),
    ],
)
def test_strtou64_refuses(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        qemu_strtou64(text)


def test_strtoi64_range() -> None:
    assert qemu_strtoi64("-9223372036854775808") == -(1 << 63)
    with pytest.raises(OutOfRange):
        qemu_strtoi64("9223372036854775808")


@pytest.mark.parametrize(("text", "size"), [("1k", 1024), ("1.5K", 1536), ("0x10", 16), ("5.G", 5 << 30)])
def test_strtosz(text: str, size: int) -> None:
    assert qemu_strtosz(text) == size


def test_strtosz_default_suffix_and_refusals() -> None:
    assert qemu_strtosz("2", "m") == 2 << 20
    for text in ("1.5", "1e3", "-1", "1Q"):
        with pytest.raises(BadValue):
            qemu_strtosz(text)
    with pytest.raises(OutOfRange):
        qemu_strtosz("16E")


def test_booleans_are_qapi_bool_parse() -> None:
    assert [parse_bool(word) for word in ("on", "yes", "true", "y", "off", "no", "false", "n")] == [
        True
    ] * 4 + [False] * 4
    for word in ("ON", "1", "", "maybe"):
        with pytest.raises(BadValue):
            parse_bool(word)


def test_identifiers_are_id_wellformed() -> None:
    assert [id_wellformed(text) for text in ("a", "vcpu-1.x_y", "", "1a", "a b")] == [
        True,
        True,
        False,
        False,
        False,
    ]
