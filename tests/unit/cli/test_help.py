"""Questions instead of a VM: -help, -version, `help` values (vmd.cli.help)."""

from __future__ import annotations

import pytest

from tests.unit.cli.common import early_exit, error_of


def test_version() -> None:
    answer = early_exit("-version")
    assert answer.topic == "version"
    assert answer.text.startswith("QEMU emulator version 7.2.0 (vmd ")


@pytest.mark.parametrize("option", ["-h", "-help", "--help"])
def test_help(option: str) -> None:
    answer = early_exit(option)
    assert answer.topic == "help"
    assert "-qmp unix:PATH" in answer.text


def test_a_bad_option_before_help_still_fails_and_one_after_it_too() -> None:
    assert error_of("-m", "x", "-help") == "-m x: Parameter 'size' expects a non-negative number below 2^64"
    assert error_of("-help", "-foo") == "-foo: invalid option"


@pytest.mark.parametrize(
    ("argv", "topic", "detail"),
    [
        (["-machine", "help"], "machine", None),
        (["-M", "?"], "machine", None),
        (["-machine", "q35,help"], "machine", "q35"),
        (["-accel", "help"], "accel", None),
        (["-accel", "thread=single"], "accel", None),
        (["-cpu", "help"], "cpu", None),
        (["-device", "help"], "device", None),
        (["-device", "virtio-net-pci,help"], "device", "virtio-net-pci"),
        (["-object", "help"], "object", None),
        (["-object", "secret,help"], "object", "secret"),
        (["-display", "help"], "display", None),
        (["-vga", "help"], "vga", None),
        (["-audiodev", "help"], "audiodev", None),
        (["-d", "help"], "log", None),
    ],
)
def test_help_topics_the_caller_renders(argv: list[str], topic: str, detail: str | None) -> None:
    answer = early_exit(*argv)
    assert (answer.topic, answer.detail, answer.text) == (topic, detail, "")


def test_option_key_help_is_rendered_here() -> None:
    answer = early_exit("-m", "1G,help")
    assert answer.topic == "options"
    assert answer.text == "memory options:\n  maxmem=<size>\n  size=<size>\n  slots=<num>\n"
    assert early_exit("-smp", "2,help").text.startswith("smp-opts options:\n  clusters=<num>\n")


def test_cpu_help_waits_for_the_whole_line() -> None:
    # QEMU answers -cpu help only after reading every option
    assert error_of("-cpu", "help", "-m", "x").startswith("-m x: ")
