"""The -pidfile, written and locked as QEMU does, so a second daemon on the same file refuses to start."""

from __future__ import annotations

import contextlib
import fcntl
import os

from vmd.errors import StartupError


class PidfileError(StartupError):
    pass


class Pidfile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def write(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise PidfileError(f"cannot create PID file: Cannot open pid file: {error.strerror}") from None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            raise PidfileError(f"cannot create PID file: Cannot lock pid file: {error.strerror}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def remove(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None
