"""How the command line fails or answers: `CommandLineError`, `EarlyExit`, and `Invalid`.

`CommandLineError` and `EarlyExit` leave `parse_command_line`.  `Invalid` stays inside the
package: a value parser raises it with QEMU's message, and the option loop adds the option's
location ("-m 12Q: ...") as QEMU does.  The scalar parsers of `vmd.syntax` raise `BadValue` and
`OutOfRange`; each caller turns those into the words QEMU uses for that option.
"""

from __future__ import annotations

from vmd.errors import StartupError

# `typing` is not imported at run time: `-version` and `-help` load this module, and typing is
# a fifth of what they cost.  The topics are plain strings to the running code.
TYPE_CHECKING = False

__all__ = ["CommandLineError", "EarlyExit", "HelpTopic", "Invalid"]


class CommandLineError(StartupError):
    """The command line is wrong; `message` is the one line to print after `vmd: `."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


if TYPE_CHECKING:
    from typing import Literal

    HelpTopic = Literal[
        "help",
        "version",
        "options",
        "machine",
        "accel",
        "cpu",
        "device",
        "object",
        "display",
        "vga",
        "audiodev",
        "log",
    ]
else:
    HelpTopic = str


class EarlyExit(Exception):
    """The command line asks for information instead of a VM: print it and exit 0.

    `text` is complete for "help", "version" and "options" (the keys of one option, as
    `-m 1G,help` asks).  For the other topics `text` is empty and the caller lists what
    its model has: machine types (`detail` is a machine type whose properties are wanted,
    or None), accelerators, CPU models, device types (`detail`: a driver whose properties
    are wanted), object types (`detail`: a type), display types, VGA types, audio drivers,
    log items.  `location` is the option as given, for the errors QEMU prints about a detail
    (`-device foo,help: Device 'foo' not found`).
    """

    def __init__(
        self, topic: HelpTopic, text: str = "", detail: str | None = None, location: str = ""
    ) -> None:
        super().__init__(topic)
        self.topic: HelpTopic = topic
        self.text = text
        self.detail = detail
        self.location = location


class Invalid(Exception):
    """A value breaks QEMU's rules; the message is QEMU's, without the option's location."""
