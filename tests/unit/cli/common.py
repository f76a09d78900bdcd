"""What the command-line tests share: parsing helpers and units."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import strategies as st

from tests import needs
from vmd.cli import CommandLineError, EarlyExit, parse_command_line
from vmd.config import Config
from vmd.machine.user_objects import ObjectError, check_option

MiB = 1 << 20
GiB = 1 << 30

UUID = "c7a5fdbd-cdaf-9455-926a-d65c16db1809"

# Text a command-line argument can hold (no NUL), also outside ASCII.
argument_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)


def parse_argv(argv: list[str]) -> Config:
    """What vmd's main() does: the -object checks are the machine's (vmd.machine.user_objects)."""
    return parse_command_line(argv, check_object=check_option, object_error=ObjectError)


def parse(*argv: str) -> Config:
    return parse_argv(list(argv))


def error_of(*argv: str) -> str:
    with pytest.raises(CommandLineError) as caught:
        parse_argv(list(argv))
    return caught.value.message


def early_exit(*argv: str) -> EarlyExit:
    with pytest.raises(EarlyExit) as caught:
        parse_argv(list(argv))
    return caught.value


def outcome_of(*argv: str) -> str:
    """ "ok", "early exit", or the error message."""
    try:
        parse(*argv)
    except CommandLineError as exc:
        return exc.message
    except EarlyExit:
        return "early exit"
    return "ok"


def qemu_binary(target: str = "x86_64") -> str:
    """qemu-system-<target>: missing, the test fails (it skips with VMD_ALLOW_SKIP=1)."""
    return needs.require_qemu(target)


def qemu_first_error(argv: list[str], target: str = "x86_64") -> str | None:
    """The first error line of qemu-system-<target> for `argv`, or None if it did not fail at once."""
    binary = qemu_binary(target)
    try:
        done = subprocess.run(
            [binary, "-nodefaults", "-display", "none", "-S", *argv],
            capture_output=True,
            text=True,
            errors="surrogateescape",
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return None
    prefix = f"qemu-system-{target}: "
    for line in done.stderr.splitlines():
        if line.startswith(prefix) and ": warning: " not in line:
            return line.removeprefix(prefix)
    return done.stderr
