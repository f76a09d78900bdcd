"""File descriptors clients pass for migration: getfd's named fds and add-fd's fd sets.

QEMU keeps named fds per monitor; vmd keeps one table for the VM (libvirt passes and uses an fd
on the same monitor, so it cannot tell).  An fd: URI takes the named fd out of the table, as
QEMU's does.
"""

from __future__ import annotations

import os
from dataclasses import field

from vmd.errors import GenericError
from vmd.records import dataclass


@dataclass(slots=True)
class FdSet:
    fds: dict[int, str | None] = field(default_factory=dict)  # fd -> opaque


class FdStore:
    def __init__(self) -> None:
        self._named: dict[str, int] = {}
        self.sets: dict[int, FdSet] = {}

    def put(self, name: str, fd: int) -> None:
        if name[:1].isdigit():
            os.close(fd)
            raise GenericError("Parameter 'fdname' expects a name not starting with a digit")
        old = self._named.pop(name, None)
        if old is not None:
            os.close(old)
        self._named[name] = fd

    def take(self, name: str) -> int:
        fd = self._named.pop(name, None)
        if fd is None:
            raise GenericError(f"File descriptor named '{name}' has not been found")
        return fd

    def close(self, name: str) -> None:
        fd = self._named.pop(name, None)
        if fd is None:
            raise GenericError(f"File descriptor named '{name}' not found")
        os.close(fd)

    def add_to_set(self, fd: int, set_id: int | None, opaque: str | None) -> tuple[int, int]:
        if set_id is None:
            set_id = 0
            while set_id in self.sets:
                set_id += 1
        self.sets.setdefault(set_id, FdSet()).fds[fd] = opaque
        return set_id, fd

    def remove(self, set_id: int, fd: int | None) -> None:
        fdset = self.sets.get(set_id)
        if fdset is None or (fd is not None and fd not in fdset.fds):
            where = f"fdset-id:{set_id}" + ("" if fd is None else f", fd:{fd}")
            raise GenericError(f"File descriptor named '{where}' not found")
        for number in [fd] if fd is not None else list(fdset.fds):
            del fdset.fds[number]
            os.close(number)
        if not fdset.fds:
            del self.sets[set_id]

    def close_all(self) -> None:
        for fd in self._named.values():
            os.close(fd)
        self._named.clear()
        for fdset in self.sets.values():
            for fd in fdset.fds:
                os.close(fd)
        self.sets.clear()
