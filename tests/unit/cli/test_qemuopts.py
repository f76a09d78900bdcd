"""QemuOpts and keyval (vmd.cli.qemuopts): escapes, implied keys, merging."""

from __future__ import annotations

from hypothesis import given

from tests.unit.cli.common import argument_text, error_of, parse
from vmd.config import UnixPath


def test_double_comma_escapes_a_comma() -> None:
    config = parse(
        "-name", "a,,b,process=p,,q",
        "-chardev", "file,id=log,path=/tmp/a,,b",
        "-qmp", "unix:/tmp/q,,1,server=on,wait=off",
        "-machine", "q35,firmware=x,,y",
    )  # fmt: skip
    assert config.name == "a,b"
    assert config.process_name == "p,q"
    assert config.chardevs["log"].props == {"path": "/tmp/a,b"}
    assert config.monitors[0].endpoint == UnixPath("/tmp/q,1")
    assert config.machine_props == {"firmware": "x,y"}


def test_keyval_implied_value_ends_at_the_first_comma() -> None:
    # In -machine (keyval) ",," escapes only after "key=": "none,,x" is "none" then ",x".
    assert error_of("-machine", "none,,x") == "-machine none,,x: Invalid parameter ''"
    assert parse("-machine", "type=a,,b").machine_type == "a,b"


def test_name_options_merge() -> None:
    config = parse("-name", "demo", "-name", "process=vmd-demo,debug-threads=off")
    assert (config.name, config.process_name, config.debug_threads) == ("demo", "vmd-demo", False)


@given(argument_text)
def test_any_name_survives_comma_escaping(name: str) -> None:
    assert parse("-name", "guest=" + name.replace(",", ",,")).name == name


@given(argument_text.filter(lambda text: "=" not in text and text != ""))
def test_an_implied_first_value_survives_comma_escaping(name: str) -> None:
    assert parse("-name", name.replace(",", ",,")).name == name
