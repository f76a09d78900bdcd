"""The firmware's CPU state port: each vCPU writes its new state (online, offline) there itself.

That write is the guest's confirmation that a CPU really went online or
offline; it is handed over from the vCPU thread to the loop, where the guest
model keeps its view.
"""

from __future__ import annotations

from collections.abc import Callable

Handoff = Callable[..., None]  # runs a callback on the event loop, from any thread


class CpuStatePort:
    def __init__(self, handoff: Handoff, on_report: Callable[[int, int], None]) -> None:
        self._handoff = handoff
        self._on_report = on_report

    def read(self, cpu: int, offset: int, size: int) -> int:
        return 0

    def write(self, cpu: int, offset: int, size: int, value: int) -> None:
        self._handoff(self._on_report, cpu, value)
