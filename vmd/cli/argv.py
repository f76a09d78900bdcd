"""The first pass over argv: option names and their arguments, before any value is read.

QEMU looks every option up before it parses one, so an unknown option or a missing argument
wins over any mistake in a value.  The table of a target (`vmd.cli.options`) is a parameter:
this module knows the shape of an option, not which options exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from vmd.cli.errors import CommandLineError
from vmd.records import dataclass

__all__ = ["Arg", "Option", "scan"]

B = TypeVar("B")  # what an option's handler works on (the builder)


@dataclass(frozen=True)
class Option(Generic[B]):
    has_arg: bool
    handle: Callable[[B, Arg], None]


@dataclass(frozen=True)
class Arg:
    """One option as typed: `spelled` keeps the dashes ("--m") for error locations."""

    option: Option[Any]
    spelled: str
    value: str = ""

    @property
    def location(self) -> str:
        # QEMU prefixes errors with the option and its argument as they appear in argv.
        return f"{self.spelled} {self.value}" if self.option.has_arg else self.spelled

    def error(self, message: str) -> CommandLineError:
        return CommandLineError(f"{self.location}: {message}")


def scan(argv: list[str], table: Mapping[str, Option[B]], positional: Option[B]) -> list[Arg]:
    """Split argv into options before looking at any value, as QEMU's first pass does.

    A word that does not start with "-" is handled by `positional` (QEMU: a disk image).
    """
    args: list[Arg] = []
    index = 0
    while index < len(argv):
        word = argv[index]
        index += 1
        if not word.startswith("-"):
            args.append(Arg(positional, word))
            continue
        option = table.get(word[2:] if word.startswith("--") else word[1:])
        if option is None:
            raise CommandLineError(f"{word}: invalid option")
        if not option.has_arg:
            args.append(Arg(option, word))
            continue
        if index >= len(argv):
            raise CommandLineError(f"{word}: requires an argument")
        args.append(Arg(option, word, argv[index]))
        index += 1
    return args
