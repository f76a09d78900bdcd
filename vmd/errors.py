"""Errors that reach a QMP client.

Domain code raises these; the dispatcher is the only place that turns them into
`{"error": {"class": ..., "desc": ...}}`.  The class names are QEMU's ErrorClass
values, which clients match on, so they are part of the wire contract.
"""

from __future__ import annotations


class QmpError(Exception):
    """An error a command reports to its client; `error_class` is QEMU's ErrorClass."""

    error_class = "GenericError"

    def __init__(self, desc: str) -> None:
        super().__init__(desc)
        self.desc = desc


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
