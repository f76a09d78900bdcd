"""The output encoder's fast paths give what the exact encoder gives."""

from __future__ import annotations

import random

import pytest

from vmd.json.pretty import encode_pretty_line
from vmd.json.stream import JsonValue
from vmd.json.writer import Encoded, _encode_exact, encode

SAMPLES: list[JsonValue] = [
    {"return": [{"core-id": i, "type": "qemu64-x86_64-cpu"} for i in range(300)], "id": "x"},
    {"a": 1.5, "b": [0.1, -1.0, 1e16]},
    {"big": 18446744073709551615, "bigger": 18446744073709551616, "neg": -(2**63)},
    {"text": "Infinity and NaN 1.5e+3 0123456789012345678901 \u00e9\U0001f600"},
    {"inf": float("inf"), "nan": float("nan")},
    # Small replies, where the encoder decides from a digit count and a few substrings whether
    # the output may hold a float or an out-of-range integer.
    {"return": {"running": False, "singlestep": False, "status": "prelaunch"}, "id": "__qmp#00012"},
    {"return": 1.5},
    {"return": {"a": 1e16, "b": 1e-05, "c": -0.0}},
    {"return": {"core-id": 5e-07}},
    {"return": 1234567890123456789},
    {"return": 10**18, "id": -(2**63) - 1},
    {"return": "1.5e+3", "id": "1234567890123456789"},
    {"return": [7, 2, 0], "id": "7.2.0"},
]


def _random_values(count: int) -> list[JsonValue]:
    rng = random.Random(7)
    values: list[JsonValue] = []
    for _ in range(count):
        digits = rng.randint(1, 24)
        number = rng.choice(
            [rng.randint(-(10**digits), 10**digits), rng.random() * 10 ** rng.randint(-9, 21)]
        )
        values.append(
            {"return": {"n": number, "s": f"e-{rng.randint(0, 10**digits)}"}, "id": rng.randint(0, 999)}
        )
    return values


def test_fast_path_matches_the_exact_encoder_on_random_numbers() -> None:
    for value in _random_values(2000):
        assert encode(value) == _encode_exact(value), value


@pytest.mark.parametrize("value", SAMPLES)
def test_fast_path_matches_the_exact_encoder(value: JsonValue) -> None:
    assert encode(value) == _encode_exact(value)


def test_pre_encoded_values_are_spliced_in() -> None:
    listing: JsonValue = [{"props": {"core-id": 1}, "vcpus-count": 1}, {"props": {}, "vcpus-count": 1}]
    spliced: JsonValue = {"return": Encoded(encode(listing)), "id": {"k": [1]}}
    plain: JsonValue = {"return": listing, "id": {"k": [1]}}
    assert encode(spliced) == encode(plain)
    assert encode_pretty_line(spliced) == encode_pretty_line(plain)
