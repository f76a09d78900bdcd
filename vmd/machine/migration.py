"""Migration capabilities vmd keeps, before it migrates.

vmd does not migrate yet.  The one capability it has is `events` (whether MIGRATION status
events are sent), which management software switches on at start-up (libvirt always does);
its state is kept and reported, and no migration status ever changes to send one.  Every other
capability of QEMU's is refused by name: accepting one would promise a migration behaviour
vmd does not have.
"""

from __future__ import annotations

from collections.abc import Iterable

from vmd.errors import GenericError

SUPPORTED = ("events",)


class MigrationCapabilities:
    def __init__(self) -> None:
        self._state = dict.fromkeys(SUPPORTED, False)

    def items(self) -> list[tuple[str, bool]]:
        return list(self._state.items())

    def set(self, changes: Iterable[tuple[str, bool]]) -> None:
        """All or nothing, as QEMU applies a migrate-set-capabilities."""
        changes = list(changes)
        for name, _ in changes:
            if name not in self._state:
                raise GenericError(f"Migration capability '{name}' is not supported by vmd")
        for name, state in changes:
            self._state[name] = state
