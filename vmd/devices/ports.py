"""The port I/O bus: routes a vCPU's IN/OUT exit to the device that owns the port.

Called on vCPU threads (as KVM_EXIT_IO is handled on the vCPU thread in QEMU),
so every device on it must be thread-safe.  The bus itself is read-only once the
machine is built.  Ports nobody owns behave as on a PC: reads float high (all
ones), writes vanish.
"""

from __future__ import annotations

import bisect
from typing import Protocol


class PortDevice(Protocol):
    def read(self, cpu: int, offset: int, size: int) -> int: ...

    def write(self, cpu: int, offset: int, size: int, value: int) -> None: ...


class PortBus:
    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ranges: list[tuple[int, int, PortDevice]] = []  # (first, length, device), sorted

    def map(self, first: int, length: int, device: PortDevice) -> None:
        """Give ports [first, first + length) to `device`; offsets are relative to `first`."""
        if not (first >= 0 and length > 0 and first + length <= 0x10000):
            raise ValueError(f"ports {first:#x}+{length} are outside the 64 KiB I/O space")
        at = bisect.bisect(self._starts, first)
        if at and self._starts[at - 1] + self._ranges[at - 1][1] > first:
            raise ValueError(f"port {first:#x} is already mapped")
        if at < len(self._starts) and first + length > self._starts[at]:
            raise ValueError(f"ports {first:#x}+{length} overlap port {self._starts[at]:#x}")
        self._starts.insert(at, first)
        self._ranges.insert(at, (first, length, device))

    def _find(self, port: int) -> tuple[int, PortDevice] | None:
        at = bisect.bisect(self._starts, port) - 1
        if at < 0:
            return None
        first, length, device = self._ranges[at]
        return (port - first, device) if port < first + length else None

    def io(self, cpu: int, port: int, size: int, is_write: bool, value: int) -> int | None:
        """The engine's IO handler: the value an IN reads (None: all ones), None for OUT."""
        found = self._find(port)
        if found is None:
            return None
        offset, device = found
        if is_write:
            device.write(cpu, offset, size, value)
            return None
        return device.read(cpu, offset, size)
