"""The -pidfile, written and locked as QEMU does, so a second daemon on the same file refuses to start.

The file is removed at exit only while it is still the one this daemon wrote: a pidfile somebody
replaced meanwhile (another daemon's, a file of their own) is not ours to delete."""

from __future__ import annotations

import contextlib
import fcntl
import os

from vmd.errors import StartupError


class PidfileError(StartupError):
    pass


def _same_file(fd: int, path: str) -> bool:
    try:
        on_disk = os.stat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


class Pidfile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def write(self) -> None:
        while True:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as error:
                raise PidfileError(
                    f"cannot create PID file: Cannot open pid file: {error.strerror}"
                ) from None
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                raise PidfileError(
                    f"cannot create PID file: Cannot lock pid file: {error.strerror}"
                ) from None
            # As QEMU: the daemon that held the file may have removed it between our open and our
            # lock; then the lock is on a file nobody can find, and the open starts over.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def remove(self) -> None:
        if self._fd is None:
            return
        if _same_file(self._fd, self.path):
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        os.close(self._fd)
        self._fd = None
