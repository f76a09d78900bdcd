"""The output encoder's fast paths give what the exact encoder gives."""

from __future__ import annotations

import pytest

from vmd.qmp.jsonwire import Encoded, _encode_exact, encode
from vmd.qmp.pretty import encode_pretty_line

SAMPLES = [
    {"return": [{"core-id": i, "type": "qemu64-x86_64-cpu"} for i in range(300)], "id": "x"},
    {"a": 1.5, "b": [0.1, -1.0, 1e16]},
    {"big": 18446744073709551615, "bigger": 18446744073709551616, "neg": -(2**63)},
    {"text": "Infinity and NaN 1.5e+3 0123456789012345678901 \u00e9\U0001f600"},
    {"inf": float("inf"), "nan": float("nan")},
]


@pytest.mark.parametrize("value", SAMPLES)
def test_fast_path_matches_the_exact_encoder(value: object) -> None:
    assert encode(value) == _encode_exact(value)


def test_pre_encoded_values_are_spliced_in() -> None:
    listing = [{"props": {"core-id": 1}, "vcpus-count": 1}, {"props": {}, "vcpus-count": 1}]
    spliced = {"return": Encoded(encode(listing)), "id": {"k": [1]}}
    plain = {"return": listing, "id": {"k": [1]}}
    assert encode(spliced) == encode(plain)
    assert encode_pretty_line(spliced) == encode_pretty_line(plain)
