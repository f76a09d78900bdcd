"""VcpuHost.hasten / relax: a vCPU the guest model waits on leaves SCHED_IDLE until it answered,
and a migration's normal priority (VcpuHost.normal_priority) takes over a relax meanwhile."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from tests.native.conftest import eventually
from vmd.devices.ports import PortBus
from vmd.firmware import standard as fw
from vmd.machine.vcpus import LoopHandoff, VcpuHost

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="leaving SCHED_IDLE needs CAP_SYS_NICE (or an RLIMIT_NICE of 20)"
)


@pytest.fixture
async def host() -> AsyncIterator[VcpuHost]:
    vcpus = VcpuHost(
        ram_bytes=fw.MIN_RAM_BYTES,
        max_vcpus=2,
        bus=PortBus(),
        on_fault=lambda *_: None,
        handoff=LoopHandoff(),
    )
    try:
        vcpus.plug(0, online=False)  # created paused, as a machine's vCPUs are
        yield vcpus
    finally:
        await vcpus.close()


async def test_hasten_lifts_a_sched_idle_vcpu_until_relax(host: VcpuHost) -> None:
    tid = host.thread_id(0)
    await eventually(
        lambda: os.sched_getscheduler(tid) == os.SCHED_IDLE, what="the thread entered its context"
    )
    host.hasten(0)
    assert os.sched_getscheduler(tid) == os.SCHED_OTHER
    host.hasten(0)  # again: nothing more to do
    host.relax(0)
    assert os.sched_getscheduler(tid) == os.SCHED_IDLE
    host.relax(0)  # nothing hastened: nothing changes
    assert os.sched_getscheduler(tid) == os.SCHED_IDLE


async def test_a_policy_someone_else_set_is_left_alone(host: VcpuHost) -> None:
    tid = host.thread_id(0)
    await eventually(
        lambda: os.sched_getscheduler(tid) == os.SCHED_IDLE, what="the thread entered its context"
    )
    os.sched_setscheduler(tid, os.SCHED_BATCH, os.sched_param(0))  # as chrt or <vcpusched> would
    host.hasten(0)
    host.relax(0)
    assert os.sched_getscheduler(tid) == os.SCHED_BATCH


async def test_a_relax_during_a_migration_is_left_to_the_migrations_restore(host: VcpuHost) -> None:
    tid = host.thread_id(0)
    await eventually(
        lambda: os.sched_getscheduler(tid) == os.SCHED_IDLE, what="the thread entered its context"
    )
    host.hasten(0)
    restore = host.normal_priority()  # the vCPU is of normal priority already: not lifted by it
    host.relax(0)  # its answer arrives while the migration runs
    assert os.sched_getscheduler(tid) == os.SCHED_OTHER
    restore()
    assert os.sched_getscheduler(tid) == os.SCHED_IDLE


async def test_an_ejected_vcpu_is_only_forgotten(host: VcpuHost) -> None:
    tid = host.thread_id(0)
    await eventually(
        lambda: os.sched_getscheduler(tid) == os.SCHED_IDLE, what="the thread entered its context"
    )
    host.hasten(0)
    host.relax(0, leaving=True)
    assert os.sched_getscheduler(tid) == os.SCHED_OTHER  # its thread stops next; nothing touches it
    host.relax(0)
    assert os.sched_getscheduler(tid) == os.SCHED_OTHER
