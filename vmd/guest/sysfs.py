"""How Linux's sysfs writes CPU lists (/sys/devices/system/cpu/online and its siblings)."""

from __future__ import annotations

from collections.abc import Iterable


def cpu_list(cpus: Iterable[int]) -> str:
    """Linux's sysfs range syntax: 0-3,5,7-8 (empty string for none)."""
    ranges: list[str] = []
    ordered = sorted(cpus)
    start = prev = None
    for cpu in ordered:
        if prev is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            ranges.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = cpu
    if start is not None:
        ranges.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ",".join(ranges)
