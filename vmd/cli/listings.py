"""The topic listings (-machine help, -cpu help, -device help, ...) in QEMU 7.2's formats.

The command line answers `help` values with an `EarlyExit`; `main()` gathers what the machine
model has (vmd.boards.listings) and renders it here, with QEMU's printf formats, so a script that
parses QEMU's listing parses vmd's.  Nothing here knows a board.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from vmd.records import dataclass

# qdev's categories, in QEMU's order (DeviceCategory); a listing prints only those it has.
DEVICE_CATEGORIES = (
    "Controller/Bridge/Hub",
    "USB",
    "Storage",
    "Network",
    "Input",
    "Display",
    "Sound",
    "Misc",
    "CPU",
    "Watchdog",
    "Uncategorized",
)


@dataclass(frozen=True, slots=True)
class MachineEntry:
    name: str
    description: str
    alias: str | None = None
    is_default: bool = False
    deprecated: bool = False


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    category: str  # one of DEVICE_CATEGORIES
    name: str
    bus: str | None = None
    alias: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class PropertyEntry:
    """One property: `default` is shown when `has_default` (QEMU prints it as JSON)."""

    name: str
    type: str
    description: str | None = None
    default: object = None
    has_default: bool = False


def machines(entries: Iterable[MachineEntry]) -> str:
    """-machine help (QEMU's machine_help_func); entries in QEMU's order."""
    lines = ["Supported machines are:"]
    for entry in entries:
        if entry.alias is not None:
            lines.append(f"{entry.alias:<20} {entry.description} (alias of {entry.name})")
        default = " (default)" if entry.is_default else ""
        deprecated = " (deprecated)" if entry.deprecated else ""
        lines.append(f"{entry.name:<20} {entry.description}{default}{deprecated}")
    return "\n".join(lines) + "\n"


def property_line(entry: PropertyEntry) -> str:
    """QEMU's object_property_help: `  name=<type>`, then ` - description (default: value)`."""
    text = f"  {entry.name}=<{entry.type}>"
    if entry.description is not None or entry.has_default:
        text = f"{text:<24} - "
    if entry.description is not None:
        text += entry.description
    if entry.has_default:
        text += f" (default: {json.dumps(entry.default, separators=(',', ':'))})"
    return text


def options(type_name: str, entries: Iterable[PropertyEntry]) -> str:
    """-machine TYPE,help, -device DRIVER,help and -object TYPE,help: the type's properties, their
    lines sorted as QEMU sorts them (the whole line, byte by byte)."""
    lines = sorted(property_line(entry) for entry in entries)
    return "\n".join([f"{type_name} options:", *lines]) + "\n"


def accelerators(names: Iterable[str]) -> str:
    return "\n".join(["Accelerators supported in QEMU binary:", *names]) + "\n"


def cpus(prefix: str, models: Iterable[tuple[str, str]], flags: Sequence[str]) -> str:
    """-cpu help: every model with its description, then the flags (x86_cpu_list); flags are
    wrapped before a line would reach 75 characters, as QEMU's listflags does."""
    lines = ["Available CPUs:", *(f"{prefix} {name:<20}  {description}" for name, description in models)]
    if flags:
        lines += ["", "Recognized CPUID flags:"]
        line = ""
        for flag in flags:
            if line and len(line) + len(flag) + 1 >= 75:  # len(line): QEMU's len, name + 1 each
                lines.append(" " + line)
                line = ""
            line += f" {flag}"
        lines += [" " + line, ""]
    return "\n".join(lines) + "\n"


def arm_cpus(names: Iterable[str]) -> str:
    """-cpu help of qemu-system-aarch64 (arm_cpu_list): a title, then two spaces and each name."""
    return "\n".join(["Available CPUs:", *(f"  {name}" for name in names)]) + "\n"


def s390x_cpus(
    models: Iterable[tuple[str, str]], sections: Iterable[tuple[str, Iterable[tuple[str, str]]]]
) -> str:
    """-cpu help of qemu-system-s390x (s390_cpu_list): no title, `s390 %-15s` and the model's
    text, then each section (the feature flags, the feature groups) after an empty line, one
    `%-20s %s` line per entry."""
    lines = [f"s390 {name:<15} {description}" for name, description in models]
    for title, entries in sections:
        lines += ["", title, *(f"{name:<20} {text}" for name, text in entries)]
    return "\n".join(lines) + "\n"


def ppc_cpus(models: Iterable[tuple[str, str]]) -> str:
    """-cpu help of qemu-system-ppc64 (ppc_cpu_list): no title, `PowerPC %-16s` and the model's
    PVR or the alias's model, nothing after."""
    return "".join(f"PowerPC {name:<16} {text}\n" for name, text in models)


def devices(entries: Iterable[DeviceEntry]) -> str:
    """-device help (qdev_device_list): by category in QEMU's order, each sorted by name ignoring
    case; a category header is preceded by an empty line unless it is the first category."""
    by_category: dict[str, list[DeviceEntry]] = {}
    for entry in entries:
        by_category.setdefault(entry.category, []).append(entry)
    out = []
    for index, category in enumerate(DEVICE_CATEGORIES):
        listed = by_category.get(category)
        if not listed:
            continue
        out.append(f"{chr(10) if index else ''}{category} devices:")
        for entry in sorted(listed, key=lambda e: e.name.lower()):
            line = f'name "{entry.name}"'
            if entry.bus is not None:
                line += f", bus {entry.bus}"
            if entry.alias is not None:
                line += f', alias "{entry.alias}"'
            if entry.description is not None:
                line += f', desc "{entry.description}"'
            out.append(line)
    return "\n".join(out) + "\n"


def objects(names: Iterable[str]) -> str:
    """-object help: the user-creatable types, sorted."""
    return "\n".join(["List of user creatable objects:", *(f"  {name}" for name in sorted(names))]) + "\n"


def plain_list(title: str | None, names: Iterable[str]) -> str:
    """-display help and -audiodev help: a title line, then one name a line."""
    return "\n".join([*([title] if title is not None else []), *names]) + "\n"
