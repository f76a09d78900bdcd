"""-device/-object JSON (vmd.cli.json_arg): what JSON writes, vmd reads."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.cli.common import parse, qemu_binary, qemu_first_error
from vmd.config import thaw_json


def _valid_code_point(char: str) -> bool:
    code = ord(char)
    return not (0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE)


json_text = st.text(st.characters(exclude_categories=["Cs"]).filter(_valid_code_point), max_size=20)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300)
@given(st.dictionaries(json_text, json_values, max_size=5), st.booleans())
def test_json_devices_read_what_json_writes(props: dict[str, object], ascii_only: bool) -> None:
    document = {"driver": "x", **{key: value for key, value in props.items() if key not in ("driver", "id")}}
    text = json.dumps(document, ensure_ascii=ascii_only)
    (device,) = parse("-device", text).devices
    thawed = thaw_json(device.props)
    expected = {key: value for key, value in document.items() if key != "driver"}
    assert _same_json(thawed, expected)


def _same_json(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same_json(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same_json(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right


# JSON that QEMU accepts and the old private reader of vmd.cli did not, or read otherwise.
ACCEPTED = [
    ('{"driver":"x","a":"\udcc0\udc80"}', {"a": "\x00"}),  # modified UTF-8's NUL
    ('{"driver":"x","\xe9":"\u20ac"}', {"\xe9": "\u20ac"}),
    ('{"driver":"x","a":"\\ud83d\\ude00"}', {"a": "\U0001f600"}),
    ('{"driver":"x","a":18446744073709551615,"b":18446744073709551616}', {"a": (1 << 64) - 1, "b": 2.0**64}),
]


@pytest.mark.parametrize(("text", "props"), ACCEPTED)
def test_json_qemu_accepts(text: str, props: dict[str, object]) -> None:
    (device,) = parse("-device", text).devices
    assert thaw_json(device.props) == props


@pytest.mark.qemu
@pytest.mark.parametrize(("text", "props"), ACCEPTED)
def test_qemu_accepts_the_same_json(text: str, props: dict[str, object]) -> None:
    qemu_binary()
    # QEMU reads -device JSON with the option and creates the device later: an error of the
    # -m after it shows the JSON was accepted.
    assert qemu_first_error(["-device", text, "-m", "12Q"]) == (
        "-m 12Q: Parameter 'size' expects a non-negative number below 2^64"
    )
