"""Parts of the machine's state that travel in sections of their own, each with a version.

A section names in the header what must match on both sides (`facts`) and its version; the
target checks both before it accepts any RAM, so a vmd that cannot read a section, or a VM
built differently (an agent channel on another chardev), refuses by name instead of failing
half-way.  The state itself goes in the STATE record, under the section's name.

A section also hears how an outgoing migration goes: `outgoing_began` when the source starts
(a part that could change what the header said holds still until the end), and
`outgoing_ended(completed)`: completed means the target took the state over and the source lets
go of it; otherwise the source goes on with it as before.
"""

from __future__ import annotations

from typing import Any, Protocol


class Section(Protocol):
    version: int

    def facts(self) -> dict[str, Any]:
        """What must be the same on the target (JSON values, compared for equality)."""

    def outgoing_began(self) -> None: ...

    def capture(self) -> Any:
        """The section's state at the switchover (every vCPU parked)."""

    def restore(self, state: Any) -> None:
        """Load the source's state (before the target's VM runs)."""

    def outgoing_ended(self, completed: bool) -> None: ...


def described(sections: dict[str, Section]) -> dict[str, Any]:
    """The header's `sections` member."""
    return {name: {"version": part.version, "facts": part.facts()} for name, part in sections.items()}


def differences(source: dict[str, Any], local: dict[str, Any]) -> list[str]:
    """What the target cannot take of the source's sections, each named."""
    found = []
    for name, theirs in source.items():
        ours = local.get(name)
        if ours is None:
            found.append(
                f"the source sends a '{name}' section (version {theirs['version']}) this vmd cannot read"
            )
            continue
        if theirs["version"] != ours["version"]:
            found.append(
                f"the source's '{name}' section is version {theirs['version']}, this vmd reads version "
                f"{ours['version']}"
            )
            continue
        for key in sorted(set(theirs["facts"]) | set(ours["facts"])):
            a, b = theirs["facts"].get(key), ours["facts"].get(key)
            if a != b:
                found.append(f"the source's {name} {key} is {_show(a)}, this VM's is {_show(b)}")
    return found


def _show(value: Any) -> str:
    return "none" if value is None else f"'{value}'" if isinstance(value, str) else str(value)
