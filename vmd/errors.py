"""Errors that reach a QMP client, and the one family of start-up errors.

Domain code raises QmpErrors; the dispatcher is the only place that turns them into
`{"error": {"class": ..., "desc": ...}}`.  The class names are QEMU's ErrorClass
values, which clients match on, so they are part of the wire contract.

A StartupError (the command line, the machine's configuration, a socket, the pidfile, a file a
device needs) ends the start: `main()` prints `vmd: <message>` and exits 1, as QEMU does.
"""

from __future__ import annotations


class QmpError(Exception):
    """An error a command reports to its client; `error_class` is QEMU's ErrorClass."""

    error_class = "GenericError"

    def __init__(self, desc: str, *, hint: str = "") -> None:
        super().__init__(desc)
        self.desc = desc
        # QEMU's error_append_hint: more lines, each ending in "\n", that a human reads (HMP
        # prints them after the error) and QMP never shows.
        self.hint = hint


class GenericError(QmpError):
    error_class = "GenericError"


class CommandNotFound(QmpError):
    error_class = "CommandNotFound"


class DeviceNotFound(QmpError):
    error_class = "DeviceNotFound"


class DeviceNotActive(QmpError):
    error_class = "DeviceNotActive"


class KVMMissingCap(QmpError):
    error_class = "KVMMissingCap"


class StartupError(Exception):
    """Start-up failed; the message is the line(s) to print after `vmd: `."""
