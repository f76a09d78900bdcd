"""The VM's CPU devices as QOM sees them: which vCPU index each is and where it lives in the tree."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CpuDevice:
    """A present (realized) CPU: `index` is QEMU's cpu-index, also the vCPU engine's index."""

    index: int
    qom_path: str


def boot_cpu_qom_path(index: int) -> str:
    """Where QEMU 7.2's pc/q35 boards put boot CPU `index`: unattached device[0] for the first,
    then device[2], device[3], ... (device[1] is the first CPU's kvmvapic, created in between)."""
    return f"/machine/unattached/device[{0 if index == 0 else index + 1}]"
