"""Fixtures and helpers of the native vCPU engine tests."""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from vmd.firmware.asm import assemble
from vmd.vcpu import FaultInfo, GuestRam, VcpuEngine

RAM_BYTES = 1 << 20
TIMEOUT = 20.0  # generous: every wait is bounded, none should come close


@dataclass
class Recorder:
    """Thread-safe record of what the engine's callbacks saw, and on which thread."""

    io: list[tuple[int, int, int, bool, int, str, int]] = field(default_factory=list)
    serial: bytearray = field(default_factory=bytearray)
    faults: queue.Queue[tuple[int, FaultInfo, str]] = field(default_factory=queue.Queue)
    stopped: list[tuple[int, str]] = field(default_factory=list)
    in_values: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_io(self, index: int, port: int, size: int, is_write: bool, value: int) -> int | None:
        thread = threading.current_thread()
        with self.lock:
            self.io.append((index, port, size, is_write, value, thread.name, threading.get_native_id()))
            if is_write and port == 0x3F8:
                self.serial.append(value)
        return None if is_write else self.in_values.get(port)

    def on_fault(self, index: int, info: FaultInfo) -> None:
        self.faults.put((index, info, threading.current_thread().name))

    def on_stopped(self, index: int) -> None:
        with self.lock:
            self.stopped.append((index, threading.current_thread().name))


@dataclass
class Machine:
    ram: GuestRam
    engine: VcpuEngine
    rec: Recorder

    def load(self, source: str, base: int = 0x1000) -> None:
        self.ram.load(base, assemble(source, base=base).image)


@pytest.fixture
def machine() -> Iterator[Machine]:
    """Guest RAM with an engine whose entry point is 0x1000; closed (threads joined) afterwards."""
    ram = GuestRam(RAM_BYTES)
    rec = Recorder()
    engine = VcpuEngine(ram, entry=0x1000, on_io=rec.on_io, on_fault=rec.on_fault, on_stopped=rec.on_stopped)
    yield Machine(ram, engine, rec)
    engine.close_blocking(timeout=TIMEOUT)


async def eventually(
    predicate: Callable[[], bool], timeout: float = TIMEOUT, what: str = "condition"
) -> None:
    """Poll `predicate` until it holds; fail after `timeout` seconds.  Returns at the poll that saw
    it hold, without asking again: a state that holds for a moment (a vCPU's) may be gone by then."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():  # noqa: ASYNC110 - the state lives in guest RAM and C, not in an Event
                await asyncio.sleep(0.002)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {timeout} s") from None


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.002)


def task_count() -> int:
    return len(os.listdir("/proc/self/task"))


def thread_cpu_ticks(tid: int) -> int:
    """utime + stime of one thread of this process, in clock ticks."""
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
