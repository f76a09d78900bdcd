"""The vCPU threads' own CPU cgroup, and their scheduling policy on the way to the GIL."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from tests.native.conftest import RAM_BYTES, TIMEOUT, Recorder, eventually
from vmd import vcpu_cgroup
from vmd.firmware.asm import assemble
from vmd.vcpu import GuestRam, VcpuEngine, VcpuState


def _cpu_cgroup(tid: int) -> str:
    """The thread's cgroup in the hierarchy that has the cpu controller."""
    with open(f"/proc/self/task/{tid}/cgroup") as f:
        lines = [line.split(":", 2) for line in f.read().splitlines()]
    v1 = [path for _, names, path in lines if "cpu" in names.split(",")]
    return v1[0] if v1 else next(path for _, names, path in lines if names == "")


def _can_make_one() -> bool:
    group = vcpu_cgroup.create()
    if group is None:
        return False
    assert group.remove()
    return True


SPIN = """
    spin:
        jmp spin
"""


@pytest.mark.skipif(not _can_make_one(), reason="not at the root of a writable cpu cgroup hierarchy")
async def test_vcpu_threads_and_spares_live_in_a_cgroup_of_their_own_removed_at_close() -> None:
    ram = GuestRam(RAM_BYTES)
    ram.load(0x1000, assemble(SPIN, base=0x1000).image)
    rec = Recorder()
    engine = VcpuEngine(ram, entry=0x1000, on_io=rec.on_io, on_fault=rec.on_fault, own_cgroup=True)
    try:
        loop_group = _cpu_cgroup(threading.get_native_id())
        engine.start(0)  # a new thread
        engine.keep_spare_threads(1)
        await eventually(lambda: engine.spare_threads() == 1)
        engine.start(1)  # a spare's
        await eventually(lambda: all(engine.state(i) is VcpuState.RUNNING for i in (0, 1)))
        name = f"{vcpu_cgroup.PREFIX}{os.getpid()}"
        assert [_cpu_cgroup(engine.thread_id(i)) for i in (0, 1)] == [f"/{name}"] * 2
        assert loop_group == "/"  # the loop stays where it was
    finally:
        async with asyncio.timeout(TIMEOUT):
            await engine.close()
    found = vcpu_cgroup._cpu_mount()
    assert found is not None
    assert name not in os.listdir(found[0])


def _can_leave_sched_idle() -> bool:
    import resource

    return os.geteuid() == 0 or resource.getrlimit(resource.RLIMIT_NICE)[0] >= 20


@pytest.mark.skipif(not _can_leave_sched_idle(), reason="leaving SCHED_IDLE needs CAP_SYS_NICE here")
async def test_a_vcpu_thread_leaves_sched_idle_while_it_is_in_python_and_returns_to_it() -> None:
    """Out of guest code, a vCPU thread takes the GIL: it does so at the normal policy (an idle-class
    thread holding or waiting for the GIL would keep the event loop waiting behind every spinning
    vCPU), and it is SCHED_IDLE again once it runs guest code."""
    policies: list[int] = []
    rec = Recorder()

    def on_io(index: int, port: int, size: int, is_write: bool, value: int) -> int | None:
        policies.append(os.sched_getscheduler(0))
        return rec.on_io(index, port, size, is_write, value)

    ram = GuestRam(RAM_BYTES)
    ram.load(0x1000, assemble("    outb 0x80, r0\n" + SPIN, base=0x1000).image)
    engine = VcpuEngine(ram, entry=0x1000, on_io=on_io, on_fault=rec.on_fault)
    try:
        engine.start(0)
        await eventually(lambda: len(policies) == 1 and engine.stats(0).instructions > 1)
        assert policies == [os.SCHED_OTHER]
        await eventually(lambda: os.sched_getscheduler(engine.thread_id(0)) == os.SCHED_IDLE)
    finally:
        async with asyncio.timeout(TIMEOUT):
            await engine.close()
