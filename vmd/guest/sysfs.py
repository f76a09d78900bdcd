"""How Linux's sysfs shows CPUs: its CPU lists (/sys/devices/system/cpu/online and its siblings),
and the order in which the cpuN directories are listed."""

from __future__ import annotations

import bisect
from collections.abc import Iterable


class _Offsets:
    """cpus[k] - k of a sorted list of distinct CPUs, as a sequence: it never decreases, and it
    stays the same along a run of consecutive CPUs, so bisect finds where each run ends."""

    __slots__ = ("_cpus",)

    def __init__(self, cpus: list[int]) -> None:
        self._cpus = cpus

    def __len__(self) -> int:
        return len(self._cpus)

    def __getitem__(self, k: int) -> int:
        return self._cpus[k] - k


def cpu_list(cpus: Iterable[int]) -> str:
    """Linux's sysfs range syntax: 0-3,5,7-8 (empty string for none).

    Work per run of consecutive CPUs, not per CPU: the lists of a guest at cpu-max (4096) are
    polled by management tools, and are mostly a few long runs."""
    if isinstance(cpus, range) and cpus.step == 1:
        if not cpus:
            return ""
        return f"{cpus.start}" if len(cpus) == 1 else f"{cpus.start}-{cpus.stop - 1}"
    ordered = sorted(cpus)
    offsets = _Offsets(ordered)
    ranges: list[str] = []
    start, count = 0, len(ordered)
    while start < count:
        end = bisect.bisect_right(offsets, ordered[start] - start, start) - 1
        first, last = ordered[start], ordered[end]
        ranges.append(f"{first}" if first == last else f"{first}-{last}")
        start = end + 1
    return ",".join(ranges)


def cpu_list_outside(cpus: Iterable[int], count: int) -> str:
    """cpu_list of the CPUs 0..count-1 that are not in `cpus` (the offline list beside the online
    one), with work per CPU of `cpus`: a guest at cpu-max has few online and many offline."""
    ranges: list[str] = []
    first = 0  # the lowest CPU not ruled out yet
    for cpu in sorted(cpus):
        if cpu >= count:
            break
        if cpu > first:
            ranges.append(f"{first}" if first == cpu - 1 else f"{first}-{cpu - 1}")
        first = max(first, cpu + 1)
    if first < count:
        ranges.append(f"{first}" if first == count - 1 else f"{first}-{count - 1}")
    return ",".join(ranges)


_GOLDEN_RATIO_64 = 0x61C8864680B583EB
_U64 = (1 << 64) - 1
_INT_MAX = 0x7FFFFFFF


def kernfs_name_hash(name: str) -> int:
    """The hash kernfs files a directory entry under (fs/kernfs/dir.c, kernfs_name_hash, with no
    namespace, on a 64-bit kernel): readdir lists a sysfs directory in ascending hash order."""
    value = 0
    for byte in name.encode():
        value = ((value + (byte << 4) + (byte >> 4)) * 11) & _U64  # partial_name_hash
    value = ((value * _GOLDEN_RATIO_64) & _U64) >> 32  # end_name_hash: hash_long(hash, 32)
    value &= _INT_MAX
    if value < 2:  # 0, 1 and INT_MAX are kernfs's own
        value += 2
    return min(value, _INT_MAX - 1)


def sysfs_cpu_order(cpus: Iterable[int]) -> list[int]:
    """The CPUs in the order `ls -f /sys/devices/system/cpu` lists their cpuN directories (what
    qemu-ga reports, and the order libvirt walks): cpu3, cpu1, cpu2, cpu0 for four CPUs."""
    return sorted(cpus, key=lambda cpu: kernfs_name_hash(f"cpu{cpu}"))
