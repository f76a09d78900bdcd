"""What the command-line tests share: parsing helpers and units."""

from __future__ import annotations

import shutil

import pytest
from hypothesis import strategies as st

from vmd.cli import CommandLineError, EarlyExit, parse_command_line
from vmd.config import Config

MiB = 1 << 20
GiB = 1 << 30
QEMU = shutil.which("qemu-system-x86_64")

UUID = "c7a5fdbd-cdaf-9455-926a-d65c16db1809"

# Text a command-line argument can hold (no NUL), also outside ASCII.
argument_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)


def parse(*argv: str) -> Config:
    return parse_command_line(list(argv))


def error_of(*argv: str) -> str:
    with pytest.raises(CommandLineError) as caught:
        parse_command_line(list(argv))
    return caught.value.message


def early_exit(*argv: str) -> EarlyExit:
    with pytest.raises(EarlyExit) as caught:
        parse_command_line(list(argv))
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
