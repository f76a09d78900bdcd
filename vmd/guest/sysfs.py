"""How Linux's sysfs shows CPUs: its CPU lists (/sys/devices/system/cpu/online and its siblings),
and the order in which the cpuN directories are listed."""

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
