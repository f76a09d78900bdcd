"""The PC's serial ports (COM1-COM4), as far as a guest that only prints needs them.

What is emulated of the 16550A: writing the transmit register sends the byte to
the port's character backend at once; the line status register always reads
"transmitter empty" (0x60), so a polling guest never waits; everything else
reads 0 and ignores writes.  Bytes go out on the vCPU thread that wrote them.
"""

from __future__ import annotations

import errno
import os
import threading
import tty
from typing import Final, Protocol

# The I/O bases QEMU gives -serial 0..3 on pc and q35.
COM_BASES: Final = (0x3F8, 0x2F8, 0x3E8, 0x2E8)
REGISTERS: Final = 8
_THR: Final = 0  # transmit holding register (DLAB clear)
_LCR: Final = 3
_LSR: Final = 5
_LSR_IDLE: Final = 0x60  # THRE | TEMT
_LCR_DLAB: Final = 0x80


class ByteSink(Protocol):
    def send(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class FdSink:
    """A character backend that writes to a file descriptor it owns (file) or borrows (stdio)."""

    def __init__(self, fd: int, *, owned: bool) -> None:
        self._fd = fd
        self._owned = owned
        self._lock = threading.Lock()  # several vCPUs may print at once

    @classmethod
    def open_file(cls, path: str, *, append: bool) -> FdSink:
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
        return cls(os.open(path, flags, 0o666), owned=True)

    def send(self, data: bytes) -> None:
        with self._lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        if self._owned:
            os.close(self._fd)


class PtySink:
    """A pseudo-terminal (QEMU's `pty` backend): `path` is its terminal side, e.g. for
    `virsh console`.

    vmd keeps the terminal side open itself, so output written while nobody is attached waits in
    the terminal's buffer (a console attached later shows the boot messages); once that buffer is
    full, output is dropped rather than stopping the vCPU.  Both ends are raw: bytes pass as
    they are."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        for fd in (self._master, self._slave):
            tty.setraw(fd)
            os.set_inheritable(fd, False)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._lock:
            try:
                os.write(self._master, data)
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EIO):
                    raise

    def close(self) -> None:
        os.close(self._master)
        os.close(self._slave)


class NullSink:
    def send(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class SerialPort:
    """One 16550A seen from the guest; output goes to `sink`."""

    def __init__(self, sink: ByteSink) -> None:
        self.sink = sink
        self._lcr = 0  # only DLAB matters: with it set, offset 0 is the divisor latch, not THR

    def migration_state(self) -> dict[str, int]:
        return {"lcr": self._lcr}

    def load_migration_state(self, state: dict[str, int]) -> None:
        self._lcr = int(state["lcr"]) & 0xFF

    def read(self, cpu: int, offset: int, size: int) -> int:
        if offset == _LSR:
            return _LSR_IDLE
        if offset == _LCR:
            return self._lcr
        return 0

    def write(self, cpu: int, offset: int, size: int, value: int) -> None:
        if offset == _LCR:
            self._lcr = value & 0xFF
        elif offset == _THR and not self._lcr & _LCR_DLAB:
            self.sink.send(bytes((value & 0xFF,)))
